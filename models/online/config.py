"""The online learner's knobs: a plain dataclass, cheap to import (settings read their defaults from it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recstream.models.data.positive import DEFAULT_EVENT_WEIGHTS


def check_cooccurrence(window: int, neighbours: int, decay: float) -> None:
    """Refuse settings the co-occurrence counts cannot work with, naming the one that is wrong."""
    if window < 1:
        raise ValueError(f"cooccurrence_window must be >= 1 items, got {window}")
    if neighbours < 1:
        raise ValueError(f"cooccurrence_neighbours must be >= 1, got {neighbours}")
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"cooccurrence_decay must be within (0, 1], got {decay}")


@dataclass(frozen=True)
class OnlineConfig:
    """Knobs of the online learner. `recstream worker` fills them from RECSTREAM_ONLINE_* settings."""

    algorithm: Literal["biased_mf", "funk_mf"] = "biased_mf"
    #: "squared" regresses the event weight; "log" is logistic MF (positive = 1, sampled negative = 0).
    loss: Literal["squared", "log"] = "log"
    n_factors: int = 32
    learning_rate: float = 0.05
    l2: float = 0.002
    #: Sampled negatives (target 0) learned after each positive event: implicit data has no explicit "no".
    #: Each costs one more learn_one. (Why each default: docs/benchmarks.md, "Why the online learner's defaults".)
    negatives: int = 2
    #: "uniform" over known items, or "popularity" (in proportion to decayed popularity): the latter leaves
    #: popularity to the blend term and makes the factors learn what sets a user apart from the crowd.
    negative_sampling: Literal["uniform", "popularity"] = "popularity"
    #: Weight of log-popularity in the personal score: popularity is a strong prior the factors refine.
    popularity_blend: float = 1.0
    #: Weight of item co-occurrence with the user's recent positives in the personal score (0 = off; see
    #: cooccurrence.py).
    cooccurrence_weight: float = 2.0
    #: How many of a user's latest positive items the co-occurrence score looks at (and each new one pairs with),
    #: the weight of each step back in that window, and how many companions each item keeps.
    cooccurrence_window: int = 10
    cooccurrence_decay: float = 0.8
    cooccurrence_neighbours: int = 64
    #: How many successors (what came right after an item) each item keeps: most items have few (at 100k items,
    #: 3.9 of 64 slots used on average, 7 at the 90th percentile), and each slot costs 12 bytes an item.
    successor_neighbours: int = 16
    #: Companion counts halve every this many positive events (None: they never fade). A trade-off (faster
    #: recovery from a shift, less recall on sessions), so off by default.
    cooccurrence_half_life: float | None = None
    #: When the share of new pairs that counts already knew drops (a taste shift, shift.py), every companion count
    #: is multiplied by this once (None: not watched).
    cooccurrence_shift_fade: float | None = 0.1
    #: "More like this" reads companion counts where a pair counts this^(steps apart - 1) in the user's window
    #: (a user's score keeps counting every pair alike).
    similar_pair_decay: float = 0.5
    popularity_half_life_s: float = 365 * 24 * 3600.0
    #: Target learned for each implicit event type; ratings map to 1 (>= rating_threshold) or 0.
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    rating_threshold: float = 4.0
    #: Feedback (see feedback.py): an impression with no click or purchase of the item within this many seconds
    #: of event time is an exposure negative; each ignored showing lowers the item in that user's scores by
    #: `ignored_penalty` for `ignored_for_s`; a behaviour copy of a feedback click within `feedback_dedupe_s` is
    #: not learned again.
    exposure_window_s: float = 600.0
    ignored_penalty: float = 3.0
    ignored_for_s: float = 86_400.0
    feedback_dedupe_s: float = 3_600.0
    #: Users with fewer learned events than this are served popular items.
    min_user_events: int = 1
    #: Share of positive events scored before learning for the live Recall@10 (1.0 = every one).
    prequential_sample: float = 0.05
    #: A probe scores the whole catalogue: the sample thins so that probes cost at most this many item scores per
    #: event on average (the full 5% up to 10k items; 0.05% at a million, where probing at 5% took most of the
    #: learning time: bench/large.py). The served judge's sample thins the same way.
    probe_cells_per_event: float = 500.0
    #: At most this many probes per second of wall-clock time (None: no cap): a probe scores the whole catalogue.
    #: The worker sets a cap; replays leave it off, so they stay deterministic.
    prequential_max_per_s: float | None = None
    #: How many of a user's most recent items are remembered (and excluded from their recommendations).
    max_seen_per_user: int = 2000
    seed: int = 42

    def __post_init__(self) -> None:
        if self.algorithm not in ("biased_mf", "funk_mf"):
            raise ValueError(f"online algorithm must be 'biased_mf' or 'funk_mf', got {self.algorithm!r}")
        if self.negative_sampling not in ("uniform", "popularity"):
            raise ValueError(f"negative_sampling must be 'uniform' or 'popularity', got {self.negative_sampling!r}")
        if self.loss not in ("squared", "log"):
            raise ValueError(f"online loss must be 'squared' or 'log', got {self.loss!r}")
        if self.cooccurrence_weight < 0:
            raise ValueError(f"cooccurrence_weight must be >= 0 (0 = off), got {self.cooccurrence_weight}")
        check_cooccurrence(self.cooccurrence_window, self.cooccurrence_neighbours, self.cooccurrence_decay)
        if self.successor_neighbours < 1:
            raise ValueError(f"successor_neighbours must be >= 1, got {self.successor_neighbours}")
        if not 0.0 < self.similar_pair_decay <= 1.0:
            raise ValueError(f"similar_pair_decay must be within (0, 1], got {self.similar_pair_decay}")
        if self.cooccurrence_shift_fade is not None and not 0.0 <= self.cooccurrence_shift_fade < 1.0:
            raise ValueError(f"cooccurrence_shift_fade must be within [0, 1) (None: off), got {self.cooccurrence_shift_fade}")
        if min(self.exposure_window_s, self.ignored_penalty, self.ignored_for_s, self.feedback_dedupe_s) < 0:
            raise ValueError("exposure_window_s, ignored_penalty, ignored_for_s and feedback_dedupe_s must be >= 0")
        if self.n_factors < 1:
            raise ValueError(f"n_factors must be >= 1, got {self.n_factors}")
        if self.prequential_max_per_s is not None and not self.prequential_max_per_s > 0:
            raise ValueError(f"prequential_max_per_s must be > 0 (or None: no cap), got {self.prequential_max_per_s}")
        if not self.probe_cells_per_event > 0:
            raise ValueError(f"probe_cells_per_event must be > 0, got {self.probe_cells_per_event}")
        if not 0.0 <= self.prequential_sample <= 1.0:
            raise ValueError(f"prequential_sample must be within [0, 1], got {self.prequential_sample}")
