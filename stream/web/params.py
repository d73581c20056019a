"""Query parameters: parsed, or refused with a message that says what to send."""

from __future__ import annotations

import json
from typing import Any

from recstream.models.store.ids import parse_row_id


class BadRequest(ValueError):
    """The request is malformed; the message says what to send instead (answered as 400)."""


def int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer between {low} and {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be an integer between {low} and {high}, got {value}")
    return value


def bool_param(raw: str | None, name: str, default: bool) -> bool:
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, got {raw!r}")


def row_id(raw: str, what: str, example: str) -> int:
    """A database row's id from a path or query part (see `parse_row_id`), or a BadRequest saying what to send."""
    rid = parse_row_id(raw)
    if rid is None:
        raise BadRequest(f"{what} is a number (e.g. {example}), got {raw[:40]!r}")
    return rid


def json_object(raw: bytes, example: str) -> dict[str, Any]:
    """A request body that must be a JSON object; any other (malformed, nested past Python's recursion limit,
    not an object) is refused with `example` of what to send."""
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, e.g. {example}")
    return body
