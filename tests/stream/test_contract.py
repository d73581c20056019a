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
from recstream.stream.ingest.rejections import Rejection

README = Path(__file__).resolve().parents[2] / "README.md"


def validator(topic: str) -> Draft202012Validator:
    schema = json_schema(topic)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def readme_examples() -> list[dict]:
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [json.loads(line) for block in blocks for line in block.splitlines() if line.strip()]


def topic_of(doc: dict) -> str:
    return "feedback" if "action" in doc else "behaviour"


def test_every_readme_example_is_valid_by_the_schema_and_by_the_worker():
    examples = readme_examples()
    assert len(examples) >= 5
    parser = EventParser()
    for doc in examples:
        errors = list(validator(topic_of(doc)).iter_errors(doc))
        assert not errors, (doc, [e.message for e in errors])
        parse = parser.feedback if topic_of(doc) == "feedback" else parser.behaviour
        assert not isinstance(parse(doc["user_id"].encode(), json.dumps(doc).encode()), Rejection), doc


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
    assert set(written) == {"behaviour.schema.json", "feedback.schema.json"}
    assert written["feedback.schema.json"]["properties"]["action"]["enum"] == ["impression", "click", "skip",
                                                                              "purchase"]
    bad = CliRunner().invoke(main, ["schema", "items"])
    assert bad.exit_code == 2 and "behaviour" in bad.output
