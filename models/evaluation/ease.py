"""EASE (Steck 2019), the reference the served list is judged against: closed-form item-item weights from the
positives so far, refit every `refit_every` positives, one model per ridge strength in `lambdas` (the report
takes the best). A user is their last `window` positive items weighted `decay ** age`.

    B = I - P / diag(P),   P = (XᵀX + λI)⁻¹,   diag(B) = 0,   score(u) = Σ_a decay^age(a) · B[a, :]
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy import sparse


class Ease:
    def __init__(self, lambdas: tuple[float, ...] = (100.0, 300.0, 1000.0), refit_every: int = 2_000,
                 window: int = 10, decay: float = 0.8) -> None:
        self.lambdas, self.refit_every, self.window, self.decay = lambdas, refit_every, window, decay
        self.col: dict[str, int] = {}  # item id -> column, for items with a positive so far
        self._pairs: set[tuple[int, int]] = set()
        self._user_row: dict[str, int] = {}
        self.recent: dict[str, deque[str]] = {}
        self.weights: dict[float, np.ndarray] = {}  # λ -> B over `fitted` items
        self.fitted: list[str] = []
        self._since_fit = 0
        self.fits = 0

    def learn(self, user: str, item: str) -> None:
        """One positive event (in stream order)."""
        c = self.col.setdefault(item, len(self.col))
        r = self._user_row.setdefault(user, len(self._user_row))
        self._pairs.add((r, c))
        self.recent.setdefault(user, deque(maxlen=self.window)).append(item)
        self._since_fit += 1
        if self._since_fit >= self.refit_every:
            self.fit()

    def fit(self) -> None:
        self._since_fit = 0
        if not self._pairs:
            return
        rows, cols = np.array(list(self._pairs)).T
        n = len(self.col)
        x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(self._user_row), n))
        gram = (x.T @ x).toarray().astype(np.float32)
        diag = np.arange(n)
        for lam in self.lambdas:
            g = gram.copy()
            g[diag, diag] += lam
            p = np.linalg.inv(g)
            b = p / (-np.diag(p))
            b[diag, diag] = 0.0
            self.weights[lam] = b
        self.fitted = sorted(self.col, key=self.col.__getitem__)
        self.fits += 1

    def top(self, user: str, k: int, exclude: set[str]) -> dict[float, list[str]]:
        """Per λ, the user's top-`k` items (ids) outside `exclude`; empty before the first fit or for a user
        without positives among the fitted items."""
        n = len(self.fitted)
        history = [self.col[i] for i in self.recent.get(user, ()) if self.col.get(i, n) < n]
        if not history or not self.weights:
            return {lam: [] for lam in self.lambdas}
        ages = np.arange(len(history) - 1, -1, -1, dtype=np.float32)
        w = (self.decay ** ages).astype(np.float32)
        masked = [self.col[i] for i in exclude if self.col.get(i, n) < n]
        out = {}
        for lam, b in self.weights.items():
            scores = w @ b[history]
            scores[masked] = -np.inf
            kk = min(k, n)
            top = np.argpartition(-scores, kk - 1)[:kk]
            top = top[np.argsort(-scores[top], kind="stable")]
            out[lam] = [self.fitted[c] for c in top if np.isfinite(scores[c])]
        return out
