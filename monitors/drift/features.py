"""The columns drift is judged on: event features and model outputs of a reference and a current window.

Every feature is built so that two windows drawn from the same stationary stream get the same distribution;
otherwise a stationary stream would be flagged every time:
- user activity counts a user's *other* events per 1,000 events of the same window (not raw counts, which grow
  with the window);
- item popularity rank ranks by the reference window's counts, leaving the event itself out on the reference
  side (an item always has at least its own event in the reference, never in the current window);
- hour of day is only compared when both windows cover at least a day (a 10-minute window has one hour);
- item mix is the item itself, as the reference's most frequent items plus "other" (bounded categories).

A change in what people like moves the two item columns; the mix of event types, activity and ratings may stay.
Model outputs are compared with those of the window just before the current one (see windows.py), so their
columns say "the model's behaviour just changed", not "the online model has kept learning".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Below this many non-missing values on either side a column is not judged (its verdict would be noise).
MIN_VALUES = 30
DAY_S = 86_400.0

EVENT_COLUMNS = ("event_type", "item_popularity_rank", "item_mix", "user_activity", "hour_of_day", "value")
OUTPUT_COLUMNS = ("hit", "top_score_z", "popular_share")
CATEGORICAL = ("event_type", "item_mix", "hour_of_day", "hit")
#: Categories of item_mix: the reference's most frequent items, the rest are "other".
ITEM_MIX_TOP = 50


@dataclass
class EventWindow:
    """Raw columns of one window of behaviour events (any order)."""

    user_id: np.ndarray
    item_id: np.ndarray
    type: np.ndarray
    value: np.ndarray  # float, NaN when the event has none
    ts: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def span(self) -> tuple[float | None, float | None]:
        return (float(self.ts.min()), float(self.ts.max())) if len(self) else (None, None)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> EventWindow:
        """From (user_id, item_id, type, value, ts) rows as the store returns them (pandas builds the columns
        in C: a Python loop over 100k rows took half a second)."""
        df = pd.DataFrame.from_records(rows, columns=["user_id", "item_id", "type", "value", "ts"],
                                       coerce_float=True, nrows=len(rows))
        return cls(df["user_id"].to_numpy(dtype=object), df["item_id"].to_numpy(dtype=object),
                   df["type"].to_numpy(dtype=object), pd.to_numeric(df["value"]).to_numpy(dtype=float),
                   df["ts"].to_numpy(dtype=float))


@dataclass
class OutputWindow:
    """Model-output probes of one window: hit (0/1), top-1 score z, popular share."""

    hit: np.ndarray
    top_score_z: np.ndarray
    popular_share: np.ndarray

    def __len__(self) -> int:
        return len(self.hit)

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> OutputWindow:
        if not rows:
            return cls(*(np.array([], dtype=float) for _ in range(3)))
        hit, z, share = (np.array(c, dtype=float) for c in zip(*rows))
        return cls(hit, z, share)


@dataclass
class Frames:
    """The two frames handed to Evidently, and the columns left out (with why)."""

    reference: pd.DataFrame
    current: pd.DataFrame
    numerical: list[str]
    categorical: list[str]
    groups: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _per_thousand_others(keys: np.ndarray) -> np.ndarray:
    """For each row, how many other rows share its key, per 1,000 rows."""
    codes, _ = pd.factorize(keys)  # hashing, not sorting: ids are strings
    counts = np.bincount(codes, minlength=1)
    return (counts[codes] - 1) * (1000.0 / max(len(keys), 1))


def _labels(hits: np.ndarray) -> np.ndarray:
    """0/1 hits as category labels: a hit rate is a proportion, judged like one."""
    return np.where(hits.astype(bool), "hit", "miss").astype(object)


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")


def item_label(item_id: str) -> str:
    """An item id as a category label that cannot carry markup (reports put labels inside a <script>): a plain
    id as it is, any other as `item#` and a digest of it (an id is producer input)."""
    if _PLAIN_ID.fullmatch(item_id) and item_id != "other":
        return item_id
    return "item#" + hashlib.sha256(item_id.encode()).hexdigest()[:12]


def item_mix(ref_items: np.ndarray, cur_items: np.ndarray, top: int = ITEM_MIX_TOP) -> tuple[np.ndarray, np.ndarray]:
    """Each event's item (as `item_label`) if it is one of the reference's `top` most frequent items, else
    "other"."""
    counts = pd.Series(ref_items, dtype=object).value_counts(sort=False)
    keep = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable").index[:top]
    labels = {k: item_label(str(k)) for k in keep}
    return tuple(pd.Series(keys, dtype=object).map(labels).fillna("other")  # type: ignore[return-value]
                 .to_numpy(dtype=object) for keys in (ref_items, cur_items))


def popularity_ranks(ref_items: np.ndarray, cur_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = most popular) of each event's item by the reference window's counts.

    One function maps "how many reference events picked this item" to a rank; reference events use their item's
    count minus themselves, current events the full count (0 for items the reference never saw), so both sides
    are exchangeable on a stationary stream.
    """
    inverse, items = pd.factorize(ref_items)
    counts = np.bincount(inverse, minlength=len(items))
    desc = np.sort(counts)[::-1]

    def rank(count: np.ndarray) -> np.ndarray:
        # 1 + number of reference items strictly more popular than `count`
        return 1.0 + (len(desc) - np.searchsorted(desc[::-1], count, side="right"))

    ref_rank = rank(counts[inverse] - 1)
    at = pd.Index(items).get_indexer(cur_items)  # -1: an item the reference never saw
    cur_counts = np.where(at >= 0, counts[np.maximum(at, 0)], 0) if len(items) else np.zeros(len(cur_items), int)
    return ref_rank, rank(cur_counts)


