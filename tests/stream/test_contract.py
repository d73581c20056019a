"""The published JSON Schema agrees with the worker's validation, and every README example passes it."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from recstream.stream.cli import main
from recstream.stream.ingest.contract import json_schema
from recstream.stream.ingest.events import EventParser
from recstream.stream.ingest.item_events import parse_item
from recstream.stream.ingest.rejections import Rejection

ROOT = Path(__file__).resolve().parents[2]
#: where the contract's examples are shown: a summary in the README, the whole of it in docs/events.md
PAGES = (ROOT / "README.md", ROOT / "docs" / "events.md")


def validator(topic: str) -> Draft202012Validator:
    schema = json_schema(topic)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def readme_examples() -> list[dict]:
    blocks = [b for page in PAGES for b in re.findall(r"```json\n(.*?)```", page.read_text(), flags=re.DOTALL)]
    return [json.loads(line) for block in blocks for line in block.splitlines() if line.strip()]


def topic_of(doc: dict) -> str:
    return "items" if "event_id" not in doc else "feedback" if "action" in doc else "behaviour"


def test_every_readme_example_is_valid_by_the_schema_and_by_the_worker():
    examples = readme_examples()
    assert len(examples) >= 5
    parser = EventParser()
    for doc in examples:
        errors = list(validator(topic_of(doc)).iter_errors(doc))
        assert not errors, (doc, [e.message for e in errors])
        topic = topic_of(doc)
        if topic == "items":
            assert not isinstance(parse_item(doc["item_id"].encode(), json.dumps(doc).encode()), Rejection), doc
            continue
        parse = parser.feedback if topic == "feedback" else parser.behaviour
        assert not isinstance(parse(doc["user_id"].encode(), json.dumps(doc).encode()), Rejection), doc
    assert {topic_of(d) for d in examples} == {"behaviour", "feedback", "items"}


GOOD = {"event_id": "e1", "user_id": "u1", "item_id": "i1", "type": "click", "ts": 1772366400}
BROKEN = [
    {**GOOD, "type": "like"},                              # not an event type
    {k: v for k, v in GOOD.items() if k != "event_id"},    # missing id
    {**GOOD, "type": "rating"},                            # a rating needs a value
    {**GOOD, "colour": "red"},                             # unknown field
    {**GOOD, "user_id": ""},                               # empty id
    {**GOOD, "ts": "yesterday"},                           # not a time
    {**GOOD, "schema_version": 2},
    {**GOOD, "context": {"a": [1, 2]}},                    # context values are scalars
]


@pytest.mark.parametrize("doc", BROKEN, ids=range(len(BROKEN)))
def test_a_broken_message_is_refused_by_the_schema_and_by_the_worker(doc):
    assert list(validator("behaviour").iter_errors(doc))
    got = EventParser().behaviour(str(doc.get("user_id", "")).encode(), json.dumps(doc).encode())
    assert isinstance(got, Rejection)


def test_the_cli_writes_one_file_per_topic(tmp_path):
    out = CliRunner().invoke(main, ["schema", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    written = {p.name: json.loads(p.read_text()) for p in tmp_path.iterdir()}
    assert set(written) == {"behaviour.schema.json", "feedback.schema.json", "items.schema.json"}
    assert written["feedback.schema.json"]["properties"]["action"]["enum"] == ["impression", "click", "skip",
                                                                              "purchase"]
    assert "item_id" in written["items.schema.json"]["description"]
    bad = CliRunner().invoke(main, ["schema", "users"])
    assert bad.exit_code == 2 and "items" in bad.output


ITEM = {"item_id": "sku-1", "available": False, "categories": ["shoes"], "created_at": 1772366400}
BROKEN_ITEMS = [
    {**ITEM, "available": "no"},                       # not a boolean
    {**ITEM, "categories": "shoes"},                   # a list
    {**ITEM, "attributes": {"sizes": [40, 41]}},       # attribute values are scalars
    {**ITEM, "price": 10},                             # unknown field (attributes hold the rest)
    {k: v for k, v in ITEM.items() if k != "item_id"},
]


@pytest.mark.parametrize("doc", BROKEN_ITEMS, ids=range(len(BROKEN_ITEMS)))
def test_a_broken_item_is_refused_by_the_schema_and_by_the_worker(doc):
    assert list(validator("items").iter_errors(doc))
    assert isinstance(parse_item(b"sku-1", json.dumps(doc).encode()), Rejection)


def test_items_are_keyed_by_item_id_and_a_tombstone_deletes():
    assert parse_item(b"sku-1", json.dumps(ITEM).encode()).available is False
    assert parse_item(b"sku-2", json.dumps(ITEM).encode()).code == "key_mismatch"
    gone = parse_item(b"sku-1", None)
    assert gone.deleted and gone.item_id == "sku-1"
    assert parse_item(None, None).code == "key_mismatch"
