"""Stored drift reports and model-output probes: what workers write, and what the API, CLI and console read."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, desc, insert, select

from recstream.models.artefacts import storage
from recstream.models.store.schema import drift_reports, model_outputs


def store_probes(engine: Engine, probes: list[tuple[float, int, float, float]], source: str) -> int:
    """Append a worker's model-output probes (ts, hit, top_score_z, popular_share) to `model_outputs`."""
    if not probes:
        return 0
    now = time.time()
    rows = [{"ts": ts, "hit": hit, "top_score_z": z, "popular_share": share, "source": source[:128],
             "recorded_at": now} for ts, hit, z, share in probes]
    with engine.begin() as conn:
        conn.execute(insert(model_outputs), rows)
    return len(rows)


# ---- reading reports back ------------------------------------------------------------------------------------
class ReportNotFound(LookupError):
    pass


def list_reports(engine: Engine, limit: int = 50, columns: bool = False) -> list[dict[str, Any]]:
    """Newest first, with the per-column detail only when `columns`."""
    cols = [c for c in drift_reports.c if columns or c.name != "columns"]
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(*cols).order_by(desc(drift_reports.c.id)).limit(limit))]


def get_report(engine: Engine, report_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(drift_reports).where(drift_reports.c.id == report_id)).first()
    if row is None:
        raise ReportNotFound(f"no drift report {report_id}; `recstream drift list` shows the ids")
    return row._asdict()


def report_file(engine: Engine, report_id: int, kind: str, report_dir: str | Path) -> bytes:
    """The stored HTML or JSON of a report; a clear error when it is gone."""
    return report_bytes(get_report(engine, report_id), kind, report_dir)


def report_bytes(row: dict[str, Any], kind: str, report_dir: str | Path) -> bytes:
    """The HTML or JSON of a report row already read (see report_file), from its directory or bucket: only from
    inside `report_dir` (the row is database content, and whoever can write it must not read the host's files)."""
    location = row["html_path" if kind == "html" else "json_path"]
    if location and not storage.within(location, report_dir):
        raise ReportNotFound(f"the {kind} file of drift report {row['id']} is recorded at {location}, outside "
                             f"RECSTREAM_DRIFT_REPORT_DIR ({report_dir}): refusing to read it")
    try:
        if location:
            return storage.get(location)
        why = "not stored"
    except OSError as exc:
        why = str(exc)
    raise ReportNotFound(f"the {kind} file of drift report {row['id']} is missing ({location}: {why}); "
                         "was RECSTREAM_DRIFT_REPORT_DIR changed or cleaned?")


def latest_summary(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(drift_reports.c.id, drift_reports.c.drifted, drift_reports.c.drift_share,
                                  drift_reports.c.created_at).order_by(desc(drift_reports.c.id)).limit(1)).first()
    return None if row is None else row._asdict()


def summary_json(row: dict[str, Any]) -> str:
    return json.dumps(row, default=str, indent=2)
