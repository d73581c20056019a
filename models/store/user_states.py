"""Cold users' online state, evicted from a worker's memory (models/online/users.py): written when a worker
evicts them, read when one of them comes back."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from sqlalchemy import Engine, delete, func, insert, select

from recstream.models.store.schema import user_states

#: ids per IN (...) clause
_BATCH = 500


class UserStates:
    def __init__(self, engine: Engine, source: str = "") -> None:
        self.engine, self.source = engine, source

    def put(self, states: Mapping[str, bytes]) -> None:
        """Store `states` (each a serialised models/online/users.py UserState), replacing any stored for the
        same users."""
        if not states:
            return
        ids, now = list(states), time.time()
        with self.engine.begin() as conn:
            for i in range(0, len(ids), _BATCH):
                conn.execute(delete(user_states).where(user_states.c.user_id.in_(ids[i:i + _BATCH])))
            conn.execute(insert(user_states), [{"user_id": u, "state": states[u].decode(),
                                                "evicted_at": now, "source": self.source} for u in ids])

    def get_many(self, user_ids: Iterable[str]) -> dict[str, bytes]:
        """The stored states of those of `user_ids` that have one (kept: see stream/worker/eviction.py)."""
        wanted, out = sorted(set(user_ids)), {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _BATCH):
                for row in conn.execute(select(user_states.c.user_id, user_states.c.state)
                                        .where(user_states.c.user_id.in_(wanted[i:i + _BATCH]))):
                    out[row.user_id] = row.state.encode()
        return out

    def ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(user_states.c.user_id)).scalars())

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(user_states)).scalar_one())
