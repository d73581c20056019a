"""`recstream models`: versions, promotion, canaries, rollback, retraining, keys."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from recstream.models.errors import RecstreamError
from recstream.stream.cli.common import actor_name, db_opt, load_settings, open_registry


@click.group()
def models() -> None:
    """Model versions: list, show, retrain, promote, rollback, canary."""


def _summary(v: Any) -> str:
    m = v.metrics or {}
    cand = (m.get("candidate") or {})
    metric = f"NDCG@10 {cand['ndcg_at_10']:.4f} Recall@10 {cand['recall_at_10']:.4f}" if cand else ""
    parent = f"parent deep-{v.parent_id}" if v.parent_id else "cold start"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.created_at))
    return f"{v.name:<10} {v.status:<12} {when}  {parent:<16} {metric}"


@models.command("list")
@db_opt
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def models_list(database_url: str | None, as_json: bool) -> None:
    """Model versions, newest first."""
    versions = open_registry(database_url).list()
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in versions], indent=2))
        return
    if not versions:
        click.echo("no model versions yet: `recstream models retrain` trains the first")
    for v in versions:
        click.echo(_summary(v))


@models.command("show")
@click.argument("version")
@db_opt
def models_show(version: str, database_url: str | None) -> None:
    """One version in full, with its audit trail (and, for the running canary, its A/B figures against live)."""
    from recstream.models.serving.abtest import canary_report

    reg = open_registry(database_url)
    v = reg.get(version)
    shown = {**v.as_dict(), "audit": reg.audit(version)}
    if v.status == "canary":
        shown["canary"] = canary_report(reg, load_settings(database_url=database_url).canary.min_impressions, v.kind)
    click.echo(json.dumps(shown, indent=2, default=str))


@models.command("promote")
@click.argument("version")
@click.option("--reason", required=True, help="why (recorded in the audit log)")
@click.option("--canary", "canary", type=float, is_flag=False, flag_value=-1.0, default=None, metavar="SHARE",
              help="serve it to this share of users (sticky by user, 0 < SHARE <= 1) instead of everyone")
@click.option("--actor", default=None, help="who (default: your login name)")
@db_opt
def models_promote(version: str, reason: str, canary: float | None, actor: str | None,
                   database_url: str | None) -> None:
    """Make VERSION live (or canary to a share of users). Every worker serves it within about a second."""
    if canary == -1.0:
        raise click.UsageError("--canary needs the share of users to serve it to, e.g. --canary 0.1")
    v = _operations(database_url, actor).promote(version, reason, canary)
    if canary is None:
        click.echo(f"{v.name} is {v.status}")
    else:
        click.echo(f"{v.name} is canary for {v.canary_share:.0%} of users (every worker within about a second)")


@models.command("canary-share")
@click.argument("share", type=float)
@click.option("--reason", required=True, help="why (recorded in the audit log)")
@click.option("--actor", default=None, help="who (default: your login name)")
@db_opt
def models_canary_share(share: float, reason: str, actor: str | None, database_url: str | None) -> None:
    """Change the running canary's share of users."""
    v = _operations(database_url, actor).set_canary_share(share, reason)
    click.echo(f"{v.name} is canary for {v.canary_share:.0%} of users")


@models.command("rollback")
@click.option("--to", "to", default=None, help="version to go back to (default: the previous live one)")
@click.option("--reason", required=True, help="why (recorded in the audit log)")
@click.option("--canary", is_flag=True, help="end the canary instead of rolling back live")
@click.option("--kind", type=click.Choice(["deep", "online"]), default=None,
              help="which model (default: the kind of --to, else deep); online restores a learner checkpoint")
@click.option("--actor", default=None, help="who (default: your login name)")
@db_opt
def models_rollback(to: str | None, reason: str, canary: bool, kind: str | None, actor: str | None,
                    database_url: str | None) -> None:
    """Take the live version out and serve the previous one (or --to VERSION) on every worker."""
    op = _operations(database_url, actor)
    if canary:
        v = op.end_canary(reason, kind or "deep")
        click.echo(f"canary {v.name} ended ({v.status})")
        return
    v = op.rollback(reason, to, kind)
    click.echo(f"rolled back: {v.name} is live")


