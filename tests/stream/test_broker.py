"""The embedded broker's command line: storage engines it has, refused ones named with what to use instead."""

import pytest

from recstream.models.errors import ConfigError
from recstream.stream.kafka.broker import EmbeddedBroker


def test_memory_storage_by_default_and_s3_when_asked():
    assert EmbeddedBroker(port=9999).command()[-2:] == ["--storage-engine", "memory://tansu/"]
    b = EmbeddedBroker(port=9999, storage="s3://events/", env={"AWS_ENDPOINT": "http://127.0.0.1:9000"})
    assert b.command()[-2:] == ["--storage-engine", "s3://events/"]
    assert "--listener-url" in b.command() and "tcp://127.0.0.1:9999" in b.command()


@pytest.mark.parametrize("storage", ["postgres://localhost/tansu", "sqlite://tansu.db", "/tmp/tansu", ""])
def test_storage_engines_the_binary_lacks_are_refused_before_starting(storage):
    with pytest.raises(ConfigError, match="memory://tansu/ or s3://BUCKET/"):
        EmbeddedBroker(port=9999, storage=storage)
