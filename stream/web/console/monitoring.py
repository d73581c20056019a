"""The console's monitoring pages: the drift timeline (each report linking to its Evidently page and JSON) and
the dead letters (newest first, with code, reason and where they came from)."""

from __future__ import annotations

from collections.abc import Sequence

from recstream.stream.web.console import charts
from recstream.stream.web.console.html import esc, num, page, pct, section, table, when


def _drifted_columns(columns: dict | None) -> str:
    names = sorted(name for name, c in (columns or {}).items() if isinstance(c, dict) and c.get("drifted"))
    return esc(", ".join(names) or "none")


def _links(report_id: int) -> str:
    return (f"<a href='/drift/reports/{esc(report_id)}'>report {esc(report_id)}</a> "
            f"(<a href='/drift/reports/{esc(report_id)}.json'>JSON</a>)")


def drift(reports: Sequence[dict], *, actor: str | None = None, csrf: str | None = None) -> str:
    """Reports newest first (with their `columns`)."""
    timeline = charts.line([(r["created_at"], r["drift_share"]) for r in reversed(reports)],
                           "share of drifted columns", "", 2)
    rows = ((_links(r["id"]), esc(when(r["created_at"])),
             "<b class=bad>drift</b>" if r["drifted"] else "<span class=ok>no drift</span>",
             esc(f"{pct(r['drift_share'])} ({r['drifted_columns']}/{r['n_columns']})"), _drifted_columns(r.get("columns")),
             esc(f"{when(r.get('cur_start'))} – {when(r.get('cur_end'))} ({r['cur_rows']} rows)"),
             esc(f"{r['reference']}: {when(r.get('ref_start'))} – {when(r.get('ref_end'))} ({r['ref_rows']} rows)"),
             esc(r.get("action")),
             f"<a href='/console/runs'>run {esc(r['retrain_run_id'])}</a>" if r.get("retrain_run_id") else "-")
            for r in reports)
    body = table(["report", "made", "verdict", "drifted share", "drifted columns", "current window",
                  "reference (the live version compared against)", "action", "run queued"], rows)
    return page("Drift", section("Timeline", timeline) + section("Reports, newest first", body), actor=actor,
                csrf=csrf)


def dead_letters(newest: Sequence[dict], counts: dict[str, int], code: str | None, *, actor: str | None = None,
                 csrf: str | None = None) -> str:
    total = sum(counts.values())
    by_code = table(["code", "kept", "share"],
                    ((f"<a href='/console/dead-letters?code={esc(c)}'>{esc(c)}</a>", esc(n), esc(pct(n / total)))
                     for c, n in sorted(counts.items(), key=lambda t: -t[1])))
    rows = ((esc(when(d["failed_at"])), f"<b>{esc(d['code'])}</b>", esc(d["reason"]),
             esc(f"{d['source_topic']}[{d['source_partition']}] @ {d['source_offset']}"), f"<code>{esc(d['key'])}</code>",
             f"<code>{esc(d['value_head'])}</code>") for d in newest)
    title = f"Newest{' ' + code if code else ''} ({len(newest)} shown; `recstream dead-letters` reads the topic)"
    body = table(["failed at", "code", "reason", "source (topic[partition] @ offset)", "key", "value (start)"], rows)
    filt = "<p><a href='/console/dead-letters'>all codes</a></p>" if code else ""
    return page("Dead letters", section(f"By code ({num(total, 0)} kept)", by_code) + section(title, filt + body),
                actor=actor, csrf=csrf)
