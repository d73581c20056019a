"""Training runs: the queue of retrain requests (from operators, schedules and drift reports), each run's record,
and the training lock that keeps runs from overlapping across processes and machines."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, desc, insert, or_, select, update

from recstream.models.errors import RegistryError
from recstream.models.store.schema import training_lock, training_runs


class RunQueue:
    """Reads and changes training runs. Safe to use from several processes at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def request_retrain(self, *, trigger: str, requested_by: str, reason: str | None = None) -> tuple[int, bool]:
        """Queue a retraining; returns (run id, created). A request already waiting absorbs new ones."""
        with self.engine.begin() as conn:
            waiting = conn.execute(select(training_runs.c.id).where(training_runs.c.status == "requested")
                                   .order_by(training_runs.c.id).limit(1)).scalar()
            if waiting is not None:
                return int(waiting), False
            rid = conn.execute(insert(training_runs).values(
                status="requested", trigger=trigger, requested_by=requested_by[:128], reason=reason,
                requested_at=time.time()).returning(training_runs.c.id)).scalar_one()
        return int(rid), True

    def next_request(self) -> int | None:
        with self.engine.connect() as conn:
            rid = conn.execute(select(training_runs.c.id).where(training_runs.c.status == "requested")
                               .order_by(training_runs.c.id).limit(1)).scalar()
        return None if rid is None else int(rid)

    def start_run(self, run_id: int | None, *, trigger: str, requested_by: str, reason: str | None = None) -> int | None:
        """Record a run as running: a new one, or the queued request `run_id`. None when that request was
        already taken by another scheduler (a conditional UPDATE, so exactly one claims it)."""
        now = time.time()
        with self.engine.begin() as conn:
            if run_id is None:
                return int(conn.execute(insert(training_runs).values(
                    status="running", trigger=trigger, requested_by=requested_by[:128], reason=reason,
                    requested_at=now, started_at=now).returning(training_runs.c.id)).scalar_one())
            claimed = conn.execute(update(training_runs).where(
                training_runs.c.id == run_id, training_runs.c.status == "requested").values(
                status="running", started_at=now)).rowcount
            return run_id if claimed == 1 else None

    def finish_run(self, run_id: int, *, status: str, version_id: int | None = None, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(training_runs).where(training_runs.c.id == run_id).values(
                status=status, version_id=version_id, error=error, finished_at=time.time()))

    def settle_lost_run(self, run_id: int | None, holder: str, error: str) -> int | None:
        """After the database went away during a run: record the run failed with `error`, release the lock it
        held, and queue it again (the same trigger and requester). Returns the retry request's id, if any."""
        self.release_training_lock(holder)
        if run_id is None:
            return None
        row = self.run(run_id)
        if row["status"] != "running":
            return None  # it was recorded after all
        self.finish_run(run_id, status="failed", error=error)
        retry, _ = self.request_retrain(trigger=row["trigger"], requested_by=row["requested_by"],
                                        reason=f"retry of run {run_id}: {error}"[:1000])
        return retry

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(
                select(training_runs).order_by(desc(training_runs.c.id)).limit(limit))]

    def run(self, run_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(training_runs).where(training_runs.c.id == run_id)).first()
        if row is None:
            raise RegistryError(f"no training run {run_id}")
        return row._asdict()

    def acquire_training_lock(self, holder: str, stale_after_s: float = 6 * 3600.0) -> bool:
        """Take the training lock unless someone else holds it (a holder silent for `stale_after_s` lost it).

        One conditional UPDATE: atomic on SQLite and PostgreSQL alike, across processes and machines.
        """
        now = time.time()
        with self.engine.begin() as conn:
            taken = conn.execute(update(training_lock).where(
                training_lock.c.id == 1,
                or_(training_lock.c.holder.is_(None), training_lock.c.acquired_at < now - stale_after_s),
            ).values(holder=holder[:128], acquired_at=now)).rowcount
        return taken == 1

    def release_training_lock(self, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(training_lock).where(training_lock.c.id == 1, training_lock.c.holder == holder[:128])
                         .values(holder=None, acquired_at=None))

    def training_lock_holder(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(training_lock.c.holder).where(training_lock.c.id == 1)).scalar()
