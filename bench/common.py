"""Helpers the benchmarks share (run them as `python bench/<name>.py`, which puts this folder on sys.path)."""

from __future__ import annotations

import argparse
import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of process `pid` (Linux), MB; None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def get(conn: http.client.HTTPConnection, path: str) -> dict:
    """GET `path` on a worker's API over a kept-alive connection; anything but 200 raises."""
    return json.loads(get_text(conn, path))


def get_text(conn: http.client.HTTPConnection, path: str) -> str:
    """`get`'s body as text (e.g. /metrics)."""
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {body[:200]!r}")
    return body.decode()


def latencies(conn: http.client.HTTPConnection, n: int, rate: float, users: list[str],
              busy: Callable[[], bool] = lambda: True) -> list[float]:
    """Seconds per GET /recommendations, `n` at `rate`/s over one kept-alive connection (fewer if `busy()`
    turns false first: the load beside it has ended)."""
    out, start = [], time.monotonic()
    for i in range(n):
        if not busy():
            break
        wait = start + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        t = time.perf_counter()
        get(conn, f"/recommendations/{users[i % len(users)]}?k=10")
        out.append(time.perf_counter() - t)
    return out


def add_smoke(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, seconds: the test suite runs every bench this way (tests/bench/test_smoke.py)")


def shrink(args: argparse.Namespace, **tiny: object) -> argparse.Namespace:
    """With --smoke, `tiny`'s sizes replace the arguments of those names: the same code path, in seconds."""
    if args.smoke:
        for name, value in tiny.items():
            setattr(args, name, value)
    return args


def percentile_interval(xs: list[float], q: float, block: int = 100, draws: int = 1000,
                        seed: int = 0) -> tuple[float, float]:
    """95% interval of the `q`th percentile of `xs` by a moving-block bootstrap: latencies in a row share the
    machine's state (a busy second slows many), so blocks of `block` consecutive ones are resampled, not single
    ones (which would give too narrow an interval)."""
    a = np.asarray(xs, dtype=np.float64)
    if not len(a):
        return float("nan"), float("nan")  # as `pct` gives for no latencies
    block = max(1, min(block, len(a) // 10))  # a smoke run's few requests still get an interval
    rng, starts = np.random.default_rng(seed), np.arange(len(a) - block + 1)
    n_blocks = len(a) // block
    stats = [np.percentile(np.concatenate([a[s:s + block] for s in rng.choice(starts, n_blocks)]), q)
             for _ in range(draws)]
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))

