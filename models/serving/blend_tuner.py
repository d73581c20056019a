"""Choosing the served mix (successor weight, deep share) from what users did next, instead of fixed weights.

On positive events, before they are learned, the user's parts (online, successors, deep) are mixed at every
candidate `ServedMix`; each candidate whose top-10 held the item the user picked is credited. Credits decay (a
stream's best mix moves as versions change and tastes shift); the served mix is the best candidate so far (of
equals, the one nearest the configured start, which is served until enough events were judged). So a stream of
click sessions, where what follows the last item says most, and a stream of ratings, where the factors and
co-occurrence do, each get their own mix (bench/served.py reports the mix each stream settled on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

import numpy as np

from recstream.models.data.interaction import InteractionColumns
from recstream.models.data.positive import is_positive
from recstream.models.online.prequential import ProbeBudget, thinned
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.blend import Mixer, deep_scores, ignored_showings, successor_scores
from recstream.models.serving.hotswap import LoadedModel
from recstream.models.serving.mix import ServedMix

SUCCESSOR_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
DEEP_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


def in_top(scores: np.ndarray, row: int, k: int) -> bool:
    """Whether item `row` is in the top-`k` of `scores` (ties count against it; -inf never is)."""
    return bool(np.isfinite(scores[row])) and np.count_nonzero(scores >= scores[row]) <= k


class MixTuner:
    def __init__(self, start: ServedMix | None = None, successors: tuple[float, ...] = SUCCESSOR_WEIGHTS,
                 deep: tuple[float, ...] = DEEP_SHARES, half_life: float = 2_000.0, min_judged: float = 200.0,
                 k: int = 10) -> None:
        self.start = start or ServedMix()
        self.candidates = tuple(ServedMix(s, d) for s, d in product(successors, deep))
        self.k, self.min_judged = k, min_judged
        self.decay = 0.5 ** (1.0 / half_life)
        self.hits = np.zeros(len(self.candidates))
        self.judged = 0.0
        # of equal candidates, the one nearest the start wins: rank them by that distance once
        self._nearness = np.array([-(abs(c.successors - self.start.successors) + abs(c.deep - self.start.deep))
                                   for c in self.candidates])

    @property
    def weight(self) -> ServedMix:
        """The mix to serve now."""
        if self.judged < self.min_judged:
            return self.start
        best = np.flatnonzero(self.hits >= self.hits.max() - 1e-9)
        return self.candidates[int(best[np.argmax(self._nearness[best])])]

    def observe(self, online: np.ndarray, deep: np.ndarray | None, target: int,
                successors: np.ndarray | None = None) -> None:
        """One positive event: the parts' scores over the item rows (seen items -inf online), `target` the row of
        the item the user picked."""
        self.credit(Mixer(online, deep, successors), target)

    def credit(self, mixer: Mixer, target: int) -> None:
        """`observe`, from parts already standardised."""
        self.hits *= self.decay
        self.judged = self.judged * self.decay + 1.0
        self.hits += mixer.ranks_of(self.candidates, target) <= self.k


class ServedJudge:
    """The worker's live judge of what it serves: before a chunk is learned, each novel positive event (at most
    `max_per_s` a second, in bursts) asks whether the list the user would have been served held the item they
    picked — the served Recall@10 — and credits the tuner's candidate mixes."""

    #: most events judged between two chunks learned
    BURST = 4

    def __init__(self, tuner: MixTuner, sample: float = 0.05, max_per_s: float | None = 50.0,
                 seed: int = 0) -> None:
        self.tuner, self.sample = tuner, sample
        # A few at a time: each judgement costs the same (no fixed cost to share), and a second's worth at once
        # would hold the event loop, and the requests waiting on it, for tens of milliseconds.
        self.budget = ProbeBudget(max_per_s, burst=self.BURST) if max_per_s is not None else None
        self._rng = np.random.default_rng(seed)
        self.hits = 0
        self.trials = 0

    @property
    def recall_at_10(self) -> float | None:
        return self.hits / self.trials if self.trials else None

    def before_learning(self, online: OnlineRecommender, choose: Callable[[str], LoadedModel | None],
                        events: InteractionColumns, served: Callable[[], ServedMix] | None = None) -> None:
        """Judge a sample of `events`' novel positives against the state before they are learned."""
        for _ in self.judgements(online, choose, events, served):
            pass

    def judgements(self, online: OnlineRecommender, choose: Callable[[str], LoadedModel | None],
                   events: InteractionColumns, served: Callable[[], ServedMix] | None = None) -> Iterator[None]:
        """`before_learning` a step at a time: one judged event a step (each scores every item, ~1 ms at 10k
        items), so a worker lets waiting requests in between steps."""
        for i in self._picks(online, events):
            self.judge(online, choose, events.user_ids[i], events.item_ids[i], served() if served else None)
            yield

    def _picks(self, online: OnlineRecommender, events: InteractionColumns) -> list[int]:
        """The sampled novel positives of `events` the budget allows judging now."""
        cfg, picks = online.config, []
        sample = thinned(self.sample, online.n_items, cfg.probe_cells_per_event)  # a judgement scores every item
        for i in np.flatnonzero(self._rng.random(len(events)) < sample).tolist():
            if not is_positive(events.types[i], events.values[i], cfg.event_weights, cfg.rating_threshold):
                continue
            row = online.item_row(events.item_ids[i])
            if row is None or not online.seen.contains(events.user_ids[i], row):
                picks.append(i)
        if self.budget is not None and picks:
            picks = picks[:self.budget.grant(len(picks))]
        return picks

    def judge(self, online: OnlineRecommender, choose: Callable[[str], LoadedModel | None], user: str,
              item: str, served: ServedMix | None = None) -> None:
        """Was `item` in the list served to `user` at the `served` mix (default: the tuner's)? Credit the tuner's
        candidates either way."""
        self.trials += 1
        row = online.item_row(item)
        if row is None:
            return  # an item nobody has seen yet cannot be served: a miss
        mixer = Mixer(online.scores(user), deep_scores(online, choose(user), user), successor_scores(online, user),
                      ignored_showings(online, user))
        mix = served or self.tuner.weight
        if mixer.ranks_of((mix,), row)[0] <= self.tuner.k:
            self.hits += 1
        self.tuner.credit(mixer, row)
