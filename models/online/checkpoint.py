"""Checkpoints of the online learner, registered as versions of kind "online".

A checkpoint holds the learner's whole state (River model, item matrix, popularity, seen items), whatever
the worker adds (its dedupe window), and the Kafka offsets it reflects: the next offset per partition after
the last batch it learned. A restarted worker restores the newest live checkpoint and re-reads from those
offsets, so nothing is lost and nothing is learned twice; rolling the "online" kind back restores an older
state.

The state is pickled (River models are plain Python objects). Unpickling runs code, so a checkpoint is loaded
only after its sha256 (and, with RECSTREAM_ARTEFACT_KEY, its HMAC) matched the registry — set the key wherever
the artefact directory is shared.
"""

from __future__ import annotations

import io
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recstream.models.artefacts import storage
from recstream.models.artefacts.files import read_verified, write_artefact
from recstream.models.artefacts.keys import ArtefactKeys
from recstream.models.errors import ArtefactError
from recstream.models.online import legacy
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.registry import ModelVersion, Registry

FORMAT = 1


class _SharingPickler(pickle.Pickler):
    """A pickler that runs a line of Python per object, so a thread pickling a large state gives up the GIL at
    every switch interval (5 ms). `pickle.dumps` is one C call that holds it throughout: a worker's requests
    waited for the whole dump (40-90 ms at 2,000 users, bench/soak.py; seconds at a million). The output is a
    plain pickle."""

    def persistent_id(self, obj: object) -> None:  # called for every object: that is the point
        return None


@dataclass
class OnlineCheckpoint:
    recommender: OnlineRecommender
    #: "topic:partition" -> the next offset to read: the first event this state has not learned
    offsets: dict[str, int]
    #: anything else the worker needs back (e.g. its window of recently learned event ids)
    extra: dict[str, Any] = field(default_factory=dict)

    def dumps(self) -> bytes:
        """Serialise now, while nothing mutates the learner. From a thread, other threads (a worker's event loop,
        serving requests) keep running meanwhile: see `_SharingPickler`."""
        out = io.BytesIO()
        _SharingPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(
            {"format": FORMAT, "recommender": self.recommender, "offsets": self.offsets, "extra": self.extra})
        return out.getvalue()

    @classmethod
    def loads(cls, data: bytes, where: str) -> OnlineCheckpoint:
        payload = legacy.loads(data)  # a pickle: loaded only after read_verified() matched the registry's digest
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ArtefactError(f"online checkpoint {where} has an unknown format; restore a newer recstream "
                                "or roll the online model back to a checkpoint this version wrote")
        return cls(payload["recommender"], dict(payload["offsets"]), dict(payload.get("extra") or {}))


def offset_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def register_checkpoint(registry: Registry, data: bytes, *, offsets: dict[str, int], events_learned: int,
                        directory: str | Path, key: bytes | ArtefactKeys | None, source: str, keep: int = 5,
                        parent_id: int | None = None,
                        on_registered: Callable[[ModelVersion], None] | None = None) -> ModelVersion:
    """Write a serialised checkpoint, register it and make it the live "online" version (the previous one
    retires); `parent_id` is the checkpoint this state grew from. Files of retired checkpoints beyond the
    newest `keep` are deleted.

    `on_registered` runs before the promotion: a worker that follows the registry must know its own checkpoint
    before it sees it live, or it would "restore" the state it already has (and lose what it learned since).
    """
    name = f"online-{int(time.time() * 1000)}.ckpt"
    path, digest, signature = write_artefact(data, directory, name, key)
    version = registry.register("online", artefact=path, sha256=digest, signature=signature,
                                parent_id=parent_id, n_interactions=events_learned, actor=source,
                                reason="checkpoint",
                                params={"offsets": offsets, "source": source, "bytes": len(data)})
    if on_registered is not None:
        on_registered(version)
    registry.promote(version.id, actor=source, reason="checkpoint")
    _prune(registry, keep)
    return registry.get(version.id)


def _prune(registry: Registry, keep: int) -> None:
    """Retired checkpoints beyond the newest `keep` lose their file (their registry rows stay, as history).
    Rolled-back ones are kept: an operator may want to look at what was rolled back."""
    old = [v for v in registry.list(kind="online") if v.status == "retired"][keep:]
    for v in old:
        if v.artefact:
            storage.delete(v.artefact)


def restorable_checkpoints(registry: Registry, limit: int = 50) -> list[ModelVersion]:
    """Checkpoints a starting worker may resume from: the live one, and every other one written since the last
    operator rollback of the online kind whose file is still there (each worker writes its own line of them; a
    rolled-back state, or one from before a rollback, is never resumed)."""
    live = registry.live("online")
    since = registry.last_rollback_at("online") or 0.0
    found = [live] if live is not None else []
    for v in registry.list(kind="online", limit=limit):
        if (v.status == "retired" and v.created_at > since and v.artefact and storage.exists(v.artefact)
                and (live is None or v.id != live.id)):
            found.append(v)
    return found


def events_to_learn_again(version: ModelVersion, committed: dict[str, int | None]) -> int:
    """How many events of these partitions ("topic:partition" -> the group's committed offset) a worker resuming
    from `version` learns again: those committed after the checkpoint's offsets."""
    offsets = (version.params or {}).get("offsets") or {}
    return sum(max((c or 0) - int(offsets.get(k, 0)), 0) for k, c in committed.items())


def load_checkpoint(version: ModelVersion, key: bytes | ArtefactKeys | None) -> OnlineCheckpoint:
    if not version.artefact or not version.sha256:
        raise ArtefactError(f"{version.name} has no artefact to restore")
    return OnlineCheckpoint.loads(read_verified(version.artefact, version.sha256, version.signature, key),
                                  version.name)
