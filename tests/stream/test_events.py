"""The event contract: what is accepted, and a clear reason for everything that is not."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recstream.stream.ingest.events import BehaviourEvent, EventParser, FeedbackEvent
from recstream.stream.ingest.rejections import Rejection

P = EventParser()
GOOD = {"event_id": "e-1", "user_id": "u-1", "item_id": "sku-9", "type": "add_to_cart",
        "ts": "2026-03-01T12:00:00Z"}


def enc(doc) -> bytes:
    return json.dumps(doc).encode()


# The examples README.md shows, verbatim.
README_BEHAVIOUR = b'{"event_id": "e-1", "user_id": "u-42", "item_id": "sku-9", "type": "purchase", ' \
                   b'"ts": "2026-03-01T12:00:00Z", "context": {"page": "home"}}'
README_RATING = b'{"event_id": "e-2", "user_id": "u-42", "item_id": "movie-1", "type": "rating", "value": 4.5, ' \
                b'"ts": 1772366400}'
README_FEEDBACK = b'{"event_id": "f-1", "rec_id": "3f2a9c0d", "user_id": "u-42", "item_id": "sku-9", ' \
                  b'"action": "click", "model_version": "online:biased_mf", "ts": "2026-03-01T12:00:05Z"}'


def test_readme_examples_validate():
    b = P.behaviour(b"u-42", README_BEHAVIOUR)
    assert isinstance(b, BehaviourEvent) and b.to_interaction().context == {"page": "home"}
    r = P.behaviour(b"u-42", README_RATING)
    assert isinstance(r, BehaviourEvent) and r.to_interaction().ts == 1772366400.0 and r.value == 4.5
    f = P.feedback(b"u-42", README_FEEDBACK)
    assert isinstance(f, FeedbackEvent) and f.to_feedback().action == "click"


@pytest.mark.parametrize("key,value,code,words", [
    (b"u-1", b"{not json", "not_json", "JSON"),
    (b"u-1", b"\xff\xfe\x00", "not_json", "JSON"),
    (b"u-1", None, "not_json", "empty"),
    (b"u-1", b"[1, 2]", "schema", "object"),
    (b"u-1", enc({**GOOD, "type": "teleport"}), "schema", "type"),
    (b"u-1", enc({k: v for k, v in GOOD.items() if k != "item_id"}), "schema", "item_id"),
    (b"u-1", enc({**GOOD, "event_id": ""}), "schema", "event_id"),
    (b"u-1", enc({**GOOD, "user_id": "u" * 300}), "schema", "user_id"),
    (b"u-1", enc({**GOOD, "surprise": 1}), "schema", "surprise"),
    (b"u-1", enc({**GOOD, "schema_version": 2}), "schema", "schema_version"),
    (b"u-1", enc({**GOOD, "type": "rating"}), "schema", "rating event needs"),
    (b"u-1", enc({**GOOD, "ts": 12}), "bad_timestamp", "before 1990"),
    (b"u-1", enc({**GOOD, "ts": "2999-01-01T00:00:00Z"}), "bad_timestamp", "future"),
    (b"u-1", enc({**GOOD, "ts": "yesterday"}), "schema", "ts"),
    (b"u-1", b'{"event_id":"e","user_id":"u-1","item_id":"i","type":"view","ts":1772366400,"value":NaN}',
     "schema", "finite"),
    (None, enc(GOOD), "key_mismatch", "key=user_id"),
    (b"someone-else", enc(GOOD), "key_mismatch", "key=user_id"),
    (b"u-1", b"{" + b" " * 20_000 + b"}", "too_large", "RECSTREAM_MAX_EVENT_BYTES"),
])
def test_rejections_name_what_is_wrong(key, value, code, words):
    r = P.behaviour(key, value)
    assert isinstance(r, Rejection), r
    assert r.code == code and words in r.detail
    assert P.interaction(key, value) == r  # the worker's path refuses the same way


def test_the_workers_path_gives_the_same_interaction():
    for key, value in ((b"u-42", README_BEHAVIOUR), (b"u-42", README_RATING), (b"u-1", enc(GOOD))):
        event = P.behaviour(key, value)
        assert isinstance(event, BehaviourEvent)
        assert P.interaction(key, value) == event.to_interaction()


def test_feedback_needs_a_known_action():
    r = P.feedback(b"u-42", README_FEEDBACK.replace(b'"click"', b'"like"'))
    assert isinstance(r, Rejection) and "action" in r.detail


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.one_of(st.none(), st.binary(max_size=50)))
def test_arbitrary_bytes_never_raise(value, key):
    assert isinstance(P.behaviour(key, value), (BehaviourEvent, Rejection))
    assert isinstance(P.feedback(key, value), (FeedbackEvent, Rejection))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
                           max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*GOOD, "value", "context", "extra"]), json_values))
def test_schema_breaking_json_never_raises(doc):
    out = P.behaviour(b"u-1", json.dumps(doc).encode())
    assert isinstance(out, (BehaviourEvent, Rejection))
    again = P.interaction(b"u-1", json.dumps(doc).encode())
    assert again == (out if isinstance(out, Rejection) else out.to_interaction())
