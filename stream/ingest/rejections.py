"""The dead-letter codes: why a message can be refused. Each is a stable label for metrics and alerts; the
detail text is for people and says what to send instead."""

from __future__ import annotations

from typing import NamedTuple

CODES = ("too_large", "not_json", "schema", "bad_timestamp", "key_mismatch")


class Rejection(NamedTuple):
    """Why a message was not accepted: `code` is one of CODES."""

    code: str
    detail: str
