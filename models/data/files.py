"""Readers for interaction files: MovieLens `u.data` / `ratings.dat`, and CSV with named columns.

Rows come back as `Interaction`s sorted by timestamp (ties keep file order). Event ids are derived from the file
name and line, so replaying the same file twice stores nothing new.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from recstream.models.data.interaction import EVENT_TYPES, Interaction
from recstream.models.errors import DataFileError

FORMATS = ("auto", "udata", "dat", "csv")
USER_COLUMNS = ("user_id", "userId", "user", "userid")
ITEM_COLUMNS = ("item_id", "itemId", "movieId", "item", "movie_id", "product_id")
TS_COLUMNS = ("ts", "timestamp", "time")
VALUE_COLUMNS = ("value", "rating")


def detect_format(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as f:
        first = f.readline()
    if "::" in first:
        return "dat"
    if "\t" in first and "," not in first:
        return "udata"
    if "," in first:
        return "csv"
    raise DataFileError(f"{path}: cannot tell the format from its first line {first[:80]!r}; "
                        "pass --format udata|dat|csv")


def _pick(header: list[str], names: tuple[str, ...], what: str, path: Path, required: bool = True) -> str | None:
    for n in names:
        if n in header:
            return n
    if required:
        raise DataFileError(f"{path}: no {what} column; expected one of {', '.join(names)} in header {header}")
    return None


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, str, str, str, float | None, float, str | None]]:
    """(line, user, item, type, value, ts, event_id or None) in file order."""
    with path.open(encoding="utf-8", newline="") as f:
        if fmt in ("udata", "dat"):
            sep = "\t" if fmt == "udata" else "::"
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.rstrip("\n").split(sep)
                if len(parts) < 4:
                    raise DataFileError(f"{path}:{n}: expected user{sep}item{sep}rating{sep}timestamp, got {line!r}")
                yield n, parts[0], parts[1], "rating", float(parts[2]), float(parts[3]), None
            return
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        user = _pick(header, USER_COLUMNS, "user", path)
        item = _pick(header, ITEM_COLUMNS, "item", path)
        ts = _pick(header, TS_COLUMNS, "timestamp", path)
        value = _pick(header, VALUE_COLUMNS, "value", path, required=False)
        typ = "type" if "type" in header else None
        eid = "event_id" if "event_id" in header else None
        for n, row in enumerate(reader, 2):
            etype = row[typ] if typ else "rating" if value == "rating" else "view"
            if etype not in EVENT_TYPES:
                raise DataFileError(f"{path}:{n}: unknown event type {etype!r}; expected one of {EVENT_TYPES}")
            raw_value = row[value] if value else ""
            yield (n, row[user], row[item], etype,  # type: ignore[index]
                   float(raw_value) if raw_value not in ("", None) else None, float(row[ts]),  # type: ignore[index]
                   row[eid] if eid else None)


def read_interactions(path: str | Path, fmt: str = "auto", limit: int | None = None) -> list[Interaction]:
    """Read a whole file, sorted by timestamp. Errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    if fmt not in FORMATS:
        raise DataFileError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    out = []
    try:
        for n, user, item, etype, value, ts, eid in _rows(path, fmt):
            out.append(Interaction(eid or f"{path.stem}-{n}", user, item, etype, value, ts))
    except (ValueError, KeyError) as exc:
        raise DataFileError(f"{path}: unreadable row ({exc}); check --format") from None
    out.sort(key=lambda e: e.ts)  # stable: ties keep file order
    return out[:limit] if limit is not None else out
