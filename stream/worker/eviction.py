"""Cold users out of a worker's memory and back (RECSTREAM_ONLINE_EVICT_AFTER_S).

A user with no event for `evict_after_s` of event time is written to the database (`user_states`) and then
dropped from the learner; at their next event (before it is learned) or request (before it is answered) the
state is read back and the user is exactly as before (tests/models/online/test_users.py). A stored state is
kept after it is read: if the worker dies before its next checkpoint, the restored learner lacks the user
again and the stored state, with the events replayed after that checkpoint, is still right.

Which users may have a stored state is known in memory as 8-byte hashes (`EvictedIds`), so a new user costs
no database read; the ids are read from the database at start and at every partition assignment (a rebalance
hands this worker users another one may have evicted), and kept by this worker's own evictions between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

import numpy as np

from recstream.models.errors import ArtefactError
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.online.users import UserState, evict, idle_users, readmit, user_state
from recstream.models.store.user_states import UserStates

log = logging.getLogger("recstream.worker")


class EvictedIds:
    """A set of user ids as sorted 64-bit hashes (Python's: built and read in one process). A collision only
    costs a database read that finds nothing."""

    MERGE_AT = 65_536

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._sorted = np.unique(np.fromiter((hash(u) for u in ids), dtype=np.int64))
        self._new: set[int] = set()

    def add(self, ids: Iterable[str]) -> None:
        self._new.update(hash(u) for u in ids)
        if len(self._new) >= self.MERGE_AT:
            self._sorted = np.union1d(self._sorted, np.fromiter(self._new, dtype=np.int64, count=len(self._new)))
            self._new.clear()

    def __contains__(self, user_id: str) -> bool:
        h = hash(user_id)
        if h in self._new:
            return True
        at = int(np.searchsorted(self._sorted, h))
        return at < len(self._sorted) and int(self._sorted[at]) == h

    def __len__(self) -> int:
        return len(self._sorted) + len(self._new)


class Eviction:
    def __init__(self, store: UserStates, after_s: float, batch: int) -> None:
        self.store, self.after_s, self.batch = store, after_s, batch
        self.ids = EvictedIds(store.ids())  # (at start, before any event is learned)
        self.evicted = self.readmitted = 0

    async def reload(self) -> None:
        """Read which users are stored again (at a partition assignment: other workers evict too)."""
        self.ids = EvictedIds(await asyncio.to_thread(self.store.ids))

    def state(self) -> dict:
        """/healthz: the setting, and users moved out and read back since the worker started."""
        return {"after_s": self.after_s, "evicted": self.evicted, "readmitted": self.readmitted,
                "stored_users_known": len(self.ids)}

    def missing(self, online: OnlineRecommender, user_ids: Sequence[str]) -> list[str]:
        """Those of `user_ids` the learner does not hold but that may have a stored state."""
        return sorted({u for u in user_ids if not online.holds(u) and u in self.ids})

    async def readmit(self, online: OnlineRecommender, user_ids: Sequence[str]) -> int:
        """Read back the stored state of any of `user_ids` the learner lacks; how many came back."""
        wanted = self.missing(online, user_ids)
        if not wanted:
            return 0
        states = await asyncio.to_thread(self.store.get_many, wanted)
        back, now = 0, online.seen.latest_ts()
        for user, data in states.items():
            if online.holds(user):
                continue  # learned afresh while the database was read
            try:
                state = UserState.from_bytes(data)
            except ArtefactError as exc:
                log.warning("the stored state of user %r cannot be read (%s): the user starts afresh", user, exc)
                continue
            readmit(online, user, state, active_ts=now)  # active now: not evicted again before its event is learned
            back += 1
        self.readmitted += back
        return back

    async def evict(self, online: OnlineRecommender, lock: asyncio.Lock) -> int:
        """One pass: up to `batch` users idle for `after_s` (event time) written, then dropped; how many."""
        latest = online.seen.latest_ts()
        cutoff = latest - self.after_s
        async with lock:  # not while a checkpoint serialises the learner
            users = idle_users(online, cutoff, self.batch)
            states: dict[str, UserState] = {u: s for u in users if (s := user_state(online, u)) is not None}
            if not states:
                return 0
            await asyncio.to_thread(self.store.put, {u: s.to_bytes() for u, s in states.items()})
            self.ids.add(states)
            gone = [u for u, s in states.items() if user_state(online, u) == s]  # unchanged while written
            for user in gone:
                evict(online, user)
        self.evicted += len(gone)
        log.debug("evicted %d idle users (no event since %.0f)", len(gone), cutoff)
        return len(gone)
