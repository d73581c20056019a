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
