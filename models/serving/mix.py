"""What the served list is made of, as plain values (settings read their defaults from here without importing
any model code): the mix of its parts and the recipe's knobs. `recipe.py` serves with them."""

from __future__ import annotations

from dataclasses import dataclass, field

from recstream.models.catalogue.policy import NewItemPolicy


@dataclass(frozen=True)
class ServedMix:
    """How the served list mixes its standardised parts: `successors` weighs what came right after the user's
    newest item against the online scores (1 = as much), `deep` is the deep model's share of the result."""

    successors: float = 1.0
    deep: float = 0.5

    def coefficients(self) -> tuple[float, float, float]:
        """The weight of each standardised part: online, successors, deep."""
        return (1.0 - self.deep, (1.0 - self.deep) * self.successors, self.deep)


@dataclass(frozen=True)
class RetrievalConfig:
    """Where the catalogue is large, each request scores candidates instead of every item (serving/retrieval.py)."""

    #: catalogues with fewer items are scored in full (0: always candidates, as bench/served.py --approximate)
    exact_below: int = 50_000
    #: index cells, this many times the square root of the item count
    cells_per_sqrt: float = 1.0
    #: cells a request probes
    probe: int = 16
    #: rebuild the index after the learner has seen this many events per item since the last build (or 2% more
    #: items, at least 1,000, arrived); items new since the build are candidates for every request meanwhile
    rebuild_events_per_item: float = 2.0
    #: build in a thread while requests are scored in full (a worker); False builds when due, in the request
    #: that finds it due (replays, where what is served must not depend on timing)
    background: bool = True


@dataclass(frozen=True)
class RecipeConfig:
    #: the mix served first (and throughout when not tuned)
    start: ServedMix = field(default_factory=ServedMix)
    #: choose the mix from what users pick next (MixTuner)
    tuned: bool = True
    #: share of a personal list's slots given to items drawn from just below the cut
    explore_share: float = 0.0
    new_items: NewItemPolicy = field(default_factory=NewItemPolicy)
    #: share of positive events judged (live served Recall@10, tuning), and at most this many a second
    judge_sample: float = 0.05
    judge_max_per_s: float | None = 50.0
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
