"""The console's overview: what is served, how fast events flow, how good the lists are, what is failing."""

from __future__ import annotations

from collections.abc import Sequence

from recstream.models.store.history import Point
from recstream.stream.web.console import charts
from recstream.stream.web.console.html import esc, num, page, pct, section, table, up


def overview(h: dict, latency_ms: tuple[float | None, float | None], history: Sequence[Point],
             dead_letters: dict[str, int], *, actor: str | None = None, csrf: str | None = None) -> str:
    """From a worker's /healthz answer (plus `lag_total`), its request-latency quantiles, the group's history
    (models/store/history.py) and the dead letters kept, by code."""
    p, deep = h.get("pipeline") or {}, h.get("deep") or {}
    rate = (p.get("consumed", 0) / h["uptime_s"]) if h.get("uptime_s") else None
    cards = [
        ("Versions served", (f"deep live <b>{esc(deep.get('live'))}</b><br>canary <b>{esc(deep.get('canary'))}</b>"
                             f" to {esc(pct(deep.get('canary_share')) if deep.get('canary') else '-')}<br>"
                             f"online {esc(h.get('online_checkpoint'))}")),
        ("Throughput", (f"<span class=big>{esc(num(rate))}</span> events/s since start<br>"
                        f"{esc(h.get('events_learned'))} learned, lag {esc(h.get('lag_total'))}")),
        ("Served quality", (f"Recall@10 served <b>{esc(h.get('served_recall_at_10'))}</b><br>online model "
                            f"{esc(h.get('prequential_recall_at_10'))}<br>deep share {esc(h.get('deep_weight'))}")),
        ("Requests", f"p50 {esc(num(latency_ms[0]))} ms, p99 {esc(num(latency_ms[1]))} ms"),
        ("Health", (f"broker {up((h.get('broker') or {}).get('up'))}, database "
                    f"{up((h.get('database') or {}).get('up'))}")),
        ("Catalogue", ", ".join(f"{esc(k)} {esc(v)}" for k, v in (h.get("catalogue") or {}).items()
                                if k in ("items", "unavailable", "deleted", "caught_up"))),
    ]
    grid = "".join(section(t, body) for t, body in cards)
    series = (("events/s, all workers", "events_per_s", "", 0), ("consumer lag", "lag", "", 0),
              ("served Recall@10", "served_recall", "", 3), ("request p50", "p50_ms", " ms", 2),
              ("request p99", "p99_ms", " ms", 2), ("dead letters/s", "dead_letters_per_s", "", 2))
    drawn = "".join(charts.line([(pt.at, getattr(pt, attr)) for pt in history], title, unit, digits)
                    for title, attr, unit, digits in series)
    dead = table(["code", "dead letters kept"], ((f"<a href='/console/dead-letters?code={esc(c)}'>{esc(c)}</a>",
                                                  esc(n)) for c, n in sorted(dead_letters.items())))
    group = table(["worker", "partitions", "url", "heartbeat age (s)"],
                  ((esc(w.get("source")), esc(w.get("partitions")), esc(w.get("url")), esc(w.get("heartbeat_age_s")))
                   for w in h.get("group") or []))
    return page(f"Overview — {h.get('worker', '')}",
                f"<div class=grid>{grid}</div>{section('The last hour', f'<div class=grid>{drawn}</div>')}"
                f"{section('Dead letters', dead)}{section('Workers of the group', group)}", actor=actor, csrf=csrf)
