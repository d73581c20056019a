"""`recstream schema`: the event contract as JSON Schema files."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("topics", nargs=-1, type=click.Choice(["behaviour", "feedback", "items"]))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="write TOPIC.schema.json files here instead of printing")
def schema(topics: tuple[str, ...], out: Path | None) -> None:
    """JSON Schema of the behaviour, feedback and items topics (all when none is named), for producers to validate
    against. The worker checks a few things no schema can: key = user_id, ts within range, size."""
    from recstream.stream.ingest.contract import TOPICS, json_schema

    chosen = topics or tuple(TOPICS)
    docs = {t: json_schema(t) for t in chosen}
    if out is None:
        click.echo(json.dumps(docs[chosen[0]] if len(chosen) == 1 else docs, indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for t, doc in docs.items():
        (out / f"{t}.schema.json").write_text(json.dumps(doc, indent=2) + "\n")
        click.echo(f"wrote {out / f'{t}.schema.json'}")


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write the document here")
def openapi(out: Path | None) -> None:
    """The HTTP API's OpenAPI 3.1 document (what every worker serves at /openapi.json)."""
    from recstream.stream.web.contract.openapi import document
    from recstream.stream.web.published import version

    text = json.dumps(document(version()), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text)
    click.echo(f"wrote {out}")
