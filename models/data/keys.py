"""The partition key: which partition Kafka's default partitioner (murmur2, as in the Java client, kafka-python
and aiokafka) puts a record keyed by `user_id` on. Workers route requests by it, the ingest loop checks producers
against it, and the served-quality replay splits users over learners by it: one rule, here."""

from __future__ import annotations

_M, _MASK = 0x5BD1E995, 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747B28C."""
    length = len(data)
    h = 0x9747B28C ^ length
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[length - length % 4:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def user_partition(user_id: str | bytes, n_partitions: int) -> int:
    """The partition Kafka's default partitioner puts a record keyed `user_id` on."""
    key = user_id.encode() if isinstance(user_id, str) else user_id
    return (murmur2(key) & 0x7FFFFFFF) % n_partitions
