"""Dead letters as rows, for the operator console: the newest with their reasons, counts by code.

The dead-letter topic stays the record (the original bytes, to fix and replay); this table is its index: a page
of the newest 50 and the counts by code are two indexed queries, where reading the topic's tail would cost a
Kafka consumer per page view. One row per source offset, so a batch dead-lettered again after a failed commit is
kept once; `prune` keeps the newest rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from recstream.models.store.schema import dead_letters

#: how much of a refused message's value is kept as text (the topic has all of it)
VALUE_HEAD = 512


@dataclass(frozen=True)
class DeadLetter:
    code: str
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    failed_at: float
    key: str | None = None
    value_head: str | None = None

    @classmethod
    def of(cls, code: str, reason: str, topic: str, partition: int, offset: int, failed_at: float,
           key: bytes | None, value: bytes | None) -> DeadLetter:
        text = (lambda b: None if b is None else b[:VALUE_HEAD].decode("utf-8", errors="replace"))
        return cls(code, reason, topic, partition, offset, failed_at, text(key), text(value))


class DeadLetterLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        self._insert = dialect.insert(dead_letters).on_conflict_do_nothing()

    def add(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            with self.engine.begin() as conn:
                conn.execute(self._insert, [asdict(d) for d in letters])

    def newest(self, limit: int = 50, code: str | None = None) -> list[dict[str, Any]]:
        q = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
        if code is not None:
            q = q.where(dead_letters.c.code == code)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def counts(self) -> dict[str, int]:
        """Dead letters kept, by code."""
        q = select(dead_letters.c.code, func.count()).group_by(dead_letters.c.code)
        with self.engine.connect() as conn:
            return {code: n for code, n in conn.execute(q)}

    def prune(self, keep: int) -> int:
        """Delete all but the newest `keep` rows; how many went."""
        with self.engine.begin() as conn:
            edge = conn.execute(select(dead_letters.c.id).order_by(dead_letters.c.id.desc())
                                .offset(keep).limit(1)).scalar()
            if edge is None:
                return 0
            return conn.execute(delete(dead_letters).where(dead_letters.c.id <= edge)).rowcount
