"""`recstream drift`: run a drift report now, list them, show one."""

from __future__ import annotations

import json
import sys
import time

import click

from recstream.stream.cli.common import actor_name, db_opt, load_settings, open_engine


@click.group()
def drift() -> None:
    """Drift reports: run one now, list them, show one."""


def _drift_line(r: dict) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"]))
    flag = "DRIFT   " if r["drifted"] else "ok      "
    return (f"{r['id']:>5}  {when}  {flag}share {r['drift_share']:.2f} ({r['drifted_columns']}/{r['n_columns']})  "
            f"{r['cur_rows']:>8} events vs {r['reference']}  {r.get('action') or ''}")


@drift.command("run")
@click.option("--until", type=float, default=None, help="end the current window at this event time (unix s); "
              "default: the newest event")
@click.option("--json", "as_json", is_flag=True, help="print the report summary as JSON")
@db_opt
def drift_run(until: float | None, as_json: bool, database_url: str | None) -> None:
    """Compare the newest window with the reference now, store the report, maybe request a retrain."""
    from recstream.monitors.drift.run import run_drift

    result = run_drift(open_engine(database_url), load_settings(database_url=database_url).drift.config(),
                       until=until, actor=actor_name(None))
    if result.report is None:
        click.echo(f"no report: {result.skipped}")
        sys.exit(2)
    r = result.report
    if as_json:
        click.echo(json.dumps({**r, "timings": result.timings}, default=str))
        return
    click.echo(_drift_line(r))
    for col, v in r["columns"].items():
        if "skipped" in v:
            click.echo(f"       {col:<22} skipped: {v['skipped']}")
        else:
            click.echo(f"       {col:<22} {'DRIFT' if v['drifted'] else 'ok':<6} {v['method']} {v['score']:.4g} "
                       f"(threshold {v['threshold']})")
    click.echo(f"report: {r['html_path']}")


@drift.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@db_opt
def drift_list(limit: int, as_json: bool, database_url: str | None) -> None:
    """Stored drift reports, newest first."""
    from recstream.monitors.drift.reports import list_reports

    reports = list_reports(open_engine(database_url), limit)
    if not reports:
        click.echo("no drift reports yet: `recstream drift run` makes one")
    for r in reports:
        click.echo(json.dumps(r, default=str) if as_json else _drift_line(r))


@drift.command("show")
@click.argument("report_id", type=click.IntRange(1))
@click.option("--html", "what", flag_value="html", help="print where the HTML report is (a path or s3:// URL)")
@click.option("--evidently-json", "what", flag_value="json", help="print Evidently's full JSON report")
@db_opt
def drift_show(report_id: int, what: str | None, database_url: str | None) -> None:
    """One drift report: its summary and per-column verdicts (or its files)."""
    from recstream.monitors.drift.reports import ReportNotFound, get_report, report_bytes, report_file
    from recstream.stream.settings import DriftSettings

    engine, report_dir = open_engine(database_url), DriftSettings().report_dir
    try:
        if what == "html":
            row = get_report(engine, report_id)
            report_bytes(row, "html", report_dir)  # there, or a clear error
            click.echo(row["html_path"])
        elif what == "json":
            click.echo(report_file(engine, report_id, "json", report_dir).decode())
        else:
            click.echo(json.dumps(get_report(engine, report_id), default=str, indent=2))
    except ReportNotFound as exc:
        raise click.ClickException(str(exc)) from None
