"""A PostgreSQL instance of one's own (initdb + pg_ctl on a free port), for what must stop and start the database
under a running system: the outage test and bench/soak.py. Runs as the postgres user when started as root
(initdb refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from recstream.models.errors import RecstreamError
from recstream.stream.kafka.broker import free_port


def available() -> bool:
    return bool(shutil.which("initdb") and shutil.which("pg_ctl"))


class OwnPostgres:
    def __init__(self, database: str = "recstream") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="recstream-pg-"))
        self.root.chmod(0o755)
        self.data, self.port = self.root / "data", free_port()
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_pg:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.database = database
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        out = subprocess.run([*self.as_pg, *args], capture_output=True, text=True, timeout=60, check=False)
        if out.returncode != 0:
            raise RecstreamError(f"{args[0]} failed: {out.stderr}{out.stdout}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        # a database name cannot be a bound parameter: psycopg quotes it as an identifier
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def remove(self) -> None:
        """Stop at once (whatever state it is in) and delete its files."""
        subprocess.run([*self.as_pg, "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
