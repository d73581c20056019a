"""Query parameters: parsed, or refused with a message that says what to send."""

from __future__ import annotations


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
