"""How fast the served list recovers after a taste shift: events after the shift until the hit rate over a
sliding window of probes is back within 5% of its level just before the shift."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recovery(curve: Sequence[tuple[int, bool, bool]], shift_at: int, n_events: int, window_share: float = 0.02,
             tolerance: float = 0.05) -> dict:
    """`curve`: (event index, served hit, online hit) per probe, in order. The level before the shift is the hit
    rate over the probes of the last 10% of the stream before it; after it, a window spans `window_share` of the
    stream. Per source: events after the shift until the window's hit rate is back within `tolerance`."""
    idx = np.array([c[0] for c in curve])
    out: dict = {"shift_at": shift_at, "window_events": int(window_share * n_events), "tolerance": tolerance}
    before = (idx >= shift_at - 0.1 * n_events) & (idx < shift_at)
    after = idx >= shift_at
    for k, name in ((1, "served"), (2, "online")):
        hits = np.array([c[k] for c in curve], dtype=float)
        if not before.any() or not after.any():
            out[name] = {"level_before": None, "events_to_recover": None}
            continue
        level = float(hits[before].mean())
        back = _first_window_at(idx[after], hits[after], level * (1 - tolerance), int(window_share * n_events))
        out[name] = {"level_before": round(level, 4),
                     "events_to_recover": None if back is None else int(back - shift_at),
                     "share_of_stream": None if back is None else round((back - shift_at) / n_events, 4)}
    return out


def _first_window_at(idx: np.ndarray, hits: np.ndarray, level: float, span: int) -> int | None:
    """The end (event index) of the first window of `span` events whose hit rate reaches `level`."""
    starts = np.searchsorted(idx, idx - span, side="left")
    sums = np.r_[0.0, np.cumsum(hits)]
    for end in range(len(idx)):
        if idx[end] - idx[0] < span:
            continue  # a window must be whole
        n = end + 1 - starts[end]
        if n and (sums[end + 1] - sums[starts[end]]) / n >= level:
            return int(idx[end])
    return None
