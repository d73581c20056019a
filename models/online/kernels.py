"""Compiled loops (numba) for the learner's hot paths: River's matrix-factorisation SGD steps over matrix rows,
and the statistics of a prequential probe's scores.

A step is ~32 multiply-adds; in Python (River's `learn_one`) it costs ~16 us, in NumPy array operations over a
chunk ~4 us an event of call overhead, compiled ~0.1 us. The arithmetic is River's, term for term (see
`ChunkLearner`; tests/models/online/test_chunk_sgd.py compares the results with `learn_one`).

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


@njit(cache=True, nogil=True)
def _weakest(values: np.ndarray, columns: np.ndarray) -> int:
    """The slot of the smallest value, of the highest column among equals."""
    low = 0
    for k in range(1, values.shape[0]):
        if values[k] < values[low] or (values[k] == values[low] and columns[k] > columns[low]):
            low = k
    return low


@njit(cache=True, nogil=True)
def probe_stats(scores: np.ndarray, targets: np.ndarray, popular: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """Per row of `scores` (one probe, -inf for unrankable items): how many items score at least `targets[row]`
    (the target's rank, ties against it), the top score's z over the finite scores, and the share of the 10
    best that `popular` flags. NumPy took ~10 passes and ~90 us a row over 10k items; these three simple loops
    (the first two vectorise) ~20 us."""
    rows, n = scores.shape
    at_least, z, share = np.zeros(rows, dtype=np.int64), np.zeros(rows), np.zeros(rows)
    top_v, top_i = np.empty(10), np.empty(10, dtype=np.int64)
    for r in range(rows):
        row, t = scores[r], targets[r]
        above = 0
        for c in range(n):
            above += row[c] >= t
        at_least[r] = above
        count, total, squares, best = 0, 0.0, 0.0, -np.inf
        for c in range(n):
            x = row[c]
            finite = np.isfinite(x)
            kept = x if finite else 0.0
            count += finite
            total += kept
            squares += kept * kept
            if finite and x > best:
                best = x
        if count == 0:
            continue
        # The 10 best, ties to the lower column: `floor` is the weakest kept so far (once there are 10), in slot
        # `low`; an equal score later in the row does not displace it.
        m, low, floor = 0, 0, -np.inf
        for c in range(n):
            x = row[c]
            if x > floor or (m < 10 and np.isfinite(x)):
                if m < 10:
                    top_v[m], top_i[m] = x, c
                    m += 1
                else:
                    top_v[low], top_i[low] = x, c
                if m == 10:
                    low = _weakest(top_v, top_i)
                    floor = top_v[low]
        mean = total / count
        std = np.sqrt(max(squares / count - mean * mean, 0.0))
        z[r] = (best - mean) / std if std > 0 else 0.0
        flagged = 0
        for k in range(m):
            flagged += popular[top_i[k]]
        share[r] = flagged / m
    return at_least, z, share


@njit(cache=True, nogil=True)
def _count_companion(nbr: np.ndarray, cnt: np.ndarray, err: np.ndarray, near: np.ndarray, row: int, key: int,
                     w: float, c: float) -> None:
    """Count `key` `c` more times among `row`'s companions (and `w` more in `near`): space-saving (Metwally et
    al. 2005) over the row's slots. A key without a slot takes the weakest one, inheriting its count as a
    possible overcount (`err`); its `near` count starts afresh (a lower bound, like cnt - err)."""
    keys, counts = nbr[row], cnt[row]
    low, low_count = 0, np.inf
    k32 = np.int32(key)
    for s in range(keys.shape[0]):
        k = keys[s]
        if k == k32:
            counts[s] += c
            near[row, s] += w
            return
        if k < 0:  # slots fill from the left: the first free one means the key has none
            keys[s], counts[s], err[row, s], near[row, s] = k32, c, 0.0, w
            return
        if counts[s] < low_count:
            low, low_count = s, counts[s]
    keys[low], counts[low], err[row, low], near[row, low] = k32, low_count + c, low_count, w


@njit(cache=True, nogil=True)
def _count_key(keys: np.ndarray, counts: np.ndarray, err: np.ndarray, row: int, key: int, c: float) -> None:
    """`_count_companion` for a table without near counts (successors)."""
    k32, ks, cs = np.int32(key), keys[row], counts[row]
    low, low_count = 0, np.inf
    for s in range(ks.shape[0]):
        if ks[s] == k32:
            cs[s] += c
            return
        if ks[s] < 0:
            ks[s], cs[s], err[row, s] = k32, c, 0.0
            return
        if cs[s] < low_count:
            low, low_count = s, cs[s]
    ks[low], cs[low], err[row, low] = k32, low_count + c, low_count


@njit(cache=True, nogil=True)
def cooccur_learn(recent: np.ndarray, recent_len: np.ndarray, nbr: np.ndarray, cnt: np.ndarray, err: np.ndarray,
                  near: np.ndarray, item_count: np.ndarray, users: np.ndarray, items: np.ndarray,
                  positive: np.ndarray, near_decay: float, nxt: np.ndarray, nxt_cnt: np.ndarray,
                  nxt_err: np.ndarray, log_pairs: np.ndarray, log_near: np.ndarray,
                  log_next: np.ndarray) -> tuple[int, int, int, int]:
    """For every positive (users[j], items[j]) in order: count the item, count it as a successor of the user's
    newest window item (`nxt`: what came right after what, directed), pair it both ways with each item of the
    user's window (`recent[user, :recent_len[user]]`, oldest first), then make it the window's newest entry. An
    item already in the window only moves to its end: repeats (view, then click, then purchase) pair once.
    A pair counts 1 in `cnt` and near_decay^(steps apart - 1) in `near`.

    With room in `log_pairs` (rows (item, companion), one per pair, `log_near` its near weight) and `log_next`
    (rows (item, successor)), each count made is also written there: what a peer applies (item_deltas.py).

    Returns (new pairs with a user's newest item, how many of them were already its companions: a rate that
    falls at once when tastes shift, shift.py watches it; pairs logged, successors logged)."""
    window = recent.shape[1]
    paired, known = 0, 0
    logged, logged_next = 0, 0
    record = log_pairs.shape[0] > 0
    for j in range(users.shape[0]):
        if not positive[j]:
            continue
        u, i = users[j], items[j]
        item_count[i] += 1.0
        n = recent_len[u]
        if n > 0 and recent[u, n - 1] != i:
            _count_key(nxt, nxt_cnt, nxt_err, recent[u, n - 1], i, 1.0)
            if record:
                log_next[logged_next, 0], log_next[logged_next, 1] = recent[u, n - 1], i
                logged_next += 1
        at = -1
        for p in range(n):
            if recent[u, p] == i:
                at = p
                break
        if at < 0:
            if n > 0:
                paired += 1
                newest = recent[u, n - 1]
                for s in range(nbr.shape[1]):
                    if nbr[newest, s] == i:
                        known += 1
                        break
            for p in range(n):
                other = recent[u, p]
                w = near_decay ** (n - 1 - p)
                _count_companion(nbr, cnt, err, near, i, other, w, 1.0)
                _count_companion(nbr, cnt, err, near, other, i, w, 1.0)
                if record:
                    log_pairs[logged, 0], log_pairs[logged, 1], log_near[logged] = i, other, w
                    logged += 1
            if n == window:  # forget the oldest
                at = 0
            else:
                recent_len[u] = n + 1
                recent[u, n] = i
                continue
        for p in range(at, recent_len[u] - 1):
            recent[u, p] = recent[u, p + 1]
        recent[u, recent_len[u] - 1] = i
    return paired, known, logged, logged_next


@njit(cache=True, nogil=True)
def cooccur_apply(nbr: np.ndarray, cnt: np.ndarray, err: np.ndarray, near: np.ndarray, nxt: np.ndarray,
                  nxt_cnt: np.ndarray, nxt_err: np.ndarray, pairs: np.ndarray, pair_cnt: np.ndarray,
                  pair_near: np.ndarray, nexts: np.ndarray, next_cnt: np.ndarray) -> None:
    """Count what a peer's `cooccur_learn` logged (summed per pair): each pair both ways, each successor once."""
    for j in range(pairs.shape[0]):
        a, b = pairs[j, 0], pairs[j, 1]
        _count_companion(nbr, cnt, err, near, a, b, pair_near[j], pair_cnt[j])
        _count_companion(nbr, cnt, err, near, b, a, pair_near[j], pair_cnt[j])
    for j in range(nexts.shape[0]):
        _count_key(nxt, nxt_cnt, nxt_err, nexts[j, 0], nexts[j, 1], next_cnt[j])


