"""Whether the database answers: a worker keeps serving through an outage, and says so."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine, text

log = logging.getLogger("recstream.worker")


class DatabaseProbe:
    """`SELECT 1` on the worker's engine every heartbeat. While it fails, ingestion holds its offsets (a batch
    is committed only once stored) and retries; requests are answered from memory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: None until probed
        self.up: bool | None = None
        self.failed_probes = 0
        self.down_since: float | None = None

    def probe(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure to answer is an outage to report
            if self.up is not False:
                log.warning("the database does not answer (%s); serving from memory, ingestion waits and retries",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                self.down_since = time.time()
            self.up = False
            self.failed_probes += 1
            return False
        if self.up is False:
            log.info("the database answers again after %.1f s", time.time() - (self.down_since or time.time()))
        self.up, self.down_since = True, None
        return True

    def state(self) -> dict:
        return {"up": self.up, "failed_probes": self.failed_probes,
                "down_for_s": None if self.down_since is None else round(time.time() - self.down_since, 1)}
