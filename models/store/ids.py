"""Row ids given as text (a path, a query, a version name): only ASCII digits that fit a database row id."""

from __future__ import annotations

#: the largest id a database row can have (a signed 64-bit integer): a bigger number names no row
MAX_ROW_ID = 2**63 - 1


def parse_row_id(text: str) -> int | None:
    """The id `text` spells, or None: `"²".isdigit()` is true but `int("²")` fails, and a number past 64 bits
    would overflow in the database rather than find nothing."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ROW_ID:
        return None
    return int(text)