@models.command("retrain")
@click.option("--reason", default=None, help="why (recorded with the run)")
@click.option("--queue", is_flag=True, help="only queue the request for `recstream scheduler`")
@db_opt
def models_retrain(reason: str | None, queue: bool, database_url: str | None) -> None:
    """Train a new deep version now from the event store (warm-started from live), gate it, and release it."""
    from recstream.models.retrain.run import retrain

    s = load_settings(database_url=database_url)
    reg = open_registry(database_url)
    if queue:
        run_id, created = _operations(database_url, None).retrain(reason, trigger="manual")
        click.echo(f"retrain request {run_id} {'queued' if created else 'already waiting'}")
        return
    r = retrain(reg.engine, s.retrain_config(), trigger="manual", requested_by=actor_name(None), reason=reason,
                progress=sys.stderr.isatty())
    if r.outcome == "failed":
        raise RecstreamError(f"training run {r.run_id} failed: {r.error}")
    m = r.metrics
    live = m["live"]["ndcg_at_10"] if m.get("live") else None
    click.echo(f"run {r.run_id}: {r.version.name if r.version else '-'} {r.outcome} — NDCG@10 candidate "
               f"{m['candidate']['ndcg_at_10']:.4f}, popularity {m['popularity']['ndcg_at_10']:.4f}, live "
               f"{'-' if live is None else f'{live:.4f}'} ({m['gate']['reason']})")


@models.command("new-key")
def models_new_key() -> None:
    """Print a fresh artefact encryption key (for RECSTREAM_ARTEFACT_ENCRYPTION_KEY)."""
    from recstream.models.artefacts.keys import new_key

    click.echo(new_key())


@models.command("rotate-keys")
@click.option("--actor", default=None, help="who (default: your login name)")
@db_opt
def models_rotate_keys(actor: str | None, database_url: str | None) -> None:
    """Rewrite every artefact under the configured keys: encrypt (RECSTREAM_ARTEFACT_ENCRYPTION_KEY), re-encrypt
    files written with an old key (RECSTREAM_ARTEFACT_DECRYPTION_KEYS), re-sign (RECSTREAM_ARTEFACT_KEY)."""
    from recstream.models.artefacts.rotation import rotate_keys

    reg = open_registry(database_url)
    report = rotate_keys(reg, load_settings(database_url=database_url).artefacts.keys, actor=actor_name(actor))
    click.echo(f"rewritten: {len(report.rewritten)} ({', '.join(report.rewritten) or '-'}); "
               f"already current: {len(report.unchanged)}; failed: {len(report.failed)}")
    for name, why in report.failed.items():
        click.echo(f"  {name}: {why}", err=True)
    if report.failed:
        sys.exit(1)


@models.command("feedback")
@db_opt
def models_feedback(database_url: str | None) -> None:
    """Click rate per served version (from feedback events), and what it says about the canary."""
    from recstream.models.serving.abtest import canary_report, outcomes

    reg = open_registry(database_url)
    stats = outcomes(reg.engine)
    for o in sorted(stats.values(), key=lambda o: o.version):
        click.echo(json.dumps(o.as_dict()))
    report = canary_report(reg, load_settings(database_url=database_url).canary.min_impressions)
    if report is not None and report["live"] is not None:
        click.echo(f"canary {report['canary']} ({report['share']:.0%} of users): {report['decision']} — "
                   f"{report['why']}")


@models.command("runs")
@db_opt
def models_runs(database_url: str | None) -> None:
    """Recent training runs with their outcome or error."""
    from recstream.models.store.runs import RunQueue

    for r in RunQueue(open_registry(database_url).engine).runs():
        click.echo(json.dumps(r, default=str))


def _operations(database_url: str | None, actor: str | None) -> Any:
    """The operator's changes (models/store/operations.py), as `actor`, each version checked before it serves."""
    from recstream.models.store.operations import Operations

    return Operations(open_registry(database_url), actor_name(actor), verify=_verify)


def _verify(version: Any) -> None:
    """Refuse up front what workers would refuse: an artefact that is missing or fails its checks."""
    from recstream.models.artefacts.files import read_verified

    if version.artefact and version.sha256:
        read_verified(version.artefact, version.sha256, version.signature, load_settings().artefacts.keys)
