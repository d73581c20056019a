"""Helpers the benchmarks share (run them as `python bench/<name>.py`, which puts this folder on sys.path)."""

from __future__ import annotations

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
