"""A refusal that says what to send, and a row id from a path (the rest is parsed by the contract's models)."""

from __future__ import annotations

from recstream.models.store.ids import parse_row_id


class BadRequest(ValueError):
    """The request is malformed; the message says what to send instead (answered as 400)."""


def row_id(raw: str, what: str, example: str) -> int:
    """A database row's id from a path or query part (see `parse_row_id`), or a BadRequest saying what to send."""
    rid = parse_row_id(raw)
    if rid is None:
        raise BadRequest(f"{what} is a number (e.g. {example}), got {raw[:40]!r}")
    return rid
