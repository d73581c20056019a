"""The operator console, first pages: server-rendered HTML from what a worker already knows (its health, the
registry), no build step, no script, no CDN. Every value is escaped (`esc`): a version reason or a dead-letter
reason holding `<script>` shows as text.

    GET /console            overview: versions served, throughput, lag, dead letters, quality, health, the group
    GET /console/versions   every version: status, lineage, holdout metrics, precision, the latest audit entry
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from typing import Any

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px}header a{color:#cfe0ff;margin-right:18px}
main{padding:16px 24px}section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px;
margin:0 0 14px}h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3}.ok{color:#17803d}.bad{color:#b42318}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:14px}.big{font-size:22px}"""


def esc(value: Any) -> str:
    return html.escape("-" if value is None else str(value), quote=True)


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)} · recstream</title>"
            f"<style>{STYLE}</style></head><body><header><b>recstream</b> &nbsp; <a href='/console'>Overview</a>"
            f"<a href='/console/versions'>Versions</a><a href='/drift/reports'>Drift (JSON)</a></header>"
            f"<main><h1>{esc(title)}</h1>{body}</main></body></html>")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body or '<tr><td>none</td></tr>'}</table>"


def _up(flag: bool | None) -> str:
    return "<span>unknown</span>" if flag is None else ("<span class=ok>up</span>" if flag else
                                                         "<span class=bad>down</span>")


def overview(h: dict, latency_ms: tuple[float | None, float | None]) -> str:
    """The overview page from a worker's /healthz answer (plus `lag_total`) and its request-latency quantiles."""
    p, deep = h.get("pipeline") or {}, h.get("deep") or {}
    rate = (p.get("consumed", 0) / h["uptime_s"]) if h.get("uptime_s") else None
    lag = h.get("lag_total")
    cards = [
        ("Versions served", (f"deep live <b>{esc(deep.get('live'))}</b><br>canary <b>{esc(deep.get('canary'))}</b>"
                             f" to {esc(_pct(deep.get('canary_share')) if deep.get('canary') else '-')}<br>"
                             f"online {esc(h.get('online_checkpoint'))}")),
        ("Throughput", (f"<span class=big>{esc(_num(rate))}</span> events/s since start<br>"
                        f"{esc(h.get('events_learned'))} learned, lag {esc(lag)}")),
        ("Served quality", (f"Recall@10 served <b>{esc(h.get('served_recall_at_10'))}</b><br>online model "
                            f"{esc(h.get('prequential_recall_at_10'))}<br>deep share {esc(h.get('deep_weight'))}")),
        ("Requests", f"p50 {esc(_num(latency_ms[0]))} ms, p99 {esc(_num(latency_ms[1]))} ms"),
        ("Health", (f"broker {_up((h.get('broker') or {}).get('up'))}, database "
                    f"{_up((h.get('database') or {}).get('up'))}")),
        ("Catalogue", ", ".join(f"{esc(k)} {esc(v)}" for k, v in (h.get("catalogue") or {}).items()
                                if k in ("items", "unavailable", "deleted", "caught_up"))),
    ]
    grid = "".join(f"<section><h2>{esc(t)}</h2>{body}</section>" for t, body in cards)
    dead = table(["code", "dead letters"], ((esc(c), esc(n)) for c, n in sorted((p.get("dead_lettered") or {}).items())))
    group = table(["worker", "partitions", "url"], ((esc(w.get("source")), esc(w.get("partitions")), esc(w.get("url")))
                                                    for w in h.get("group") or []))
    return page(f"Overview — {h.get('worker', '')}", f"<div class=grid>{grid}</div><section><h2>Dead letters"
                f"</h2>{dead}</section><section><h2>Workers of the group</h2>{group}</section>")


def versions(rows: Sequence[Any], last_audit: dict[int, dict]) -> str:
    """The versions page: `rows` are ModelVersions, newest first; `last_audit` their latest audit entries."""
    def holdout(v: Any) -> str:
        m = (v.metrics or {})
        get = (lambda part: (m.get(part) or {}).get("ndcg_at_10") if isinstance(m.get(part), dict) else None)
        return f"{_num(get('candidate'), 4)} / {_num(get('live'), 4)} / {_num(get('popularity'), 4)}"

    def audit(v: Any) -> str:
        a = last_audit.get(v.id)
        return "-" if a is None else f"{esc(a['to_status'])} by {esc(a['actor'])}: {esc(a['reason'])}"

    body = table(["version", "status", "parent", "created", "NDCG@10 candidate / live / popularity", "share",
                  "latest audit"],
                 ((f"<b>{esc(v.name)}</b>", esc(v.status), esc(f"{v.kind}-{v.parent_id}" if v.parent_id else None),
                   esc(time.strftime("%Y-%m-%d %H:%M", time.gmtime(v.created_at))), esc(holdout(v)),
                   esc(_pct(v.canary_share) if v.status == "canary" else None), audit(v)) for v in rows))
    return page("Versions", f"<section>{body}</section>")


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"
