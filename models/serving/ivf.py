"""An inverted-file (IVF) index for maximum inner product: k-means cells over item vectors, each cell a list of
item rows. A query probes the cells whose centroids score highest and returns their members as candidates.

The index holds only the cell of each row (an order and offsets, 8 bytes an item), not the vectors: the caller
scores the candidates exactly with its live factors, so items that learned since the build are scored as they
are now, and only their cell can be stale. Cells are found for the inner product by the usual reduction to
nearest neighbours (Bachrach et al. 2014): each vector x gets the extra coordinate sqrt(M² - |x|²), M the
largest norm, so all have norm M and the nearest centroid (L2) is the one of largest inner product.
"""

from __future__ import annotations

import numpy as np

#: rows assigned to cells per matrix product (bounds the distance block at this many × cells floats)
_BLOCK = 32_768


def _augment(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Rows of `x` (float32) with the norm-equalising coordinate appended, and their common norm."""
    sq = np.einsum("ij,ij->i", x, x)
    top = float(sq.max(initial=0.0))
    extra = np.sqrt(np.maximum(top - sq, 0.0))
    return np.hstack([x, extra[:, None]]).astype(np.float32, copy=False), float(np.sqrt(top))


def _nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each row's nearest centroid (L2), in blocks."""
    half_sq = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), _BLOCK):
        block = x[start:start + _BLOCK]
        out[start:start + len(block)] = np.argmax(block @ centroids.T - half_sq, axis=1)
    return out


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 8) -> np.ndarray:
    """`k` centroids of the rows of `x` (Lloyd's iterations from k distinct rows; an empty cell is reseeded
    at a random row)."""
    centroids = x[rng.choice(len(x), size=k, replace=False)].copy()
    for _ in range(iterations):
        cell = _nearest(x, centroids)
        counts = np.bincount(cell, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, cell, x)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
        centroids[empty] = x[rng.choice(len(x), size=int(empty.sum()))]
    return centroids


class InvertedLists:
    """Item rows grouped by cell. Build with `build`; `probe` gives the rows of a query's best cells."""

    def __init__(self, centroids: np.ndarray, cell: np.ndarray, norm: float, probe_l2: bool = True) -> None:
        # A query q probes as [q, 0] scaled to the rows' common norm would: by largest
        # (norm/|q|) q.c - |c|²/2 over the centroids c (the extra coordinate of a query is 0)
        self.centroids = np.ascontiguousarray(centroids[:, :-1])
        self.half_sq = 0.5 * np.einsum("ij,ij->i", centroids, centroids) if probe_l2 else np.zeros(len(centroids))
        self.norm = norm
        self.order = np.argsort(cell, kind="stable").astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=len(centroids)))])

    @property
    def n_rows(self) -> int:
        return len(self.order)

    @classmethod
    def build(cls, vectors: np.ndarray, n_cells: int, rng: np.random.Generator,
              sample_per_cell: int = 64) -> InvertedLists:
        """Cells over the rows of `vectors` (k-means on a sample of `sample_per_cell` rows a cell)."""
        x, norm = _augment(np.asarray(vectors, dtype=np.float32))
        n_cells = max(1, min(n_cells, len(x)))
        sample = x if len(x) <= n_cells * sample_per_cell else x[rng.choice(len(x), n_cells * sample_per_cell,
                                                                               replace=False)]
        centroids = kmeans(sample, n_cells, rng)
        return cls(centroids, _nearest(x, centroids), norm)

    def probe(self, query: np.ndarray, n_probe: int) -> np.ndarray:
        """The rows of the `n_probe` cells whose centroids have the largest inner product with `query`."""
        q = np.asarray(query, dtype=np.float32)
        scale = self.norm / max(float(np.linalg.norm(q)), 1e-12)
        scores = scale * (self.centroids @ q) - self.half_sq
        n_probe = min(n_probe, len(scores))
        best = np.argpartition(-scores, n_probe - 1)[:n_probe] if n_probe < len(scores) else np.arange(len(scores))
        o = self.offsets
        return np.concatenate([self.order[o[c]:o[c + 1]] for c in best])
