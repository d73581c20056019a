"""`recstream items`: publish a catalogue on the items topic, show what the workers know of an item."""

from __future__ import annotations

import json
from pathlib import Path

import click

from recstream.stream.cli.common import bootstrap_opt, db_opt, load_settings, open_engine


@click.group()
def items() -> None:
    """The catalogue: availability and categories of items (topic RECSTREAM_TOPIC_ITEMS)."""


@items.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True, type=click.Choice(["auto", "movielens", "jsonl"]),
              help="movielens: movies.csv (genres become categories); jsonl: one item message per line")
@bootstrap_opt
def import_items(path: Path, fmt: str, bootstrap: str | None) -> None:
    """Publish every item of PATH on the items topic (each keyed by its item_id). Bad lines stop the import
    before anything is sent, naming the line."""
    from recstream.models.catalogue.files import read_movielens_items
    from recstream.stream.kafka.access import check_access
    from recstream.stream.kafka.produce import make_producer

    s = load_settings(bootstrap=bootstrap)
    if fmt == "auto":
        fmt = "jsonl" if path.suffix in (".jsonl", ".json", ".ndjson") else "movielens"
    records = list(read_movielens_items(path)) if fmt == "movielens" else _read_jsonl(path)
    check_access(s.kafka)
    producer = make_producer(s.kafka.bootstrap, s.kafka.client_options())
    try:
        for r in records:
            doc = {k: v for k, v in r.as_dict().items() if v not in (None, False) or k == "available"}
            producer.send(s.kafka.topic_items, key=r.item_id.encode(), value=json.dumps(doc).encode())
        producer.flush()
    finally:
        producer.close()
    click.echo(f"published {len(records)} items to {s.kafka.topic_items} at {s.kafka.bootstrap}")


def _read_jsonl(path: Path) -> list:
    from recstream.stream.ingest.item_events import parse_item
    from recstream.stream.ingest.rejections import Rejection

    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            key = str(json.loads(line).get("item_id", "")).encode()
        except (ValueError, AttributeError):
            key = b""
        got = parse_item(key, line.encode())
        if isinstance(got, Rejection):
            raise click.ClickException(f"{path}:{n}: {got.reason}")
        out.append(got)
    return out


@items.command("show")
@click.argument("item_id")
@db_opt
def show(item_id: str, database_url: str | None) -> None:
    """An item as the catalogue holds it (stored by the workers from the items topic)."""
    from recstream.models.store.items import ItemStore

    record = ItemStore(open_engine(database_url)).get(item_id)
    if record is None:
        raise click.ClickException(f"no item {item_id!r} in the catalogue (publish one with `recstream items import`)")
    click.echo(json.dumps(record.as_dict(), indent=2))
