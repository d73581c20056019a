"""The header recstream puts on an Evidently drift page: what was compared, and what recstream did about it."""

from __future__ import annotations

import html
import time


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def with_banner(page: str, row: dict) -> str:
    banner = (
        '<div style="font-family:sans-serif;padding:12px 24px;background:#f4f4f4;border-bottom:1px solid #ddd">'
        f'<b>recstream drift report {row["id"]}</b> — {"DRIFT" if row["drifted"] else "no drift"} '
        f'({row["drifted_columns"]} of {row["n_columns"]} columns, share {row["drift_share"]:.2f})<br>'
        f'current: {row["cur_rows"]} events, {_when(row["cur_start"])} to {_when(row["cur_end"])}; '
        f'reference ({html.escape(row["reference"])}): {row["ref_rows"]} events, {_when(row["ref_start"])} to '
        f'{_when(row["ref_end"])}<br>action: {html.escape(row.get("action") or "-")} · '
        f'<a href="/drift/reports/{row["id"]}.json">JSON</a> · <a href="/console/drift">all reports</a></div>')
    head, sep, rest = page.partition("<body>")
    return head + sep + banner + rest if sep else banner + page
