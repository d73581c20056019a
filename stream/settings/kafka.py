"""Where the events are: brokers, topics, the consumer group."""

from __future__ import annotations

from pydantic import Field, field_validator

from recstream.stream.settings.base import Component


class KafkaSettings(Component):
    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    topic_behaviour: str = Field("recstream.behaviour", description="topic of user-behaviour events")
    topic_feedback: str = Field("recstream.feedback", description="topic of feedback on served recommendations")
    topic_dead_letter: str = Field("recstream.dead-letter", description="where invalid input goes, with reasons")
    topic_partitions: int = Field(4, ge=1, description="partitions when recstream creates the topics")
    group_id: str = Field("recstream-worker", description="consumer group of the stream workers")
    #: The embedded broker's group join waits about half of this: keep it low in dev and tests.
    session_timeout_s: float = Field(10.0, gt=0, description="Kafka consumer session timeout, seconds")

    @field_validator("bootstrap")
    @classmethod
    def _check_bootstrap(cls, v: str) -> str:
        for server in v.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"RECSTREAM_BOOTSTRAP must be host:port[,host:port], got {v!r}")
        return v
