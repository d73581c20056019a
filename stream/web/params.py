"""Query parameters: parsed, or refused with a message that says what to send."""

from __future__ import annotations

import json
from typing import Any

#: the largest id a database row can have (a signed 64-bit integer): a bigger number names no row
MAX_ROW_ID = 2**63 - 1


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
    """A database row's id from a path or query part: ASCII digits (`"²".isdigit()` is true) within 64 bits."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ROW_ID:
        raise BadRequest(f"{what} is a number (e.g. {example}), got {raw[:40]!r}")
    return int(raw)


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
