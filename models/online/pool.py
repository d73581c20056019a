"""Compiled loops (numba) for per-user lists of item rows kept in one pooled int32 array (seen.py).

A user's list is a block of the pool whose size is one of a few classes (4, 8, 16, ... up to the cap); a list
that outgrows its block moves to a block of the next class and the old block joins that class's free list
(linked through the blocks' first slot). Blocks never shrink: a user's list only grows to the cap.
Imported where first needed, like kernels.py (`import numba` costs ~0.5 s).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: slots of `state`: the pool's next unused slot, users with at least one event; then one free-list head per class
USED, USERS, FREE = 0, 1, 2


@njit(cache=True, nogil=True)
def _find(pool: np.ndarray, s: int, n: int, row: int) -> int:
    for j in range(n):
        if pool[s + j] == row:
            return j
    return -1


@njit(cache=True, nogil=True)
def _allocate(pool: np.ndarray, state: np.ndarray, sizes: np.ndarray, k: int) -> int:
    """A free block of class `k` (its offset), or -1 when the pool has no room left for one."""
    head = state[FREE + k]
    if head >= 0:
        state[FREE + k] = pool[head]
        return head
    at = state[USED]
    if at + sizes[k] > pool.shape[0]:
        return -1
    state[USED] = at + sizes[k]
    return at


@njit(cache=True, nogil=True)
def _append(start: np.ndarray, length: np.ndarray, klass: np.ndarray, pool: np.ndarray, state: np.ndarray,
            sizes: np.ndarray, a: int, row: int) -> bool:
    """Put `row` last in user `a`'s list (moved there if present; the oldest dropped at the cap). False when the
    pool must grow first (nothing changed)."""
    s, n, k = start[a], length[a], klass[a]
    at = _find(pool, s, n, row) if k >= 0 else -1
    if at >= 0:
        for j in range(at, n - 1):
            pool[s + j] = pool[s + j + 1]
        pool[s + n - 1] = row
        return True
    if k >= 0 and n < sizes[k]:
        pool[s + n] = row
        length[a] = n + 1
        return True
    if k == sizes.shape[0] - 1:  # full at the cap: forget the oldest
        for j in range(n - 1):
            pool[s + j] = pool[s + j + 1]
        pool[s + n - 1] = row
        return True
    new = _allocate(pool, state, sizes, k + 1)
    if new < 0:
        return False
    for j in range(n):
        pool[new + j] = pool[s + j]
    pool[new + n] = row
    if k >= 0:  # the old block heads its class's free list
        pool[s] = state[FREE + k]
        state[FREE + k] = s
    start[a], length[a], klass[a] = new, n + 1, k + 1
    return True


@njit(cache=True, nogil=True)
def learn(start: np.ndarray, length: np.ndarray, klass: np.ndarray, events: np.ndarray, last_ts: np.ndarray,
          pool: np.ndarray, state: np.ndarray, sizes: np.ndarray, users: np.ndarray, rows: np.ndarray,
          ts: np.ndarray, from_event: int,
          neg_rows: np.ndarray, wants_neg: np.ndarray, neg_event: np.ndarray, neg_item: np.ndarray,
          n_neg: int) -> tuple[int, int]:
    """From event `from_event` on, in order: keep each event's candidate negatives (`neg_rows[j]` where
    `wants_neg[j]`) that are not its item and not yet in its user's list, then put the item in the list, count
    the user's event and note its time. Returns (the event it stopped at: all of them unless the pool must grow, negatives
    kept so far)."""
    for j in range(from_event, users.shape[0]):
        a, row, kept = users[j], rows[j], n_neg
        if wants_neg[j]:
            s, n, k = start[a], length[a], klass[a]
            for r in neg_rows[j]:
                if r != row and (k < 0 or _find(pool, s, n, r) < 0):
                    neg_event[n_neg], neg_item[n_neg] = j, r
                    n_neg += 1
        if not _append(start, length, klass, pool, state, sizes, a, row):
            return j, kept  # (this event's negatives are found again when it is resumed)
        if events[a] == 0:
            state[USERS] += 1
        events[a] += 1
        last_ts[a] = max(last_ts[a], ts[j])
    return users.shape[0], n_neg


def warm_up() -> None:
    """Compile (or load the cached machine code of) `learn` with the dtypes SeenItems passes."""
    i64, i32 = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int32)
    learn(i64.copy(), i32.copy(), np.full(1, -1, dtype=np.int8), i32.copy(), np.zeros(1), np.zeros(4, dtype=np.int32),
          np.array([0, 0, -1], dtype=np.int64), np.array([4], dtype=np.int64), i64.copy(), i64.copy(), np.zeros(1), 0,
          np.zeros((1, 1), dtype=np.int64), np.zeros(1, dtype=np.bool_), i64.copy(), i64.copy(), 0)
