"""Topic names and creation (idempotent: existing topics are left as they are)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from recstream.models.errors import RecstreamError
from recstream.stream.settings import KafkaSettings

log = logging.getLogger(__name__)


class Topics(NamedTuple):
    behaviour: str
    feedback: str
    dead_letter: str
    items: str
    item_deltas: str

    @classmethod
    def of(cls, kafka: KafkaSettings) -> Topics:
        deltas = kafka.topic_item_deltas or f"{kafka.topic_behaviour}.{kafka.group_id}.deltas"
        return cls(kafka.topic_behaviour, kafka.topic_feedback, kafka.topic_dead_letter, kafka.topic_items, deltas)

    def configs(self, name: str) -> dict[str, str]:
        """Topic configuration recstream creates `name` with: the catalogue is compacted (the latest update per
        item is kept for ever: a worker started a year later still learns every item's state from it)."""
        return {"cleanup.policy": "compact"} if name == self.items else {}

    def partitions(self, name: str, default: int) -> int:
        """Partitions recstream creates `name` with: the item deltas are one ordered stream every worker reads
        whole (see stream/ingest/peer_feed.py); the rest are keyed, `default` partitions."""
        return 1 if name == self.item_deltas else default


class KafkaUnavailable(RecstreamError):
    """No Kafka broker answered at the configured bootstrap address."""


def ensure_topics(bootstrap: str, topics: Topics, partitions: int, timeout_s: float = 30.0,
                  security: Mapping[str, Any] | None = None) -> None:
    """Create the topics when missing. Keyed by user_id, so more partitions = more workers can share.
    `security`: KafkaSettings.client_options() for a secured cluster."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="recstream-admin",
                                     request_timeout_ms=10_000, **(security or {}))
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"no Kafka broker answered at {bootstrap} ({exc}): start one with "
                                       "`recstream broker` or set RECSTREAM_BOOTSTRAP") from None
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(name, topics.partitions(name, partitions), 1, topic_configs=topics.configs(name))
                  for name in topics
                  if name not in existing]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", ", ".join(t.name for t in wanted))
    finally:
        admin.close()
