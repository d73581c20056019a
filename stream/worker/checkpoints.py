"""Keeping the online learner's state: checkpoints with the offsets they reflect, which one to resume from, and
following an operator's rollback of the "online" kind. The learner itself stays with WorkerState."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from recstream.models.artefacts import storage
from recstream.models.errors import ArtefactError
from recstream.models.online.checkpoint import (
    OnlineCheckpoint,
    events_to_learn_again,
    load_checkpoint,
    register_checkpoint,
    restorable_checkpoints,
)
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.registry import ModelVersion, Registry
from recstream.stream.ingest.dedupe import RecentIds
from recstream.stream.settings import ArtefactSettings, IngestSettings

log = logging.getLogger("recstream.worker")

Restorable = tuple[ModelVersion, OnlineCheckpoint]


class CheckpointKeeper:
    """Writes a checkpoint every RECSTREAM_CHECKPOINT_INTERVAL_S (serialised between batches, in a thread)
    and finds the one to restore. `current` is the checkpoint this worker's state comes from or was saved as."""

    def __init__(self, registry: Registry, ingest: IngestSettings, artefacts: ArtefactSettings, source: str,
                 learned: int = 0) -> None:
        self.registry, self.ingest, self.artefacts, self.source = registry, ingest, artefacts, source
        self.current: ModelVersion | None = None
        self._due = time.monotonic() + (ingest.checkpoint_interval_s or 0)
        self._writing: asyncio.Future | None = None
        self._saved_learned = learned
        # Held while this worker registers + promotes a checkpoint, and while it compares the live one with its
        # own: between those two steps the previous checkpoint is still live and would look like a rollback.
        self._lock = threading.Lock()
        self._refused: int | None = None

    def best_start(self, committed: dict[str, int | None]) -> Restorable | None:
        """(In a thread.) The checkpoint that leaves the fewest events to learn again for the partitions whose
        committed offsets are `committed` (this worker's newest after a restart, the live one when it joins)."""
        ranked = sorted(restorable_checkpoints(self.registry),
                        key=lambda v: (events_to_learn_again(v, committed), -v.id))
        for version in ranked:
            try:
                ckpt = load_checkpoint(version, self.artefacts.keys)
            except ArtefactError as exc:
                log.warning("cannot restore the online model from %s (%s); trying an older checkpoint",
                            version.name, exc)
                continue
            log.info("resuming from %s at its offsets %s (%d events of my partitions to learn again)",
                     version.name, ckpt.offsets, events_to_learn_again(version, committed))
            return version, ckpt
        if ranked:
            log.warning("no online checkpoint could be restored; rebuilding the model from the topics")
        return None

    def restored(self, version: ModelVersion, learned: int) -> None:
        self.current, self._saved_learned = version, learned

    async def maybe_save(self, learner: OnlineRecommender, recent: RecentIds, committed: dict[str, int],
                         extra: dict | None = None, learning: asyncio.Lock | None = None) -> None:
        """After a commit, between batches: when a checkpoint is due, serialise the learner with the offsets it
        reflects, then write and register it, each in a thread. The ingest loop waits for the serialisation and
        `learning` (held by whatever else changes the learner) keeps the rest still; requests go on being served."""
        interval = self.ingest.checkpoint_interval_s
        if not interval or time.monotonic() < self._due:
            return
        if self._writing is not None and not self._writing.done():
            return
        if learner.events_learned == self._saved_learned:
            return  # nothing new since the last checkpoint
        self._due = time.monotonic() + interval
        learned, offsets = learner.events_learned, dict(committed)
        ckpt = OnlineCheckpoint(learner, offsets, {"recent_ids": recent, **(extra or {})})
        try:
            async with learning or contextlib.nullcontext():
                data = await asyncio.to_thread(ckpt.dumps)
        except Exception as exc:  # noqa: BLE001 - a checkpoint must not fail the batch it follows
            log.warning("online checkpoint not serialised (%s); retrying at the next interval", exc)
            return
        self._saved_learned = learned
        parent = self.current.id if self.current else None
        self._writing = asyncio.get_running_loop().run_in_executor(None, self._write, data, offsets, learned, parent)

    def _write(self, data: bytes, offsets: dict[str, int], learned: int, parent: int | None) -> None:
        try:
            with self._lock:
                v = register_checkpoint(self.registry, data, offsets=offsets, events_learned=learned,
                                        directory=storage.join(self.artefacts.dir, "online"), key=self.artefacts.keys,
                                        source=f"worker:{self.source}", keep=self.ingest.checkpoint_keep,
                                        parent_id=parent, on_registered=lambda v: setattr(self, "current", v))
        except Exception as exc:  # noqa: BLE001 - a full disk or a database blip must not stop ingestion
            log.warning("online checkpoint failed (%s); retrying at the next interval", exc)
            return
        log.info("online checkpoint %s: %d events learned, %.1f MB, offsets %s", v.name, learned,
                 len(data) / 1e6, offsets)

    def rollback(self) -> Restorable | None:
        """(In a thread.) The live online checkpoint, loaded, when an operator made another one live than the one
        this worker has: a rollback. None when nothing changed."""
        with self._lock:
            live, mine = self.registry.live("online"), self.current
        # Only an older checkpoint becoming live again is a rollback: a newer one is another worker's checkpoint
        # (each worker restores only its own line of state; see docs/design.md "Online checkpoints").
        if live is None or mine is None or live.id >= mine.id or live.id == self._refused:
            return None
        # Each worker promotes its own checkpoints, and two promotions can land out of order: an older checkpoint
        # is then live with no operator involved (bench/soak.py caught a worker "restoring" its peer's state so).
        # Only an operator's rollback since this worker's checkpoint was written is one.
        rolled_back_at = self.registry.last_rollback_at("online")
        if rolled_back_at is None or rolled_back_at < mine.created_at:
            return None
        try:
            ckpt = load_checkpoint(live, self.artefacts.keys)
        except ArtefactError as exc:
            self._refused = live.id
            log.error("refusing to restore %s: %s; the current online model keeps learning", live.name, exc)
            return None
        return live, ckpt
