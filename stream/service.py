"""What one worker holds: settings, the online recommender and the pipeline, wired once."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recstream.models.checkpoint import (
    OnlineCheckpoint,
    events_to_learn_again,
    load_checkpoint,
    register_checkpoint,
    restorable_checkpoints,
)
from recstream.models.db import create_db_engine, require_current_schema
from recstream.models.errors import ArtefactError
from recstream.models.hotswap import DeepSlot, blend
from recstream.models.online import OnlineRecommender
from recstream.models.registry import ModelVersion, Registry
from recstream.monitors.metrics import Snapshot, WorkerMetrics

from .directory import Directory, WorkerInfo, user_partition
from .pipeline import DeadLetterSink, Pipeline
from .prepare import Preparer, PreparerProcess
from .runtime import tune_for_throughput
from .settings import Settings
from .topics import Topics

if TYPE_CHECKING:
    from .ingest import IngestLoop

log = logging.getLogger("recstream.worker")


def _reachable_host(bind: str) -> str:
    """The host other workers reach this one at, when RECSTREAM_ADVERTISED_URL is not set."""
    return socket.gethostname() if bind in ("0.0.0.0", "::", "") else bind


@dataclass
class WorkerState:
    settings: Settings
    recommender: OnlineRecommender
    topics: Topics
    deep: DeepSlot
    started_at: float = field(default_factory=time.time)
    pipeline: Pipeline | None = None
    #: the latest drift report's summary (id, drifted, drift_share), refreshed by the probe-flush task
    drift_summary: dict[str, Any] | None = None
    #: the online checkpoint this learner's state comes from or was last saved as (None: from scratch)
    online_checkpoint: ModelVersion | None = None
    #: who consumes which partition (None: no database-backed directory, e.g. in unit tests)
    directory: Directory | None = None
    #: behaviour-topic partitions this worker consumes now, and how many the topic has
    assigned: tuple[int, ...] = ()
    n_partitions: int = 0
    #: partition -> the worker consuming it, as of the last directory read
    owners: dict[int, WorkerInfo] = field(default_factory=dict)
    #: requests this worker forwarded to the owner of the user's partition
    forwarded: int = 0
    #: the running ingest loop (its failure, rebalance and misrouted-key counts feed /metrics)
    ingest_loop: IngestLoop | None = None
    metrics: WorkerMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = WorkerMetrics(self.snapshot)
        self._checkpoint_due = time.monotonic() + (self.settings.checkpoint_interval_s or 0)
        self._checkpointing: asyncio.Future | None = None
        self._checkpointed_learned = self.recommender.events_learned
        #: a restored window of learned ids, waiting for the pipeline (restored before attach())
        self._restored_recent: Any = None
        # Held while this worker registers + promotes a checkpoint, and while it compares the live one with its
        # own: between those two steps the previous checkpoint is still live and would look like a rollback.
        self._online_lock = threading.Lock()
        self._refused_online: int | None = None

    @property
    def source(self) -> str:
        """How this worker names itself in the rows it writes (model-output probes)."""
        return f"{socket.gethostname()}:{self.settings.web_port}"

    @classmethod
    def create(cls, settings: Settings) -> WorkerState:
        tune_for_throughput()  # BLAS threads and GC thresholds: see runtime.py
        from recstream.models import kernels  # numba: only processes that learn import it

        kernels.warm_up()  # compile (or load) the learner's loops now, not during the first batch
        engine = create_db_engine(settings.database_url)
        require_current_schema(engine)  # fail here, clearly, not in the helper process later
        registry = Registry(engine)
        deep = DeepSlot(registry, settings.artefact_keys, settings.canary_share)
        state = cls(settings, OnlineRecommender(settings.online_config()), Topics.from_settings(settings), deep)
        state.directory = Directory(engine, group_id=settings.group_id, source=state.source,
                                    url=settings.advertised_url or f"http://{_reachable_host(settings.web_host)}"
                                                                   f":{settings.web_port}",
                                    stale_after_s=settings.worker_stale_s)
        return state

    @property
    def registry(self) -> Registry:
        return self.deep.registry

    def attach(self, dead_letters: DeadLetterSink) -> Pipeline:
        s = self.settings
        preparer = PreparerProcess(s) if s.prepare_in_process else Preparer.from_settings(s)
        self.pipeline = Pipeline(preparer, self.recommender, dead_letters, learn_chunk=s.learn_chunk,
                                 dedupe_window=s.dedupe_window, observe=self.metrics.learn_batch_seconds.observe)
        if self._restored_recent is not None:
            self.pipeline.recent, self._restored_recent = self._restored_recent, None
        return self.pipeline

    # ---- start-up and rebalances ---------------------------------------------------------------------------
    async def choose_start(self, committed: dict[str, int | None]) -> dict[str, int]:
        """At the first assignment: restore the checkpoint that leaves the fewest events to learn again for the
        partitions this worker got (its own newest after a restart, the live one when it joins), and return the
        offsets it reflects. `committed` is the group's committed offset per assigned partition."""
        found = await asyncio.get_running_loop().run_in_executor(None, self._pick_checkpoint, committed)
        if found is None:
            return {}
        version, ckpt = found
        self.restore(version, ckpt)
        return ckpt.offsets

    def _pick_checkpoint(self, committed: dict[str, int | None]) -> tuple[ModelVersion, OnlineCheckpoint] | None:
        ranked = sorted(restorable_checkpoints(self.registry),
                        key=lambda v: (events_to_learn_again(v, committed), -v.id))
        for version in ranked:
            try:
                ckpt = load_checkpoint(version, self.settings.artefact_keys)
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

    async def on_assignment(self, partitions: list[int], n_partitions: int) -> None:
        """A rebalance gave this worker `partitions` of the behaviour topic: tell the other workers."""
        self.assigned, self.n_partitions = tuple(partitions), n_partitions
        if self.directory is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.directory.announce, partitions, n_partitions)
            await self.refresh_owners()
        except Exception as exc:  # noqa: BLE001 - routing degrades to local answers; the heartbeat retries
            log.warning("cannot record this worker's partitions in the directory (%s); requests for users of "
                        "other workers' partitions are answered here meanwhile", exc)

    async def refresh_owners(self, heartbeat: bool = False) -> None:
        """(The directory task, every RECSTREAM_WORKER_HEARTBEAT_S.) Touch this worker's row, read the others."""
        if self.directory is None:
            return
        loop = asyncio.get_running_loop()
        if heartbeat:
            await loop.run_in_executor(None, self.directory.heartbeat)
        self.owners = await loop.run_in_executor(None, self.directory.owners)

    def owner_of(self, user_id: str) -> WorkerInfo | None:
        """The other worker that holds `user_id`'s state, or None when this worker should answer: it owns the
        user's partition, or nobody else is known to (alone, or mid-rebalance)."""
        if not self.n_partitions or not self.owners:
            return None
        p = user_partition(user_id, self.n_partitions)
        if p in self.assigned:
            return None
        owner = self.owners.get(p)
        return owner if owner is not None and owner.source != self.source else None

    # ---- online checkpoints --------------------------------------------------------------------------------
    def maybe_checkpoint(self, committed: dict[str, int]) -> None:
        """After a commit: every RECSTREAM_CHECKPOINT_INTERVAL_S, serialise the learner with the offsets it
        reflects (here, between batches, so nothing mutates it), then write and register it in a thread."""
        interval = self.settings.checkpoint_interval_s
        if not interval or time.monotonic() < self._checkpoint_due or self.pipeline is None:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        if self.recommender.events_learned == self._checkpointed_learned:
            return  # nothing new since the last checkpoint
        self._checkpoint_due = time.monotonic() + interval
        learned, offsets = self.recommender.events_learned, dict(committed)
        data = OnlineCheckpoint(self.recommender, offsets, {"recent_ids": self.pipeline.recent}).dumps()
        self._checkpointed_learned = learned
        parent = self.online_checkpoint.id if self.online_checkpoint else None
        self._checkpointing = asyncio.get_running_loop().run_in_executor(None, self._write_checkpoint, data,
                                                                           offsets, learned, parent)

    def _write_checkpoint(self, data: bytes, offsets: dict[str, int], learned: int, parent: int | None) -> None:
        s = self.settings
        try:
            with self._online_lock:
                v = register_checkpoint(self.registry, data, offsets=offsets, events_learned=learned,
                                        directory=s.artefact_dir / "online", key=s.artefact_keys,
                                        source=f"worker:{self.source}", keep=s.checkpoint_keep, parent_id=parent,
                                        on_registered=lambda v: setattr(self, "online_checkpoint", v))
        except Exception as exc:  # a full disk or a database blip must not stop ingestion; the next one retries
            log.warning("online checkpoint failed (%s); retrying at the next interval", exc)
            return
        log.info("online checkpoint %s: %d events learned, %.1f MB, offsets %s", v.name, learned,
                 len(data) / 1e6, offsets)

    def follow_online(self) -> tuple[ModelVersion, OnlineCheckpoint] | None:
        """(In a thread.) The live online checkpoint, loaded, when an operator made another one live than the one
        this worker has: a rollback. None when nothing changed."""
        with self._online_lock:
            live, mine = self.registry.live("online"), self.online_checkpoint
        # Only an older checkpoint becoming live again is a rollback: a newer one is another worker's checkpoint
        # (each worker restores only its own line of state; see README "Online checkpoints").
        if live is None or mine is None or live.id >= mine.id or live.id == self._refused_online:
            return None
        try:
            ckpt = load_checkpoint(live, self.settings.artefact_keys)
        except ArtefactError as exc:
            self._refused_online = live.id
            log.error("refusing to restore %s: %s; the current online model keeps learning", live.name, exc)
            return None
        return live, ckpt

    def restore(self, version: ModelVersion, ckpt: OnlineCheckpoint) -> None:
        """Swap in a restored learner: at start, or between batches after a rollback (new events then continue
        from the current offsets)."""
        self.recommender = ckpt.recommender
        recent = ckpt.extra.get("recent_ids")
        if self.pipeline is not None:
            self.pipeline.recommender = ckpt.recommender
            if recent is not None:
                self.pipeline.recent = recent
        else:
            self._restored_recent = recent
        self.online_checkpoint = version
        self._checkpointed_learned = ckpt.recommender.events_learned
        log.info("online model restored from %s (%d events learned)", version.name,
                 ckpt.recommender.events_learned)

    @property
    def online_version(self) -> str:
        return f"online:{self.recommender.config.algorithm}"

    def recommend(self, user_id: str, k: int, exclude_seen: bool = True) -> dict:
        deep = self.deep.choose(user_id)  # held for the whole request: a swap meanwhile does not touch it
        rec, used_deep = blend(self.recommender, deep, user_id, k, exclude_seen, self.settings.deep_weight)
        deep_name = deep.version.name if deep is not None and used_deep else None
        return {
            "user_id": user_id,
            "rec_id": uuid.uuid4().hex,
            "items": [{"item_id": i, "score": round(s, 6)} for i, s in zip(rec.items, rec.scores)],
            "source": rec.source,
            # Feedback events echo `model_version` (the released version that shaped the list, for A/B stats);
            # `model_versions` names every model that contributed.
            "model_version": deep_name or self.online_version,
            "model_versions": {"online": self.online_version, "deep": deep_name},
            "canary": deep is not None and used_deep and deep is self.deep.canary,
            "events_learned": self.recommender.events_learned,
        }

    def snapshot(self) -> Snapshot:
        """Metrics at scrape time, from counters the pipeline keeps anyway."""
        r, p = self.recommender, self.pipeline
        deep = {role: slot.version.name for role, slot in (("live", self.deep.live), ("canary", self.deep.canary))
                if slot is not None}
        drift = self.drift_summary or {}
        return Snapshot(
            consumed=p.stats.consumed if p else 0, stored=p.stats.stored if p else 0,
            learned=p.stats.learned if p else 0, duplicates=p.stats.duplicates if p else 0,
            batch_failures=self.ingest_loop.failures if self.ingest_loop else 0,
            rebalances=self.ingest_loop.rebalances if self.ingest_loop else 0,
            misrouted_keys=self.ingest_loop.misrouted if self.ingest_loop else 0,
            broker_up=self.ingest_loop.broker_up if self.ingest_loop else None,
            broker_failed_probes=self.ingest_loop.broker_errors if self.ingest_loop else 0,
            forwarded=self.forwarded, assigned_partitions=len(self.assigned),
            dead_lettered=dict(p.stats.dead_lettered) if p else {}, lag=dict(p.stats.lag) if p else {},
            prequential_recall_at_10=r.recall_at_10, deep_versions=deep,
            drift_share=drift.get("drift_share"), drift_detected=bool(drift.get("drifted")) if drift else None,
            drift_report_id=drift.get("id"))

    def health(self) -> dict:
        r = self.recommender
        return {"status": "ok", "uptime_s": round(time.time() - self.started_at, 1), "users": r.n_users,
                "items": r.n_items, "events_learned": r.events_learned,
                "prequential_recall_at_10": None if r.recall_at_10 is None else round(r.recall_at_10, 4),
                "prequential_trials": r.prequential_trials,
                "deep": self.deep.state(),
                "drift": self.drift_summary,
                "online_checkpoint": self.online_checkpoint.name if self.online_checkpoint else None,
                "worker": self.source, "partitions": list(self.assigned),
                "broker": {"up": self.ingest_loop.broker_up, "failed_probes": self.ingest_loop.broker_errors}
                if self.ingest_loop else None,
                # the workers of this consumer group and their partitions, as of the last directory read
                "group": sorted((w.as_dict() for w in {w.source: w for w in self.owners.values()}.values()),
                                key=lambda w: w["source"]),
                "pipeline": self.pipeline.stats.as_dict() if self.pipeline else None}
