"""Shared fixtures: the embedded broker, fresh databases (SQLite always, PostgreSQL where one runs), a worker."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# `make test` runs two test processes on 2 cores (pytest-xdist): a thread pool each for torch and BLAS would
# oversubscribe them (a 1.3 s deep-model test took 31 s). Set before anything loads either library.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from sqlalchemy import create_engine, text

from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.schema import metadata
from recstream.stream.app.launcher import WorkerProcess, ingesting, start_worker
from recstream.stream.kafka.broker import EmbeddedBroker, free_port

PG_ADMIN_URL = os.environ.get("RECSTREAM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
        with create_engine(PG_ADMIN_URL).connect() as c:
            c.execute(text("select 1"))
        return True
    except Exception:  # noqa: BLE001
        return False


PG = _pg_available()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session."""
    name = f"recstream_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not PG, reason="no PostgreSQL at 127.0.0.1:5432")])])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL (no schema yet), on SQLite and on PostgreSQL when available."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'recstream.db'}"
        return
    url = request.getfixturevalue("pg_database")
    yield url
    engine = create_engine(url)
    with engine.begin() as c:
        tables = ", ".join([t.name for t in metadata.sorted_tables] + ["alembic_version"])  # every table there is
        c.execute(text(f"DROP TABLE IF EXISTS {tables} CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    """An engine on a migrated, empty database."""
    eng = create_db_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, standing in for S3/MinIO: a real HTTP endpoint that worker processes reach too."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_prefix(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the S3 server, configured the standard AWS way (for this process and the workers it
    starts); returns its s3:// prefix."""
    import boto3

    from recstream.models.artefacts import storage

    env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": "us-east-1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    storage._client.cache_clear()  # the client reads its configuration once
    bucket = f"recstream-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/artefacts"
    storage._client.cache_clear()


@pytest.fixture(params=["local", "s3"])
def artefact_dir(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where artefacts go: a local directory, and a bucket on the S3 server."""
    return str(tmp_path / "artefacts") if request.param == "local" else request.getfixturevalue("s3_prefix")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (0.3 s to start): no test inherits another's topics, groups or a broker state
    that an earlier test left bad (CI once saw every later group join hang on one shared broker)."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        yield b


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """Remember each phase's outcome on the test item, so fixtures can tell a failed test at teardown."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def worker_factory(broker: EmbeddedBroker, tmp_path: Path,  # type: ignore[no-untyped-def]
                   request: pytest.FixtureRequest):
    """Start real `recstream worker` processes on fresh topics and a fresh SQLite database. When the test fails,
    the end of each worker's log is printed (CI keeps no temporary directories)."""
    started: list[WorkerProcess] = []
    suffix = uuid.uuid4().hex[:8]

    def start(ready: Any = ingesting, **env_overrides: str) -> WorkerProcess:
        db = tmp_path / "worker.db"
        env = {**os.environ,
               "RECSTREAM_BOOTSTRAP": broker.bootstrap,
               "RECSTREAM_DATABASE_URL": f"sqlite:///{db}",
               "RECSTREAM_TOPIC_BEHAVIOUR": f"behaviour-{suffix}",
               "RECSTREAM_TOPIC_FEEDBACK": f"feedback-{suffix}",
               "RECSTREAM_TOPIC_DEAD_LETTER": f"dead-letter-{suffix}",
               "RECSTREAM_TOPIC_ITEMS": f"items-{suffix}",
               "RECSTREAM_GROUP_ID": f"group-{suffix}",
               "RECSTREAM_WEB_PORT": str(free_port()),
               "RECSTREAM_SESSION_TIMEOUT_S": "6",
               # Score every positive event (no per-second cap): drift tests judge the model outputs.
               "RECSTREAM_ONLINE_PREQUENTIAL_SAMPLE": "1.0", "RECSTREAM_ONLINE_PREQUENTIAL_MAX_PER_S": "1e9",
               **env_overrides}
        upgrade(create_db_engine(env["RECSTREAM_DATABASE_URL"]))
        w = start_worker(env, tmp_path / f"worker-{len(started)}.log", ready=ready, timeout=60)
        started.append(w)
        return w

    yield start
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for log in [w.log for w in started] + [broker.log_path]:
            if log is not None and log.exists():
                tail = log.read_text(errors="replace")[-4000:]
                print(f"\n--- {log.name} (last 4,000 characters) ---\n{tail}")
    # All at once: stopped one by one, each later worker would first take over the partitions of the one before.
    for w in started:
        if w.process.poll() is None:
            w.process.send_signal(signal.SIGTERM)
    for w in started:
        w.stop()
