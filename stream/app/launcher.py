"""Starting a `recstream worker` process and waiting for it: the demo, the tests and the benches all do it here.

    with running_worker(env, Path("var/worker.log")) as w:
        w.health()["events_learned"]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recstream.models.errors import RecstreamError
from recstream.stream.client import api_get


class WorkerFailed(RecstreamError):
    """A worker process exited, or did not get ready in time; the message ends with its log."""


def ingesting(health: dict) -> bool:
    """Ready once the ingest loop runs: the pipeline exists after the consumer started."""
    return health.get("pipeline") is not None


@dataclass
class WorkerProcess:
    api: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def health(self) -> dict:
        """/healthz in full: with the read (or operator) token, which read protection asks for."""
        token = self.env.get("RECSTREAM_READ_TOKEN") or self.env.get("RECSTREAM_OPERATOR_TOKEN")
        return api_get(f"{self.api}/healthz", token=token)

    def wait(self, predicate: Callable[[dict], Any], timeout: float = 60.0, what: str = "condition",
             every: float = 0.1) -> dict:
        """The first health answer `predicate` accepts; WorkerFailed (with the log) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last: dict | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise WorkerFailed(f"worker exited with {self.process.returncode} waiting for {what}:\n"
                                   f"{self.log_tail()}")
            try:
                last = self.health()
            except RecstreamError:  # not listening yet
                last = None
            if last is not None and predicate(last):
                return last
            time.sleep(every)
        raise WorkerFailed(f"timed out waiting for {what}; last health {last}\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_worker(env: dict[str, str], log: Path, *, ready: Callable[[dict], Any] | None = ingesting,
                 timeout: float = 90.0) -> WorkerProcess:
    """Start `recstream worker` with `env` (RECSTREAM_WEB_PORT must be set), its output to `log`, and wait until
    `ready` accepts its health (None: do not wait)."""
    port = env["RECSTREAM_WEB_PORT"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "recstream.stream.cli", "worker"], env={**os.environ, **env},
                                stdout=out, stderr=subprocess.STDOUT)
    worker = WorkerProcess(f"http://127.0.0.1:{port}", env, proc, log)
    if ready is not None:
        try:
            worker.wait(ready, timeout, "the worker to get ready", every=0.2)
        except WorkerFailed:
            worker.stop()
            raise
    return worker


@contextmanager
def running_worker(env: dict[str, str], log: Path, **kwargs: Any) -> Iterator[WorkerProcess]:
    """`start_worker`, stopped (SIGTERM, then SIGKILL) when the block ends."""
    worker = start_worker(env, log, **kwargs)
    try:
        yield worker
    finally:
        worker.stop()
