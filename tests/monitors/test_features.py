"""Drift features: equal distributions on exchangeable windows, clear differences on shifted ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recstream.monitors.drift.comparison import two_sample_chi2
from recstream.monitors.drift.features import (
    MIN_VALUES,
    EventWindow,
    OutputWindow,
    build_frames,
    item_mix,
    popularity_ranks,
)


def window(items, users=None, ts=None, types=None, values=None) -> EventWindow:
    n = len(items)
    return EventWindow(np.array(users if users is not None else [f"u{i % 7}" for i in range(n)], dtype=object),
                       np.array(items, dtype=object),
                       np.array(types if types is not None else ["view"] * n, dtype=object),
                       np.array(values if values is not None else [np.nan] * n, dtype=float),
                       np.array(ts if ts is not None else np.arange(n, dtype=float)))


def test_popularity_rank_leaves_the_event_itself_out_on_the_reference_side():
    ref = np.array(["a", "a", "a", "b", "b", "c"])
    ref_rank, cur_rank = popularity_ranks(ref, np.array(["a", "b", "c", "zzz"]))
    # counts a=3, b=2, c=1; a reference "a" sees 2 others → rank 2 (only a's own 3 is above); current "a" sees 3
    assert ref_rank.tolist() == [2, 2, 2, 3, 3, 4]
    assert cur_rank.tolist() == [1, 2, 3, 4]  # an item the reference never saw ranks last


def test_popularity_rank_is_exchangeable_on_iid_windows():
    rng = np.random.default_rng(0)
    p = 1 / np.arange(1, 501) ** 1.1
    p /= p.sum()
    draw = lambda: rng.choice(500, size=20_000, p=p).astype(str)
    ref_rank, cur_rank = popularity_ranks(draw(), draw())
    assert abs(np.median(ref_rank) - np.median(cur_rank)) <= 1
    assert abs(ref_rank.mean() - cur_rank.mean()) / ref_rank.std() < 0.03


def test_item_mix_keeps_the_references_top_items_and_calls_the_rest_other():
    ref, cur = item_mix(np.array(["a", "a", "b", "c"]), np.array(["a", "d"]), top=1)
    assert ref.tolist() == ["a", "a", "other", "other"] and cur.tolist() == ["a", "other"]


def test_columns_that_cannot_be_judged_are_skipped_with_a_reason():
    n = 200
    ref = window([f"i{i % 20}" for i in range(n)], ts=np.linspace(0, 3600, n))
    cur = window([f"i{i % 20}" for i in range(n)], ts=np.linspace(4000, 8000, n))
    out = OutputWindow(np.ones(10), np.zeros(10), np.zeros(10))
    frames = build_frames(ref, cur, out, out)
    assert frames.skipped["hour_of_day"] == "a window covers less than a day of event time"
    assert frames.skipped["value"].startswith("only 0 values in the reference window")
    assert frames.skipped["hit"] == f"only 10 values in the reference window (need {MIN_VALUES})"
    assert set(frames.numerical) == {"item_popularity_rank", "user_activity"}
    assert set(frames.categorical) == {"event_type", "item_mix"}
    # Day-long windows get hour of day, as a category.
    day = window([f"i{i % 20}" for i in range(n)], ts=np.linspace(0, 2 * 86_400, n))
    assert "hour_of_day" in build_frames(day, day, out, out).categorical


def test_two_sample_chi2_does_not_flag_samples_of_one_distribution_but_flags_a_change():
    rng = np.random.default_rng(1)
    cats = [f"c{i}" for i in range(20)]
    p = rng.dirichlet(np.ones(20))
    same = [two_sample_chi2(pd.Series(rng.choice(cats, 100_000, p=p)), pd.Series(rng.choice(cats, 100_000, p=p)),
                            None, 0.01)[1] for _ in range(8)]
    assert sum(same) <= 1
    q = np.roll(p, 1)
    p_value, drifted = two_sample_chi2(pd.Series(rng.choice(cats, 2_000, p=p)), pd.Series(rng.choice(cats, 2_000, p=q)),
                                       None, 0.01)
    assert drifted and p_value < 1e-6
