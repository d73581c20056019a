"""River's matrix-factorisation SGD steps as compiled loops over matrix rows (numba).

A step is ~32 multiply-adds; in Python (River's `learn_one`) it costs ~16 us, in NumPy array operations over a
chunk ~4 us an event of call overhead, compiled ~0.1 us. The arithmetic is River's, term for term (see
`ChunkLearner`; tests/models/test_chunk_sgd.py compares the results with `learn_one`).

`cache=True` keeps the machine code next to this file (or in NUMBA_CACHE_DIR): the first process compiles
(~1.5 s), later ones load it. `warm_up()` does either before a worker takes traffic.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: `loss` codes the kernels understand
LOG, SQUARED = 0, 1


@njit(cache=True, nogil=True)
def _gradient(loss: int, y: float, pred: float) -> float:
    if loss == LOG:  # River's Log loss (array form): targets {0, 1} as {-1, +1}
        sign = -1.0 if y == 0.0 else 1.0
        return -sign / (np.exp(pred * sign) + 1.0)
    return 2.0 * (pred - y)  # Squared


@njit(cache=True, nogil=True)
def learn_in_order(MU: np.ndarray, MV: np.ndarray, BU: np.ndarray, BI: np.ndarray, users: np.ndarray,
                   items: np.ndarray, ys: np.ndarray, means: np.ndarray, lr_u: float, lr_i: float, lr_bu: float,
                   lr_bi: float, l2: float, l2b: float, clip: float, loss: int, biased: bool) -> None:
    """`learn_one(users[j], items[j], ys[j])` for every j in order, on rows of the factor matrices (MU, MV) and
    bias arrays (BU, BI). `means[j]` is the global mean event j sees (BiasedMF; ignored for FunkMF)."""
    f = MU.shape[1]
    for j in range(users.shape[0]):
        a, b = users[j], items[j]
        dot = 0.0
        for k in range(f):
            dot += MU[a, k] * MV[b, k]
        ba, bb = BU[a], BI[b]
        pred = (means[j] + ba + bb + dot) if biased else dot  # River's order of additions
        g = min(max(_gradient(loss, ys[j], pred), -clip), clip)
        for k in range(f):
            u, v = MU[a, k], MV[b, k]
            MU[a, k] = u - lr_u * (g * v + l2 * u)
            MV[b, k] = v - lr_i * (g * u + l2 * v)
        if biased:
            BU[a] = ba - lr_bu * (g + l2b * ba)
            BI[b] = bb - lr_bi * (g + l2b * bb)


@njit(cache=True, nogil=True)
def learn_summed_negatives(MU: np.ndarray, MV: np.ndarray, BU: np.ndarray, BI: np.ndarray, users: np.ndarray,
                           items: np.ndarray, mean: float, lr_u: float, lr_i: float, lr_bu: float, lr_bi: float,
                           l2: float, l2b: float, clip: float, loss: int, biased: bool) -> None:
    """One step towards 0 for every (users[j], items[j]), every gradient taken from the state before the step:
    a row drawn twice gets the sum of its updates."""
    n, f = users.shape[0], MU.shape[1]
    old_u, old_v = np.empty((n, f)), np.empty((n, f))
    old_bu, old_bi, g = np.empty(n), np.empty(n), np.empty(n)
    for j in range(n):
        a, b = users[j], items[j]
        dot = 0.0
        for k in range(f):
            old_u[j, k], old_v[j, k] = MU[a, k], MV[b, k]
            dot += MU[a, k] * MV[b, k]
        old_bu[j], old_bi[j] = BU[a], BI[b]
        pred = (mean + BU[a] + BI[b] + dot) if biased else dot
        g[j] = min(max(_gradient(loss, 0.0, pred), -clip), clip)
    for j in range(n):
        a, b, gj = users[j], items[j], g[j]
        for k in range(f):
            MU[a, k] -= lr_u * (gj * old_v[j, k] + l2 * old_u[j, k])
            MV[b, k] -= lr_i * (gj * old_u[j, k] + l2 * old_v[j, k])
        if biased:
            BU[a] -= lr_bu * (gj + l2b * old_bu[j])
            BI[b] -= lr_bi * (gj + l2b * old_bi[j])


def warm_up() -> None:
    """Compile (or load the cached machine code of) both kernels now, not on a worker's first batch."""
    m, b, rows, zeros = np.zeros((1, 1)), np.zeros(1), np.zeros(1, dtype=np.int64), np.zeros(1)
    for biased in (False, True):
        learn_in_order(m.copy(), m.copy(), b.copy(), b.copy(), rows, rows, zeros, zeros, 0.0, 0.0, 0.0, 0.0, 0.0,
                       0.0, 1.0, LOG, biased)
        learn_summed_negatives(m.copy(), m.copy(), b.copy(), b.copy(), rows, rows, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                               0.0, 1.0, LOG, biased)