@njit(cache=True, nogil=True)
def cooccur_support(window: np.ndarray, weights: np.ndarray, nbr: np.ndarray, cnt: np.ndarray, err: np.ndarray,
                    item_count: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(item rows c, `log1p(sum_w weights[w] * companions(window[w], c) / sqrt(count(c)))`) for every item c
    below `n_items` that some window item has as a companion, companions counted without overcount: the user's
    co-occurrence scores where they are not zero (rows ascending)."""
    m = nbr.shape[1]
    keys = np.empty(window.shape[0] * m, dtype=np.int64)
    vals = np.empty(window.shape[0] * m)
    n = 0
    for w in range(window.shape[0]):
        row = window[w]
        for s in range(m):
            k = nbr[row, s]
            if k < 0:
                break
            if k < n_items and cnt[row, s] > err[row, s]:
                keys[n] = k
                vals[n] = weights[w] * (cnt[row, s] - err[row, s])
                n += 1
    order = np.argsort(keys[:n])
    rows = np.empty(n, dtype=np.int64)
    scores = np.empty(n)
    p, u = 0, 0
    while p < n:
        k, total = keys[order[p]], 0.0
        while p < n and keys[order[p]] == k:
            total += vals[order[p]]
            p += 1
        rows[u] = k
        scores[u] = np.log1p(total / np.sqrt(max(item_count[k], 1.0)))
        u += 1
    return rows[:u], scores[:u]


@njit(cache=True, nogil=True)
def cooccur_scores(out: np.ndarray, window: np.ndarray, weights: np.ndarray, nbr: np.ndarray, cnt: np.ndarray,
                   err: np.ndarray, item_count: np.ndarray, scale: float) -> None:
    """`out[c] += scale * cooccur_support's score of c` for every item c `out` covers."""
    rows, scores = cooccur_support(window, weights, nbr, cnt, err, item_count, out.shape[0])
    for j in range(rows.shape[0]):
        out[rows[j]] += scale * scores[j]


@njit(cache=True, nogil=True)
def _mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def hashed_normals(seed: np.uint64, n: int, mu: float, sigma: float) -> np.ndarray:
    """`n` draws of N(mu, sigma) that depend on `seed` alone (splitmix64, then Box-Muller): every worker gives an
    item the same starting factors, so the changes peers send (item_deltas.py) add up in one space."""
    out = np.empty(n)
    state = np.uint64(seed)
    step = np.uint64(0x9E3779B97F4A7C15)
    for j in range(0, n, 2):
        state += step
        a = _mix64(state)
        state += step
        b = _mix64(state)
        u1 = (float(a >> np.uint64(11)) + 1.0) / 9007199254740993.0  # (0, 1]: log(u1) is finite
        u2 = float(b >> np.uint64(11)) / 9007199254740992.0
        r = np.sqrt(-2.0 * np.log(u1))
        out[j] = mu + sigma * r * np.cos(2.0 * np.pi * u2)
        if j + 1 < n:
            out[j + 1] = mu + sigma * r * np.sin(2.0 * np.pi * u2)
    return out


def warm_up() -> None:
    """Compile (or load the cached machine code of) every kernel now, not on a worker's first batch."""
    m, b, rows, zeros = np.zeros((1, 1)), np.zeros(1), np.zeros(1, dtype=np.int64), np.zeros(1)
    for biased in (False, True):
        learn_in_order(m.copy(), m.copy(), b.copy(), b.copy(), rows, rows, zeros, zeros, 0.0, 0.0, 0.0, 0.0, 0.0,
                       0.0, 1.0, LOG, biased)
        learn_summed_negatives(m.copy(), m.copy(), b.copy(), b.copy(), rows, rows, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                               0.0, 1.0, LOG, biased)
    probe_stats(m, zeros, np.zeros(1, dtype=np.bool_))
    # The dtypes CoOccurrence passes: another would compile another version on a worker's first request.
    table, counts, window = np.full((1, 1), -1, dtype=np.int32), np.zeros((1, 1), dtype=np.float32), \
        np.zeros((1, 1), dtype=np.int32)
    no_log = np.zeros((0, 2), dtype=np.int32)
    cooccur_learn(window, np.zeros(1, dtype=np.int32), table, counts, counts.copy(), counts.copy(), np.zeros(1),
                  rows, rows, np.ones(1, dtype=np.bool_), 0.5, table.copy(), counts.copy(), counts.copy(),
                  no_log, np.zeros(0, dtype=np.float32), no_log)
    cooccur_apply(table, counts, counts.copy(), counts.copy(), table.copy(), counts.copy(), counts.copy(), no_log,
                  np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32), no_log, np.zeros(0, dtype=np.float32))
    cooccur_scores(zeros, window[0, :1], zeros, table, counts, counts.copy(), np.zeros(1), 1.0)
    hashed_normals(np.uint64(1), 2, 0.0, 1.0)
    from recstream.models.online import pool, ranking

    pool.warm_up()
    ranking.warm_up()
