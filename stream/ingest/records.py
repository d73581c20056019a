"""The consumed-message record every stage of the worker passes along."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A consumed Kafka message, as the pipeline needs it (tests and other callers build these; the worker
    passes aiokafka's records on as they are, see `Record`)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Record(Protocol):
    """What the pipeline reads of a consumed message: a `RawRecord`, or aiokafka's own ConsumerRecord (the
    worker passes those along unconverted: building a RawRecord per message cost ~2 us of the hot path)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...
