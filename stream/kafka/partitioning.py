"""The partition key: which partition Kafka's default partitioner puts a user's events on. The ingest loop checks
producers against it and workers route requests by it, so both read it from here."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def user_partition(user_id: str | bytes, n_partitions: int) -> int:
    """The partition Kafka's default partitioner puts a record keyed `user_id` on."""
    key = user_id.encode() if isinstance(user_id, str) else user_id
    return (murmur2(key) & 0x7FFFFFFF) % n_partitions
