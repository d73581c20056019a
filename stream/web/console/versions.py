"""The console's model pages: every version with its lineage, holdout figures and audit trail, which version
each worker serves right now, the running canary's A/B figures, the training runs; and the forms that change
them (each asks for a confirmation, actions.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recstream.stream.web.console.html import action_form, esc, num, page, pct, section, table, when


def _holdout(v: Any) -> str:
    m = v.metrics or {}
    get = (lambda part: (m.get(part) or {}).get("ndcg_at_10") if isinstance(m.get(part), dict) else None)
    return f"{num(get('candidate'), 4)} / {num(get('live'), 4)} / {num(get('popularity'), 4)}"


def _actions(v: Any, csrf: str | None) -> str:
    ref = {"version": v.name}
    if v.status == "live":
        return action_form("rollback", "Roll back", {"kind": v.kind}, csrf)
    forms = [action_form("promote", "Promote", ref, csrf)]
    if v.status == "canary":
        forms += [action_form("canary-share", "Change share", {"kind": v.kind}, csrf, share=v.canary_share),
                  action_form("end-canary", "End canary", {"kind": v.kind}, csrf)]
    elif v.kind == "deep" and v.artefact:
        forms.append(action_form("canary", "Start canary", ref, csrf, share=0.1))
    return "<br>".join(forms)


def _serving(workers: Sequence[tuple[str, dict | None]]) -> str:
    def row(source: str, deep: dict | None) -> tuple[str, ...]:
        if deep is None:
            return esc(source), "<span class=bad>did not answer</span>", "", "", ""
        precision = ", ".join(f"{esc(k)} {esc(v)}" for k, v in (deep.get("precision") or {}).items())
        return (esc(source), f"<b>{esc(deep.get('live'))}</b>", esc(deep.get("canary")),
                esc(pct(deep.get("canary_share")) if deep.get("canary") else None), precision)
    return table(["worker", "deep live", "canary", "canary share", "precision served"],
                 (row(s, d) for s, d in workers))


def _canary(report: dict | None) -> str:
    if report is None:
        return ""
    rows = [(esc(name), esc(o["impressions"]), esc(o["clicks"]), esc(num(o["click_rate"] * 100, 2) + "%"),
             esc(f"[{o['ci95'][0] * 100:.2f}%, {o['ci95'][1] * 100:.2f}%]"))
            for name, o in (report.get("outcomes") or {}).items()]
    body = (f"<p>{esc(report['canary'])} serves {esc(pct(report.get('share')))} of users against live "
            f"{esc(report.get('live'))} since {esc(when(report.get('since')))}. Decision: "
            f"<b>{esc(report.get('decision'))}</b> — {esc(report.get('why'))}</p>"
            + table(["version", "impressions", "clicks + purchases", "rate", "95% interval"], rows))
    return section("Canary against live", body)


def versions(rows: Sequence[Any], trails: dict[int, list[dict]], workers: Sequence[tuple[str, dict | None]],
             canary: dict | None, notice: str | None = None, older: int | None = None, *,
             actor: str | None = None, csrf: str | None = None) -> str:
    """`rows`: ModelVersions, newest first; `trails`: their newest audit entries (newest first); `workers`: each
    worker of the group and its deep serving state (None: it did not answer)."""
    def trail(v: Any) -> str:
        entries = trails.get(v.id) or []
        return "<br>".join(f"{esc(when(a['at']))} {esc(a['from_status'])} → <b>{esc(a['to_status'])}</b> by "
                           f"{esc(a['actor'])}: {esc(a['reason'])}" for a in entries[:3]) or "-"

    body = table(["version", "status", "parent", "created", "NDCG@10 candidate / live / popularity", "share",
                  "audit trail (newest first)", "actions"],
                 ((f"<b>{esc(v.name)}</b>", esc(v.status), esc(f"{v.kind}-{v.parent_id}" if v.parent_id else None),
                   esc(when(v.created_at)), esc(_holdout(v)),
                   esc(pct(v.canary_share) if v.status == "canary" else None), trail(v), _actions(v, csrf))
                  for v in rows))
    top = section("Done", esc(notice), "notice") if notice else ""
    hint = "" if csrf else "<p class=muted>Sign in with the operator token to promote, canary or roll back.</p>"
    more = f"<p><a href='/console/versions?before={esc(older)}'>Older versions</a></p>" if older else ""
    return page("Versions", f"{top}{section('Served now, by worker', _serving(workers))}{_canary(canary)}"
                f"{section('Every version, newest first', hint + body + more)}", actor=actor, csrf=csrf)


def runs(rows: Sequence[dict], notice: str | None = None, *, actor: str | None = None,
         csrf: str | None = None) -> str:
    """Training runs, newest first, and the retrain-now form."""
    def outcome(r: dict) -> str:
        if r.get("error"):
            return f"<span class=bad>{esc(r['error'])}</span>"
        return esc(f"version {r['version_id']}" if r.get("version_id") else None)

    def progress(r: dict) -> str:
        if r.get("status") == "running" and r.get("started_at"):
            return f"running since {esc(when(r['started_at']))}"
        return esc(when(r.get("finished_at")))

    body = table(["run", "trigger", "requested by", "reason", "requested", "state", "started", "finished / progress",
                  "outcome"],
                 ((esc(r["id"]), esc(r["trigger"]), esc(r["requested_by"]), esc(r.get("reason")),
                   esc(when(r.get("requested_at"))), f"<b>{esc(r['status'])}</b>", esc(when(r.get("started_at"))),
                   progress(r), outcome(r)) for r in rows))
    top = section("Done", esc(notice), "notice") if notice else ""
    retrain = (section("Retrain now", action_form("retrain", "Retrain now", {}, csrf)) if csrf else
               "<p class=muted>Sign in with the operator token to queue a retrain.</p>")
    return page("Training runs", f"{top}{retrain}{section('Runs, newest first', body)}", actor=actor, csrf=csrf)
