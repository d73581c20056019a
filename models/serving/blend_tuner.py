"""Choosing the deep share of the served blend from what users did next, instead of a fixed weight.

On positive events, before they are learned, the user's online and deep scores are mixed at each candidate
weight; each weight whose top-10 held the item the user picked is credited. Credits decay (a stream's best weight
moves as versions change); the served weight is the best candidate so far (of equals, the one nearest the
configured weight, which is served until enough events were judged). Measured with bench/served.py: the best
fixed weight is 0.25 on MovieLens, 0 on the synthetic stream and 0.75 or more on sessions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recstream.models.data.interaction import InteractionColumns
from recstream.models.data.positive import is_positive
from recstream.models.online.prequential import ProbeBudget
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.blend import Mixer, deep_scores
from recstream.models.serving.hotswap import LoadedModel


def in_top(scores: np.ndarray, row: int, k: int) -> bool:
    """Whether item `row` is in the top-`k` of `scores` (ties count against it; -inf never is)."""
    return bool(np.isfinite(scores[row])) and np.count_nonzero(scores >= scores[row]) <= k


class BlendTuner:
    def __init__(self, start: float = 0.5, candidates: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
                 half_life: float = 2_000.0, min_judged: float = 200.0, k: int = 10) -> None:
        self.candidates, self.k, self.min_judged = candidates, k, min_judged
        self.decay = 0.5 ** (1.0 / half_life)
        self.start = start
        self.hits = np.zeros(len(candidates))
        self.judged = 0.0

    @property
    def weight(self) -> float:
        """The deep share to serve now."""
        if self.judged < self.min_judged:
            return self.start
        best = np.flatnonzero(self.hits >= self.hits.max() - 1e-9)  # ties: the candidate nearest the start
        return min((self.candidates[c] for c in best), key=lambda w: abs(w - self.start))

    def observe(self, online: np.ndarray, deep: np.ndarray, target: int) -> None:
        """One positive event: `online` and `deep` scores over the item rows (seen items -inf online), `target`
        the row of the item the user picked."""
        self.credit(Mixer(online, deep), target)

    def credit(self, mixer: Mixer, target: int) -> None:
        """`observe`, from scores already standardised."""
        self.hits *= self.decay
        self.judged = self.judged * self.decay + 1.0
        for c, w in enumerate(self.candidates):
            if in_top(mixer.at(w), target, self.k):
                self.hits[c] += 1.0


class ServedJudge:
    """The worker's live judge of what it serves: before a chunk is learned, each novel positive event (at most
    `max_per_s` a second, in bursts) asks whether the list the user would have been served held the item they
    picked — the served Recall@10 — and credits the tuner's candidate weights."""

    def __init__(self, tuner: BlendTuner, sample: float = 0.05, max_per_s: float | None = 50.0,
                 seed: int = 0) -> None:
        self.tuner, self.sample = tuner, sample
        self.budget = ProbeBudget(max_per_s) if max_per_s is not None else None
        self._rng = np.random.default_rng(seed)
        self.hits = 0
        self.trials = 0

    @property
    def recall_at_10(self) -> float | None:
        return self.hits / self.trials if self.trials else None

    def before_learning(self, online: OnlineRecommender, choose: Callable[[str], LoadedModel | None],
                        events: InteractionColumns) -> None:
        """Judge a sample of `events`' novel positives against the state before they are learned."""
        cfg, picks = online.config, []
        for i in np.flatnonzero(self._rng.random(len(events)) < self.sample).tolist():
            if not is_positive(events.types[i], events.values[i], cfg.event_weights, cfg.rating_threshold):
                continue
            row = online.item_row(events.item_ids[i])
            if row is None or not online.seen.contains(events.user_ids[i], row):
                picks.append(i)
        if self.budget is not None and picks:
            picks = picks[:self.budget.grant(len(picks))]
        for i in picks:
            self.judge(online, choose, events.user_ids[i], events.item_ids[i])

    def judge(self, online: OnlineRecommender, choose: Callable[[str], LoadedModel | None], user: str,
              item: str) -> None:
        self.trials += 1
        row = online.item_row(item)
        if row is None:
            return  # an item nobody has seen yet cannot be served: a miss
        scores = online.scores(user)
        deep = deep_scores(online, choose(user), user)
        mixer = None if deep is None else Mixer(scores, deep)
        served = scores if mixer is None else mixer.at(self.tuner.weight)
        if in_top(served, row, self.tuner.k):
            self.hits += 1
        if mixer is not None:
            self.tuner.credit(mixer, row)
