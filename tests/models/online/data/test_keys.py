"""The partition key is Kafka's: the same murmur2 as the Java client's ports in aiokafka and kafka-python."""

import random

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from recstream.models.data.keys import murmur2, user_partition


def test_murmur2_equals_the_kafka_clients_for_keys_of_every_tail_length():
    rng = random.Random(0)
    for n in range(2_000):
        key = bytes(rng.randrange(256) for _ in range(n % 37))
        assert murmur2(key) == aiokafka_murmur2(key) == kafka_python_murmur2(key), key
    assert user_partition("u-42", 12) == (aiokafka_murmur2(b"u-42") & 0x7FFFFFFF) % 12
