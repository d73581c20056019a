"""The consumed-message record every stage of the worker passes along."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A consumed Kafka message, as the pipeline needs it (picklable: it crosses to the helper process)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
