"""Simple reference models the served list is judged against, on the same probes (bench/served.py).

A reference is something a reader could deploy instead: every one serves popular items to a user it cannot judge
yet (no history, or before its first fit), as recstream does, and breaks ties by popularity. They follow the
independent tool `../shared/tools/reference_stream.py` (kept outside the project) model for model, so their
figures can be checked against it on any stream (tests/models/evaluation/test_references.py does, when the tool
is there):

- `popularity`: all-time counts of positives.
- `ease_l{λ}` and `ease_recent_l{λ}`: EASE (Steck 2019), B = I - P / diag(P) with P = (XᵀX + λI)⁻¹ over the
  positives so far, refit every `refit_every` positives; the user is their distinct positives (binary), or their
  last 10 weighted 0.8^age (recent).
- `sr`: sequential rules: i -> j counts for j within 3 steps after i in a user's positives (1/step), scored from
  the user's last 3 items (0.8^age).
- `sknn`: session k-NN (Jannach & Ludewig 2017, the strongest simple session baseline in Ludewig & Jannach's
  comparisons): the user's last `sknn_window` positives as a session; the `sknn_k` most similar (cosine) among
  the recent histories that share an item with it (at most `sknn_sample` per item); items scored by the summed
  similarity of the neighbours that hold them.
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np

K = 10


class References:
    """Every reference, learned from the same stream and asked on the same probes."""

    def __init__(self, lambdas: tuple[float, ...] = (100.0, 300.0, 1000.0), refit_every: int = 2_000,
                 sknn_k: int = 100, sknn_sample: int = 500, sknn_window: int = 50) -> None:
        self.lambdas, self.refit_every = lambdas, refit_every
        self.sknn_k, self.sknn_sample, self.sknn_window = sknn_k, sknn_sample, sknn_window
        self.col: dict[str, int] = {}
        self.ids: list[str] = []
        self.pop = np.zeros(1024)
        self.gram = np.zeros((1024, 1024), dtype=np.float32)  # XᵀX over distinct positives
        self.hist: dict[str, list[int]] = defaultdict(list)  # distinct positives, most recent last
        self.trans: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self.user_no: dict[str, int] = {}
        self.users: list[str] = []
        self.holders: dict[int, deque[int]] = {}  # item -> the users (numbers) who most recently held it
        self.b: dict[float, np.ndarray] = {}
        self._since_fit = 0
        self.fits = 0

    @property
    def names(self) -> list[str]:
        return ["popularity", "sr", "sknn", *(f"{kind}_l{lam:g}" for kind in ("ease", "ease_recent")
                                               for lam in self.lambdas)]

    def _column(self, item: str) -> int:
        c = self.col.get(item)
        if c is None:
            c = self.col[item] = len(self.ids)
            self.ids.append(item)
            if c >= len(self.pop):
                size = len(self.pop) * 3 // 2
                self.pop = np.concatenate([self.pop, np.zeros(size - len(self.pop))])
                gram = np.zeros((size, size), dtype=np.float32)
                gram[:c, :c] = self.gram[:c, :c]
                self.gram = gram
        return c

    def learn(self, user: str, item: str) -> None:
        """One positive event (in stream order; the tool learns a chunk's events after probing them)."""
        j, h = self._column(item), self.hist[user]
        for step, i in enumerate(reversed(h[-3:]), 1):
            self.trans[i][j] += 1.0 / step
        if j in h:
            h.remove(j)
        else:
            for i in h:
                self.gram[i, j] += 1.0
                self.gram[j, i] += 1.0
            self.gram[j, j] += 1.0
        h.append(j)
        u = self.user_no.setdefault(user, len(self.users))
        if u == len(self.users):
            self.users.append(user)
        holders = self.holders.setdefault(j, deque(maxlen=self.sknn_sample))
        if u in holders:
            holders.remove(u)
        holders.append(u)
        self.pop[j] += 1.0
        self._since_fit += 1
        if self._since_fit >= self.refit_every:
            self.fit()

    def fit(self) -> None:
        self._since_fit = 0
        n = len(self.ids)
        for lam in self.lambdas:
            p = _spd_inverse(self.gram[:n, :n] + np.float32(lam) * np.eye(n, dtype=np.float32))
            b = -p / np.diag(p)
            np.fill_diagonal(b, 0.0)
            self.b[lam] = b
        self.fits += 1

    def top(self, user: str, exclude: set[str]) -> dict[str, list[str]]:
        """Each reference's top-10 for `user` now, never an item of `exclude` (their every event)."""
        n = len(self.ids)
        pop = self.pop[:n]
        masked = [self.col[i] for i in exclude if i in self.col]
        h = self.hist.get(user) or []
        tiebreak = 1e-9 * pop

        def top10(scores: np.ndarray) -> list[str]:
            s = scores.copy()
            s[masked] = -np.inf
            kk = min(K, n)
            best = np.argpartition(-s, kk - 1)[:kk]
            best = best[np.argsort(-s[best], kind="stable")]
            return [self.ids[c] for c in best if np.isfinite(s[c])]

        popular = top10(pop)
        out = {name: popular for name in self.names}
        if not h:
            return out
        fitted = [c for c in h if c < len(next(iter(self.b.values())))] if self.b else []
        for lam, b in self.b.items():
            m = len(b)
            if not fitted:
                continue
            binary = np.zeros(n)
            binary[:m] = b[fitted].sum(axis=0)
            out[f"ease_l{lam:g}"] = top10(binary + tiebreak)
            recent = [(0.8 ** age, c) for age, c in enumerate(h[-10:][::-1]) if c < m]  # newer: no row yet
            weighted = np.zeros(n)
            if recent:
                weighted[:m] = np.array([w for w, _ in recent]) @ b[[c for _, c in recent]]
            out[f"ease_recent_l{lam:g}"] = top10(weighted + tiebreak)
        sr = np.zeros(n)
        for age, i in enumerate(reversed(h[-3:])):
            for j, c in self.trans[i].items():
                sr[j] += (0.8 ** age) * c
        out["sr"] = top10(sr + tiebreak)
        out["sknn"] = top10(self._sknn(user, h[-self.sknn_window:], n) + tiebreak)
        return out

    def _sknn(self, user: str, session: list[int], n: int) -> np.ndarray:
        scores = np.zeros(n)
        held = [np.fromiter(self.holders[i], dtype=np.int64) for i in session if i in self.holders]
        if not held:
            return scores
        overlap = np.bincount(np.concatenate(held), minlength=len(self.users)).astype(np.float64)
        overlap[self.user_no[user]] = 0.0
        others = np.flatnonzero(overlap)
        if not len(others):
            return scores
        sizes = np.array([min(len(self.hist[self.users[o]]), self.sknn_window) for o in others])
        sims = overlap[others] / np.sqrt(len(session) * sizes)
        for o in np.argsort(-sims, kind="stable")[:self.sknn_k]:
            scores[self.hist[self.users[others[o]]][-self.sknn_window:]] += sims[o]
        return scores


def _spd_inverse(a: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive-definite matrix (Cholesky: a third of a general inverse's work)."""
    from scipy.linalg import lapack

    factor, info = lapack.spotrf(a, lower=True)
    if info != 0:
        return np.linalg.inv(a)
    inv, info = lapack.spotri(factor, lower=True)
    if info != 0:
        return np.linalg.inv(a)
    return np.tril(inv) + np.tril(inv, -1).T
