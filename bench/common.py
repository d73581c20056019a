"""Helpers the benchmarks share (run them as `python bench/<name>.py`, which puts this folder on sys.path)."""

from __future__ import annotations

import argparse
import http.client
import json


def get(conn: http.client.HTTPConnection, path: str) -> dict:
    """GET `path` on a worker's API over a kept-alive connection; anything but 200 raises."""
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {body[:200]!r}")
    return json.loads(body)


def add_smoke(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, seconds: the test suite runs every bench this way (tests/bench/test_smoke.py)")


def shrink(args: argparse.Namespace, **tiny: object) -> argparse.Namespace:
    """With --smoke, `tiny`'s sizes replace the arguments of those names: the same code path, in seconds."""
    if args.smoke:
        for name, value in tiny.items():
            setattr(args, name, value)
    return args
