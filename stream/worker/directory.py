"""Which worker owns a user: Kafka's default partitioner for the user's partition, the `workers` table for the
worker consuming it now. Several workers in one consumer group each hold the state of their partitions only, so a
request for a user must be answered by the worker that consumes that user's partition.

Each worker writes its assignment (and the URL other workers reach it at) when a rebalance hands it partitions,
and touches its row every few seconds; a row not touched for RECSTREAM_WORKER_STALE_S belongs to a worker that
died and is ignored. Producers must key events by user_id with Kafka's default (murmur2) partitioner, as the Java
client, kafka-python and aiokafka do; librdkafka clients need `partitioner=murmur2_random`. The worker checks the
first record of every fetched partition and counts keys found elsewhere (`recstream_misrouted_keys_total`).
"""

from __future__ import annotations

import hmac
import logging
import time
import urllib.parse
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from recstream.models.artefacts.files import sign
from recstream.models.store.schema import workers

log = logging.getLogger("recstream.worker")


def plain_base_url(url: str) -> bool:
    """Whether `url` is a worker's base URL: http(s), a host, maybe a port, nothing else (no credentials, path,
    query or fragment that could turn a forwarded request into another one)."""
    try:
        u = urllib.parse.urlsplit(url)
        port_ok = u.port is None or 0 < u.port < 65536
    except ValueError:
        return False
    return (u.scheme in ("http", "https") and bool(u.hostname) and port_ok and not u.username and not u.password
            and u.path in ("", "/") and not u.query and not u.fragment)


@dataclass(frozen=True)
class WorkerInfo:
    source: str
    url: str
    partitions: tuple[int, ...]
    n_partitions: int
    assigned_at: float
    heartbeat_at: float

    def as_dict(self) -> dict:
        return {"source": self.source, "url": self.url, "partitions": list(self.partitions),
                "n_partitions": self.n_partitions, "heartbeat_age_s": round(time.time() - self.heartbeat_at, 1)}


class Directory:
    """This worker's row in `workers`, and a view of the others in its consumer group (blocking: call in a
    thread)."""

    def __init__(self, engine: Engine, *, group_id: str, source: str, url: str, stale_after_s: float,
                 key: bytes | None = None) -> None:
        self.engine = engine
        self.group_id = group_id
        self.source = source
        self.url = url.rstrip("/")
        self.stale_after_s = stale_after_s
        #: with a key (RECSTREAM_ARTEFACT_KEY, which every worker of a deployment shares), rows are signed and
        #: only signed rows are peers: a row someone wrote straight into the database is never fetched
        self.key = key
        self._refused: set[str] = set()

    def sign(self, source: str, url: str) -> str | None:
        if self.key is None:
            return None
        return sign(f"{self.group_id}\n{source}\n{url}".encode(), self.key)

    def trusted(self, source: str, url: str, signature: str | None) -> bool:
        """A row this worker may forward to: a plain base URL, signed by a worker of the group when keys are set."""
        expected = self.sign(source, url)
        ok = plain_base_url(url) and (expected is None or (signature is not None and hmac.compare_digest(
            signature.encode(), expected.encode())))
        if not ok and source not in self._refused:  # once per row: it is read every heartbeat
            self._refused.add(source)
            log.warning("the workers table has a row for %r at %r that no worker of this group signed (or not a "
                        "base URL): it is ignored, nothing is forwarded to it", source, url)
        return ok

    def announce(self, partitions: list[int], n_partitions: int) -> None:
        """Record the partitions a rebalance gave this worker (an empty list while it holds none)."""
        now = time.time()
        values = {"group_id": self.group_id, "url": self.url, "partitions": sorted(partitions),
                  "n_partitions": n_partitions, "assigned_at": now, "heartbeat_at": now,
                  "signature": self.sign(self.source, self.url)}
        with self.engine.begin() as conn:
            # Only this worker writes its row, so update-then-insert needs no dialect-specific upsert.
            if not conn.execute(update(workers).where(workers.c.source == self.source).values(**values)).rowcount:
                conn.execute(insert(workers).values(source=self.source, **values))

    def heartbeat(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(workers).where(workers.c.source == self.source).values(heartbeat_at=time.time()))

    def leave(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(workers).where(workers.c.source == self.source))

    def prune(self, older_than_s: float = 3600.0) -> int:
        """Delete rows of workers gone for longer than `older_than_s` (they stopped without leaving)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(workers).where(workers.c.group_id == self.group_id,
                                                      workers.c.heartbeat_at < time.time() - older_than_s)).rowcount

    def workers(self) -> list[WorkerInfo]:
        """Live workers of this group (heartbeat within the stale limit), newest assignment first."""
        since = time.time() - self.stale_after_s
        q = (select(workers).where(workers.c.group_id == self.group_id, workers.c.heartbeat_at >= since)
             .order_by(workers.c.assigned_at.desc()))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [WorkerInfo(r.source, r.url, tuple(r.partitions or ()), r.n_partitions, r.assigned_at, r.heartbeat_at)
                for r in rows if self.trusted(r.source, r.url, r.signature)]

    def owners(self) -> dict[int, WorkerInfo]:
        """partition -> the live worker that owns it (see `claims`)."""
        return claims(self.workers())


def claims(live: list[WorkerInfo]) -> dict[int, WorkerInfo]:
    """partition -> the worker claiming it, of `live` (newest assignment first). During a rebalance two rows may
    claim a partition for a moment: the newer assignment wins."""
    owners: dict[int, WorkerInfo] = {}
    for w in live:
        for p in w.partitions:
            owners.setdefault(p, w)
    return owners
