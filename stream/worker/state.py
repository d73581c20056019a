"""What one worker holds: the online learner, the deep versions it serves, its pipeline, and the parts that
keep them (checkpoints, routing, metrics), wired once by `WorkerState.create`."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recstream.models.catalogue.catalogue import Catalogue
from recstream.models.data.interaction import InteractionColumns
from recstream.models.online.checkpoint import OnlineCheckpoint, offset_key
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.ask import Ask
from recstream.models.serving.blend_tuner import ServedJudge
from recstream.models.serving.explain import explain
from recstream.models.serving.filters import Filters, deny_mask
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.serving.mix import ServedMix
from recstream.models.serving.new_items import catalogue_created_at
from recstream.models.serving.recipe import ServedRecipe
from recstream.models.serving.similar import similar
from recstream.models.store.db import create_db_engine, require_current_schema
from recstream.models.store.dead_letters import DeadLetterLog
from recstream.models.store.items import ItemStore
from recstream.models.store.registry import ModelVersion, Registry
from recstream.models.store.user_states import UserStates
from recstream.monitors.metrics import Snapshot, WorkerMetrics
from recstream.stream.ingest.dead_letters import KeptDeadLetters
from recstream.stream.ingest.pipeline import DeadLetterSink, Pipeline
from recstream.stream.ingest.prepare import Preparer, PreparerProcess
from recstream.stream.ingest.runtime import tune_for_throughput
from recstream.stream.kafka.topics import Topics
from recstream.stream.settings import Settings
from recstream.stream.worker.answers import recommendation_answer
from recstream.stream.worker.checkpoints import CheckpointKeeper
from recstream.stream.worker.database import DatabaseProbe
from recstream.stream.worker.directory import Directory
from recstream.stream.worker.eviction import Eviction
from recstream.stream.worker.routing import Router

if TYPE_CHECKING:
    from recstream.stream.ingest.catalogue_feed import CatalogueFeed
    from recstream.stream.ingest.delta_publisher import DeltaPublisher
    from recstream.stream.ingest.loop import IngestLoop
    from recstream.stream.ingest.peer_feed import PeerFeed

log = logging.getLogger("recstream.worker")
NO_FILTERS = Filters()


def worker_source(settings: Settings) -> str:
    """How a worker names itself in the rows it writes (directory, model-output probes, checkpoints)."""
    return f"{socket.gethostname()}:{settings.serving.web_port}"


def _advertised_url(settings: Settings) -> str:
    """The URL other workers reach this one at (RECSTREAM_ADVERTISED_URL, else the bound host and port)."""
    bind = settings.serving.web_host
    host = socket.gethostname() if bind in ("0.0.0.0", "::", "") else bind
    return settings.serving.advertised_url or f"http://{host}:{settings.serving.web_port}"


@dataclass
class WorkerState:
    settings: Settings
    recommender: OnlineRecommender
    topics: Topics
    deep: DeepSlot
    router: Router
    checkpoints: CheckpointKeeper
    started_at: float = field(default_factory=time.time)
    pipeline: Pipeline | None = None
    #: the latest drift report's summary (id, drifted, drift_share), refreshed by the probe-flush service
    drift_summary: dict[str, Any] | None = None
    #: the running ingest loop (its failure, rebalance and misrouted-key counts feed /metrics)
    ingest_loop: IngestLoop | None = None
    #: other workers' item-side deltas in, this worker's out (None: RECSTREAM_SHARE_ITEMS=false)
    peer_feed: PeerFeed | None = None
    delta_publisher: DeltaPublisher | None = None
    #: the shop's catalogue (availability, categories), applied from the items topic by `catalogue_feed`
    catalogue: Catalogue = field(default_factory=Catalogue)
    catalogue_feed: CatalogueFeed | None = None
    metrics: WorkerMetrics = field(init=False)
    database: DatabaseProbe = field(init=False)
    #: how the served list is made (the mix, tuned by its judge; exploration; new items): the replay's recipe too
    recipe: ServedRecipe = field(init=False)
    #: cold users out of memory and back (None: RECSTREAM_ONLINE_EVICT_AFTER_S unset)
    eviction: Eviction | None = field(init=False)

    def __post_init__(self) -> None:
        #: held while the learner changes outside the ingest loop (the peer feed, draining probes) and while a
        #: checkpoint serialises it in a thread: the ingest loop itself waits for that serialisation
        self.learning = asyncio.Lock()
        self.metrics = WorkerMetrics(lambda: snapshot(self))
        self.database = DatabaseProbe(self.deep.registry.engine)
        self.recipe = ServedRecipe(self.settings.serving.recipe())
        #: a restored window of learned ids, waiting for the pipeline (restored before attach())
        self._restored_recent: Any = None
        o = self.settings.online
        self.eviction = None if o.evict_after_s is None else Eviction(
            UserStates(self.registry.engine, self.source), o.evict_after_s, o.evict_batch)

    @classmethod
    def create(cls, settings: Settings) -> WorkerState:
        tune_for_throughput()  # BLAS threads and GC thresholds: see stream/ingest/runtime.py
        from recstream.models.online import kernels  # numba: only processes that learn import it

        kernels.warm_up()  # compile (or load) the learner's loops now, not during the first batch
        engine = create_db_engine(settings.database_url)
        require_current_schema(engine)  # fail here, clearly, not in the helper process later
        registry = Registry(engine)
        source = worker_source(settings)
        directory = Directory(engine, group_id=settings.kafka.group_id, source=source,
                              url=_advertised_url(settings), stale_after_s=settings.serving.worker_stale_s,
                              key=settings.artefacts.keys.sign)
        return cls.of(settings, OnlineRecommender(settings.online.config()),
                      DeepSlot(registry, settings.artefacts.keys, settings.canary.share), source, directory)

    @classmethod
    def of(cls, settings: Settings, online: OnlineRecommender, deep: DeepSlot, source: str,
           directory: Directory | None = None) -> WorkerState:
        """A worker's state from its learner and deep slot. Without a directory it knows no peers and answers
        every user itself: its views then answer in-process (the console bench, the view tests, the served-list
        replay's check) as that worker would."""
        return cls(settings, online, Topics.of(settings.kafka), deep, Router(source, directory),
                   CheckpointKeeper(deep.registry, settings.ingest, settings.artefacts, source))

    @property
    def source(self) -> str:
        return self.router.source

    @property
    def registry(self) -> Registry:
        return self.deep.registry

    def attach(self, dead_letters: DeadLetterSink) -> Pipeline:
        s = self.settings
        parts = (s.database_url, self.topics, s.ingest)
        preparer = PreparerProcess(*parts) if s.ingest.prepare_in_process else Preparer.create(*parts)
        kept = KeptDeadLetters(dead_letters, DeadLetterLog(self.registry.engine))
        self.pipeline = Pipeline(preparer, self.recommender, kept, learn_chunk=s.ingest.learn_chunk,
                                 serving_chunk=s.ingest.learn_chunk_serving,
                                 dedupe_window=s.ingest.dedupe_window,
                                 observe=self.metrics.learn_batch_seconds.observe,
                                 before_learn=self._judge_served, learn_feedback=s.ingest.learn_feedback,
                                 store_items=ItemStore(self.registry.engine).upsert,
                                 readmit=self.eviction.readmit if self.eviction is not None else None)
        if self._restored_recent is not None:
            self.pipeline.recent, self._restored_recent = self._restored_recent, None
        return self.pipeline

    async def choose_start(self, committed: dict[str, int | None]) -> dict[str, int]:
        """At the first assignment: restore the checkpoint that leaves the fewest events to learn again for the
        partitions this worker got, and return the offsets it reflects (`committed`: the group's committed
        offset per assigned partition)."""
        found = await asyncio.get_running_loop().run_in_executor(None, self.checkpoints.best_start, committed)
        if found is None:
            return {}
        self.restore(*found)
        return found[1].offsets

    async def after_batch(self, learned: dict[str, int]) -> None:
        """After each batch, and when idle (the ingest loop's hook; `learned`: its offsets): the item-side
        counts to the peers when due, then a checkpoint when one is due."""
        if self.delta_publisher is not None:
            await self.delta_publisher.after_batch(self.recommender, learned)
        await self.save_checkpoint(learned)

    async def save_checkpoint(self, learned: dict[str, int]) -> None:
        if self.pipeline is not None:
            feed = {"item_deltas": self.peer_feed.saved()} if self.peer_feed is not None else {}
            await self.checkpoints.maybe_save(self.recommender, self.pipeline.recent, learned, feed, self.learning)

    def restore(self, version: ModelVersion, ckpt: OnlineCheckpoint) -> None:
        """Swap in a restored learner: at start, or between batches after a rollback (new events then continue
        from the current offsets)."""
        self.recommender = ckpt.recommender
        recent = ckpt.extra.get("recent_ids")
        if self.peer_feed is not None:  # the peers' events this state holds
            self.peer_feed.restore(peer_positions(ckpt.extra, self.topics.behaviour))
        if self.delta_publisher is not None:
            self.delta_publisher.attach(self.recommender)
        if self.pipeline is not None:
            self.pipeline.recommender = ckpt.recommender
            if recent is not None:
                self.pipeline.recent = recent
        else:
            self._restored_recent = recent
        self.checkpoints.restored(version, ckpt.recommender.events_learned)
        log.info("online model restored from %s (%d events learned)", version.name,
                 ckpt.recommender.events_learned)

    def _judge_served(self, chunk: InteractionColumns) -> Iterator[None]:
        return self.recipe.judgements(self.recommender, self.deep.choose, chunk)

    @property
    def judge(self) -> ServedJudge:
        return self.recipe.judge

    @property
    def mix(self) -> ServedMix:
        """The mix served now: tuned from what users pick next, or as configured."""
        return self.recipe.mix

    @property
    def deep_weight(self) -> float:
        return self.mix.deep

    @property
    def online_version(self) -> str:
        return f"online:{self.recommender.config.algorithm}"

    async def readmit(self, user_id: str) -> None:
        """Before answering a user: back into memory if it was evicted (a checkpoint may be serialising). With
        the database down the user is answered from what memory holds (popular items) rather than refused; their
        next event's batch waits for the database instead, so nothing is learned on a fresh state."""
        if self.eviction is not None and self.eviction.missing(self.recommender, [user_id]):
            try:
                async with self.learning:
                    await self.eviction.readmit(self.recommender, [user_id])
            except Exception as exc:  # noqa: BLE001 - serving goes on without the database (docs/operating.md)
                log.warning("user %r could not be read back (%s): answered from memory", user_id, exc)

    def recommend(self, user_id: str, k: int, exclude_seen: bool = True, filters: Filters = NO_FILTERS,
                  why: bool = False) -> dict:
        deep = self.deep.choose(user_id)  # held for the whole request: a swap meanwhile does not touch it
        online, mix = self.recommender, self.mix
        deny = deny_mask(online, self.catalogue, filters)
        rec, used_deep = self.recipe.serve(
            online, deep, Ask(user_id, k, exclude_seen, deny),
            new_key=(self.catalogue.applied, online.events_learned, online.n_items),
            created_at=lambda: catalogue_created_at(self.catalogue))
        answer = recommendation_answer(user_id, rec, deep, used_deep, self.online_version,
                                       deep is not None and deep is self.deep.canary, self.recommender.events_learned)
        if why:  # ?explain=true
            told = explain(online, user_id, rec.items, deep, mix, used_deep, filters)
            for item, reason in zip(answer["items"], told.pop("items")):
                item["why"] = reason
            answer["explanation"] = told
        return answer

    def similar(self, item_id: str, k: int, filters: Filters = NO_FILTERS) -> dict:
        rec = similar(self.recommender, item_id, k, deny_mask(self.recommender, self.catalogue, filters))
        return {"item_id": item_id, "items": [{"item_id": i, "score": round(s, 6)} for i, s in zip(rec.items, rec.scores)],
                "rules": filters.rules(), "served_by": self.source}


def peer_positions(extra: dict, behaviour: str) -> dict:
    """A checkpoint's place in the peers' deltas; one written before deltas kept where its peer feed had read
    each behaviour partition's raw events ("item_feed": partition -> offset): those events it holds."""
    if "item_deltas" in extra:
        return extra["item_deltas"]
    raw = extra.get("item_feed", {})
    return {"offset": None, "positions": {offset_key(behaviour, int(p)): o for p, o in raw.items()}}


def snapshot(state: WorkerState) -> Snapshot:
    """/metrics at scrape time, read from the counters the state keeps anyway."""
    r, p, loop = state.recommender, state.pipeline, state.ingest_loop
    deep = {role: slot.version.name for role, slot in (("live", state.deep.live), ("canary", state.deep.canary))
            if slot is not None}
    drift = state.drift_summary or {}
    return Snapshot(
        consumed=p.stats.consumed if p else 0, stored=p.stats.stored if p else 0,
        learned=p.stats.learned if p else 0, duplicates=p.stats.duplicates if p else 0,
        batch_failures=loop.failures if loop else 0, rebalances=loop.rebalances if loop else 0,
        misrouted_keys=loop.misrouted if loop else 0, broker_up=loop.broker_up if loop else None,
        broker_failed_probes=loop.broker_errors if loop else 0,
        database_up=state.database.up, database_failed_probes=state.database.failed_probes,
        forwarded=state.router.forwarded, item_feed_events=r.peer_events_learned, assigned_partitions=len(state.router.assigned),
        users_held=r.n_users, users_evicted=state.eviction.evicted if state.eviction else 0,
        users_readmitted=state.eviction.readmitted if state.eviction else 0,
        dead_lettered=dict(p.stats.dead_lettered) if p else {}, lag=dict(p.stats.lag) if p else {},
        prequential_recall_at_10=r.prequential.recall_at_10, deep_versions=deep,
        served_recall_at_10=state.judge.recall_at_10, deep_weight=state.deep_weight,
        drift_share=drift.get("drift_share"), drift_detected=bool(drift.get("drifted")) if drift else None,
        drift_report_id=drift.get("id"))
