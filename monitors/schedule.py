"""The scheduler process (`recstream scheduler`): periodic retraining, the queue of on-demand requests, drift
reports and the canary judge.

Requests come from `recstream models retrain --queue`, `POST /models/retrain` and the drift monitor; each is a
`training_runs` row the scheduler claims. All jobs share one single-thread executor, so within a process two
trainings never overlap, and the registry's training lock keeps separate scheduler processes apart too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from threadpoolctl import threadpool_limits

from recstream.models.errors import DatabaseLost, TrainingBusy
from recstream.models.memory import trim_memory
from recstream.models.retrain.config import RetrainConfig
from recstream.models.retrain.run import RetrainResult, retrain
from recstream.models.serving.abtest import canary_report
from recstream.models.store.registry import Registry
from recstream.models.store.runs import RunQueue
from recstream.monitors.drift.config import DriftConfig
from recstream.monitors.drift.run import DriftRun, run_drift

log = logging.getLogger("recstream.scheduler")


@dataclass
class RetrainJobs:
    engine: Engine
    config: RetrainConfig
    #: runs the database went away from: settled (recorded failed, lock released, queued again) once it is back
    lost: list[DatabaseLost] = field(default_factory=list)

    def scheduled(self) -> RetrainResult | None:
        """The periodic retraining."""
        return self._run(trigger="schedule", requested_by="scheduler")

    def queued(self) -> RetrainResult | None:
        """Run the oldest queued request, if any (after settling runs a database outage interrupted)."""
        try:
            self._settle()
            queue = RunQueue(self.engine)
            run_id = queue.next_request()
            row = queue.run(run_id) if run_id is not None else None
        except DBAPIError as exc:
            log.warning("retrain requests not read: the database is unavailable (%s); retrying in the next poll",
                        type(exc.orig).__name__)
            return None
        if row is None:
            return None
        result = self._run(trigger=row["trigger"], requested_by=row["requested_by"], reason=row["reason"],
                           run_id=row["id"])
        if result is not None:
            log.info("retrain request %d (%s by %s): %s %s", row["id"], row["trigger"], row["requested_by"],
                     result.outcome, result.version.name if result.version else result.error)
        return result

    def _run(self, **request: Any) -> RetrainResult | None:
        try:
            return retrain(self.engine, self.config, **request)
        except TrainingBusy as exc:
            log.info("retraining waits: %s", exc)
        except DatabaseLost as exc:
            log.warning("%s; it is recorded as failed and queued again once the database is back", exc)
            self.lost.append(exc)
        except DBAPIError as exc:  # before the run started: nothing to settle
            log.warning("retraining not started: the database is unavailable (%s)", type(exc.orig).__name__)
        finally:
            trim_memory()  # the training's tensors and frames are gone: give their pages back
        return None

    def _settle(self) -> None:
        while self.lost:
            lost = self.lost[0]
            retry = RunQueue(self.engine).settle_lost_run(lost.run_id, lost.holder, str(lost))
            log.info("run %s settled after the database outage%s", lost.run_id,
                     f": retried as request {retry}" if retry else "")
            self.lost.pop(0)


@dataclass
class CanaryJudge:
    """Promotes or rolls back the deep canary from per-version click rates in the feedback events."""

    engine: Engine
    min_impressions: int = 1000

    def judge(self) -> str:
        registry = Registry(self.engine)
        report = canary_report(registry, self.min_impressions)
        if report is None or report["live"] is None:
            return "wait"
        decision, why = report["decision"], report["why"]
        if decision == "promote":
            registry.promote(report["canary"], actor="canary-judge", reason=why)
        elif decision == "rollback":
            registry.end_canary(actor="canary-judge", reason=why)
        log.info("canary %s: %s (%s)", report["canary"], decision, why)
        return decision


@dataclass
class DriftJob:
    """The periodic drift report; persistent drift queues a retrain (see monitors/drift/)."""

    engine: Engine
    config: DriftConfig
    #: no report starts before this (time.monotonic()): reports keep to their share of the wall clock
    _rest_until: float = 0.0

    def run(self) -> DriftRun | None:
        if time.monotonic() < self._rest_until:
            log.debug("drift report skipped: resting (RECSTREAM_DRIFT_BUSY_SHARE)")
            return None
        started = time.monotonic()
        try:
            # BLAS on this thread only: an idle OpenBLAS thread spins on a core a worker needs (ingest/runtime.py).
            with threadpool_limits(limits=1, user_api="blas"):
                result = run_drift(self.engine, self.config, actor="scheduler")
        except DBAPIError as exc:  # nothing was recorded: the next interval runs it again
            log.warning("drift report not made: the database is unavailable (%s); the next one runs on time",
                        type(exc.orig).__name__)
            return None
        except Exception:  # one failed report must not stop the next ones (or retraining)
            log.exception("drift report failed")
            return None
        finally:
            trim_memory()  # the report's frames are gone: give their pages back
            busy = time.monotonic() - started
            self._rest_until = time.monotonic() + busy * (1.0 / self.config.busy_share - 1.0)
        if result.skipped:
            log.info("drift report skipped: %s", result.skipped)
        return result


def build_scheduler(jobs: RetrainJobs, *, interval_s: float | None, cron: str | None, poll_s: float,
                    scheduler: BaseScheduler | None = None, canary: CanaryJudge | None = None,
                    canary_every_s: float = 30.0, drift: DriftJob | None = None,
                    drift_every_s: float | None = None) -> BaseScheduler:
    sched = scheduler or BlockingScheduler(timezone="UTC")
    # Training jobs share one thread (never two trainings at once); drift reports have their own, so a long
    # training does not hold up monitoring.
    sched.configure(executors={"default": ThreadPoolExecutor(1), "drift": ThreadPoolExecutor(1)},
                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    if interval_s:
        sched.add_job(jobs.scheduled, IntervalTrigger(seconds=interval_s), id="retrain-interval")
    if cron:
        sched.add_job(jobs.scheduled, CronTrigger.from_crontab(cron, timezone="UTC"), id="retrain-cron")
    sched.add_job(jobs.queued, IntervalTrigger(seconds=poll_s), id="retrain-requests")
    if canary is not None:
        sched.add_job(canary.judge, IntervalTrigger(seconds=canary_every_s), id="canary-judge")
    if drift is not None and drift_every_s:
        sched.add_job(drift.run, IntervalTrigger(seconds=drift_every_s), id="drift-report", executor="drift")
    return sched
