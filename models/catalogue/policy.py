"""What counts as a new item, and how many slots new items get (models/serving/new_items.py applies it). A plain
dataclass: settings read its defaults without importing any model code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NewItemPolicy:
    #: share of a personal list's slots given to new items (0 = off)
    share: float = 0.0
    #: newer than this: catalogue created_at within age_s seconds of the newest event
    age_s: float = 7 * 86_400.0
    #: little data: at most this many (decayed) positive events
    max_events: float = 20.0
