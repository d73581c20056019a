"""What reactions to the lists we served teach the online learner.

- A **click or purchase** on a served item is a positive, learned like the behaviour event of that type. Many
  producers report the same click twice — as behaviour (the site's tracker) and as feedback (the list's widget) —
  so it is learned once: a feedback positive on an item the user already has (a behaviour event came first) is
  not learned again, and a behaviour positive for a pair a feedback positive taught within `dedupe_s` is dropped
  (`drop_repeats`; once: a later genuine repeat is learned).
- An **impression** not followed by a click or purchase of that item by that user within `exposure_window_s` of
  event time, and a **skip** at once, become an *exposure negative*: one factor step towards 0 for that user and
  item, and the item is demoted in that user's scores by `ignored_penalty` per ignored showing, for
  `ignored_for_s` after the last one. (The factor step alone barely moves a list ranked mostly by popularity and
  co-occurrence; the demotion is what stops a list showing the same ignored items again and again.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from recstream.models.data.interaction import Feedback, Interaction
from recstream.models.online.config import OnlineConfig

POSITIVE_ACTIONS = ("click", "purchase")


class FeedbackMemory:
    """Pending impressions, ignored items per user, and the pairs feedback taught (for de-duplication)."""

    #: ignored items remembered per user (the oldest forgotten first)
    MAX_IGNORED_PER_USER = 256

    def __init__(self, exposure_window_s: float, ignored_penalty: float, ignored_for_s: float,
                 dedupe_s: float) -> None:
        self.exposure_window_s, self.ignored_penalty = exposure_window_s, ignored_penalty
        self.ignored_for_s, self.dedupe_s = ignored_for_s, dedupe_s
        #: (user, item) -> impression time, waiting for a click (in arrival order)
        self.pending: dict[tuple[str, str], float] = {}
        #: user -> item row -> (ignored showings, last one's time)
        self.ignored: dict[str, dict[int, tuple[int, float]]] = {}
        #: (user, item) -> time, positives learned from feedback (a behaviour copy of one is dropped)
        self.taught: dict[tuple[str, str], float] = {}
        self.now = 0.0
        self.positives = self.negatives = self.repeats = 0

    def sort(self, feedback: Sequence[Feedback], already_has: Callable[[str, str], bool]
             ) -> tuple[list[Interaction], list[tuple[str, str, float]]]:
        """(positives to learn, (user, item, ts) exposure negatives) from `feedback`, in order.
        `already_has(user, item)`: whether the learner already holds that interaction."""
        positives: list[Interaction] = []
        negatives: list[tuple[str, str, float]] = []
        for fb in feedback:
            if fb.ts > self.now:
                self.now = fb.ts
                negatives.extend(self._expired())  # before this one: it may show an expired item again
            pair = (fb.user_id, fb.item_id)
            if fb.action == "impression":
                self.pending.pop(pair, None)
                self.pending[pair] = fb.ts
            elif fb.action in POSITIVE_ACTIONS:
                self.pending.pop(pair, None)
                if pair in self.taught or already_has(*pair):
                    self.repeats += 1
                    continue
                self.taught[pair] = fb.ts
                positives.append(Interaction(fb.event_id, fb.user_id, fb.item_id, fb.action, None, fb.ts,
                                             {"rec_id": fb.rec_id}))
            elif fb.action == "skip":
                self.pending.pop(pair, None)
                negatives.append((fb.user_id, fb.item_id, fb.ts))
        self._forget_taught()
        self.positives += len(positives)
        self.negatives += len(negatives)
        return positives, negatives

    def _expired(self) -> Iterable[tuple[str, str, float]]:
        """Impressions older than the window with no click: negatives now."""
        for (user, item), ts in _pop_older(self.pending, self.now - self.exposure_window_s):
            yield user, item, ts

    def _forget_taught(self) -> None:
        for _ in _pop_older(self.taught, self.now - self.dedupe_s):
            pass

    def drop_repeats(self, users: Sequence[str], items: Sequence[str]) -> list[int]:
        """Indices of behaviour events to learn: all but the copies of positives feedback already taught."""
        if not self.taught:
            return list(range(len(users)))
        keep = []
        for k, pair in enumerate(zip(users, items)):
            if self.taught.pop(pair, None) is None:
                keep.append(k)
            else:
                self.repeats += 1
        return keep

    def ignore(self, user: str, row: int, ts: float) -> None:
        mine = self.ignored.setdefault(user, {})
        count = mine.pop(row, (0, ts))[0]
        mine[row] = (count + 1, ts)
        if len(mine) > self.MAX_IGNORED_PER_USER:
            del mine[next(iter(mine))]
        # Showings past `ignored_for_s` demote nothing: forget them, oldest first (each update moves its item to
        # the end), or memory grows for a day at the start of every worker (bench/soak.py: ~20 MB an hour).
        horizon = self.now - self.ignored_for_s
        while len(mine) > 1:
            oldest = next(iter(mine))
            if mine[oldest][1] >= horizon:
                break
            del mine[oldest]

    def clicked(self, user: str, row: int) -> None:
        """A positive ends the item's demotion for that user."""
        mine = self.ignored.get(user)
        if mine:
            mine.pop(row, None)

    def recently_ignored(self, user: str) -> Iterator[tuple[int, int]]:
        """(item row, ignored showings) of what `user` was shown and ignored within `ignored_for_s` (nothing
        while demotion is off)."""
        mine = self.ignored.get(user)
        if not mine or self.ignored_penalty <= 0:
            return
        horizon = self.now - self.ignored_for_s
        yield from ((row, count) for row, (count, ts) in mine.items() if ts >= horizon)

    def demote(self, scores: np.ndarray, user: str) -> None:
        """Lower, in place, the items `user` was recently shown and ignored, `ignored_penalty` a showing."""
        for row, count in self.recently_ignored(user):
            if row < len(scores):
                scores[row] -= self.ignored_penalty * count

    def state(self) -> dict:
        return {"positives": self.positives, "exposure_negatives": self.negatives, "repeats_dropped": self.repeats,
                "pending_impressions": len(self.pending)}


def _pop_older(entries: dict[tuple[str, str], float], horizon: float) -> Iterator[tuple[tuple[str, str], float]]:
    """Remove and yield the entries of `entries` (in time order) stamped at or before `horizon`, oldest first."""
    while entries:
        pair, ts = next(iter(entries.items()))
        if ts > horizon:
            return
        del entries[pair]
        yield pair, ts


def feedback_memory_for(cfg: OnlineConfig) -> FeedbackMemory:
    return FeedbackMemory(cfg.exposure_window_s, cfg.ignored_penalty, cfg.ignored_for_s, cfg.feedback_dedupe_s)