def build_frames(ref: EventWindow, cur: EventWindow, ref_out: OutputWindow, cur_out: OutputWindow) -> Frames:
    """The per-row columns of both windows; columns that cannot be judged are listed in `skipped`."""
    ref_rank, cur_rank = popularity_ranks(ref.item_id, cur.item_id)
    cols: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "event_type": (ref.type.astype(str), cur.type.astype(str)),
        "item_popularity_rank": (ref_rank, cur_rank),
        "item_mix": item_mix(ref.item_id, cur.item_id),
        "user_activity": (_per_thousand_others(ref.user_id), _per_thousand_others(cur.user_id)),
        "hour_of_day": ((ref.ts % DAY_S // 3600).astype(int).astype(str),
                        (cur.ts % DAY_S // 3600).astype(int).astype(str)),
        "value": (ref.value, cur.value),
        "hit": (_labels(ref_out.hit), _labels(cur_out.hit)),
        "top_score_z": (ref_out.top_score_z, cur_out.top_score_z),
        "popular_share": (ref_out.popular_share, cur_out.popular_share),
    }
    skipped: dict[str, str] = {}
    spans = [w.span for w in (ref, cur)]
    if any(lo is None or hi - lo < DAY_S for lo, hi in spans):  # type: ignore[operator]
        skipped["hour_of_day"] = "a window covers less than a day of event time"
    for name, (a, b) in cols.items():
        if name in skipped:
            continue
        have = [int(np.count_nonzero(~pd.isna(x))) for x in (a, b)]
        if min(have) < MIN_VALUES:
            side = "reference" if have[0] < MIN_VALUES else "current"
            skipped[name] = f"only {min(have)} values in the {side} window (need {MIN_VALUES})"
    kept = [c for c in cols if c not in skipped]
    frames = [pd.DataFrame({c: pd.Series(cols[c][side]) for c in kept}) for side in (0, 1)]
    groups = {c: ("outputs" if c in OUTPUT_COLUMNS else "events") for c in cols}  # skipped ones too
    return Frames(frames[0], frames[1], [c for c in kept if c not in CATEGORICAL],
                  [c for c in kept if c in CATEGORICAL], groups, skipped)
