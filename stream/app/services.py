"""The worker's background services beside the ingest loop, each a named loop with one failure policy: a step
that fails is logged once (with what the worker does meanwhile), retried at the next interval, and logged again
when it recovers. Monitoring and routing must never stop ingestion or serving."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from recstream.models.memory import trim_memory
from recstream.models.store.dead_letters import DeadLetterLog
from recstream.models.store.history import History
from recstream.monitors.drift.reports import latest_summary, store_probes
from recstream.stream.worker.samples import Sampler
from recstream.stream.worker.state import WorkerState

#: how often a worker hands freed heap memory back (models/memory.py); a trim of a ~600 MB heap is milliseconds,
#: in a thread without the GIL
TRIM_EVERY_S = 60.0

log = logging.getLogger("recstream.worker")


@dataclass
class Service:
    """`step` every `interval_s` until the app stops. `meanwhile` says what happens while it fails."""

    name: str
    interval_s: float
    step: Callable[[], Awaitable[None]]
    meanwhile: str
    #: wait an interval before the first step (the work is not due at start)
    wait_first: bool = True

    async def run(self, app: Any) -> None:
        failing = False
        while not app.should_stop:
            if self.wait_first:
                await asyncio.sleep(self.interval_s)
            try:
                await self.step()
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                if not failing:
                    log.warning("%s failed (%s); %s", self.name, exc, self.meanwhile)
                failing = True
            else:
                if failing:
                    log.info("%s works again", self.name)
                failing = False
            if not self.wait_first:
                await asyncio.sleep(self.interval_s)


def in_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Blocking work (the database, loading artefacts) off the event loop: requests keep being served."""
    return asyncio.get_running_loop().run_in_executor(None, fn, *args)


def worker_services(state: WorkerState) -> list[Service]:
    s = state.settings

    async def follow_registry() -> None:
        """New live/canary deep versions swap in, and an operator's rollback of the online kind restores."""
        await in_thread(state.deep.poll)
        if state.pipeline is not None:
            rolled_back = await in_thread(state.checkpoints.rollback)
            if rolled_back is not None:
                state.pipeline.between_batches(lambda: state.restore(*rolled_back))

    async def heartbeat() -> None:
        """This worker's row in the directory stays alive; the map of who owns which partition stays fresh."""
        await state.router.refresh(heartbeat=True)

    async def probe_broker() -> None:
        """The broker's state shows in /healthz and /metrics."""
        if state.ingest_loop is not None:
            await state.ingest_loop.probe_broker(timeout_s=max(s.serving.worker_heartbeat_s, 1.0))

    async def record_outputs() -> None:
        """The online model's probes are stored for drift monitoring; the latest drift verdict is read."""
        async with state.learning:  # not while a checkpoint is being serialised (the probes are part of it)
            probes = state.recommender.prequential.drain()
        try:
            await in_thread(store_probes, state.registry.engine, probes, state.source)
        except Exception as exc:
            raise RuntimeError(f"{exc}; {len(probes)} probes dropped") from exc
        state.drift_summary = await in_thread(latest_summary, state.registry.engine)

    async def probe_database() -> None:
        """The database's state shows in /healthz and /metrics (while it is down, batches wait: nothing is
        committed that is not stored, and serving goes on from memory)."""
        await in_thread(state.database.probe)

    sampler, engine = Sampler(), state.registry.engine

    def keep_history() -> None:
        """The console's charts get this worker's sample; what is older than the console keeps goes."""
        History(engine).record(sampler.sample(state))
        History(engine).prune(before=time.time() - s.console.history_s)
        DeadLetterLog(engine).prune(keep=s.console.dead_letters_kept)

    async def record_sample() -> None:
        await in_thread(keep_history)

    heartbeat_s = s.serving.worker_heartbeat_s
    return eviction_services(state) + [
        Service("model registry poll", s.serving.model_poll_s, follow_registry,
                "serving the current model meanwhile", wait_first=False),
        Service("worker directory heartbeat", heartbeat_s, heartbeat, "routing with the last map meanwhile"),
        Service("broker probe", heartbeat_s, probe_broker, "the broker's state is unknown meanwhile"),
        Service("database probe", heartbeat_s, probe_database, "the database's state is unknown meanwhile"),
        Service("model-output probes", s.drift.probe_flush_s, record_outputs, "monitoring only: serving goes on"),
        Service("console history", s.console.sample_s, record_sample, "the console's charts miss these samples"),
        Service("memory trim", TRIM_EVERY_S, _trim, "freed memory stays with the process meanwhile"),
    ]


async def _trim() -> None:
    """Checkpoints, evictions and deltas free large buffers in bursts: their pages go back to the OS."""
    await in_thread(trim_memory)


def eviction_services(state: WorkerState) -> list[Service]:
    """Users idle for RECSTREAM_ONLINE_EVICT_AFTER_S leave memory for the database (none when it is unset)."""
    eviction = state.eviction
    if eviction is None:
        return []

    async def evict_idle() -> None:
        if state.pipeline is not None:
            await eviction.evict(state.recommender, state.learning)

    return [Service("cold-user eviction", state.settings.online.evict_every_s, evict_idle,
                    "idle users stay in memory meanwhile")]
