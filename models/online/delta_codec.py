"""Item-side deltas as bytes: a JSON header (item ids, counts, where the owner stood) and the arrays, raw.

    b"RSD1" | header length (uint32, little-endian) | header (UTF-8 JSON) | arrays, little-endian, in `_ARRAYS` order

Raw arrays because a delta of a second of a busy worker holds ~10 pairs an event: as JSON numbers that costs
more to read than the counts cost to apply. Nothing is unpickled: a delta is data, checked before it is used
(sizes, item indices inside the item list, finite non-negative counts), so a bad one is refused whole.
"""

from __future__ import annotations

import json
import math
import struct
from typing import NamedTuple

import numpy as np

from recstream.models.errors import DeltaFormatError
from recstream.models.online.item_deltas import ItemDelta

__all__ = ["Part", "decode", "encode"]

MAGIC = b"RSD1"
#: (field, dtype, columns (or the header field that says), which header count sizes it)
_ARRAYS = (("pop_items", "<i4", 1, "n"), ("pop_values", "<f8", 1, "n"), ("pop_counts", "<f4", 1, "n"),
           ("pairs", "<i4", 2, "m"), ("pair_counts", "<f4", 1, "m"), ("pair_near", "<f4", 1, "m"),
           ("nexts", "<i4", 2, "k"), ("next_counts", "<f4", 1, "k"), ("watch", "<i4", 2, "w"),
           ("factor_items", "<i4", 1, "f"), ("factors", "<f4", "dim", "f"), ("factor_bias", "<f4", 1, "f"))
_INDICES = ("pop_items", "pairs", "nexts", "factor_items")
#: may be negative (changes), still finite
_SIGNED = ("factors", "factor_bias")


class Part(NamedTuple):
    """Which message a delta belongs to, split in `of` parts (a peer applies all of one message or none)."""

    message: str
    index: int
    of: int


def encode(delta: ItemDelta, part: Part) -> bytes:
    header = {"items": delta.items, "events": delta.events, "positives": delta.positives, "t0": delta.t0,
              "ends": delta.ends, "learned_at": delta.learned_at, "message": part.message, "part": part.index,
              "parts": part.of, "n": len(delta.pop_items), "m": len(delta.pairs), "k": len(delta.nexts),
              "w": len(delta.watch), "f": len(delta.factor_items), "dim": delta.factors.shape[1]}
    head = json.dumps(header, separators=(",", ":")).encode()
    arrays = [np.ascontiguousarray(getattr(delta, name), dtype=dtype).tobytes() for name, dtype, _, _ in _ARRAYS]
    return b"".join([MAGIC, struct.pack("<I", len(head)), head, *arrays])


def decode(data: bytes) -> tuple[ItemDelta, Part]:
    """The delta and its part, or DeltaFormatError saying what is wrong."""
    if not data.startswith(MAGIC) or len(data) < 8:
        raise DeltaFormatError("not an item-side delta (no RSD1 header)")
    (size,) = struct.unpack_from("<I", data, 4)
    try:
        h = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, ValueError) as exc:
        raise DeltaFormatError(f"delta header is not JSON: {exc}") from None
    _check_header(h)
    arrays, at = {}, 8 + size
    for name, dtype, cols, count in _ARRAYS:
        width = h[cols] if isinstance(cols, str) else cols
        n = h[count] * width
        size = np.dtype(dtype).itemsize
        if at + n * size > len(data):
            raise DeltaFormatError(f"delta ends inside {name}")
        a = np.frombuffer(data, dtype=dtype, count=n, offset=at).astype(dtype[1:])  # native, writable, its own
        arrays[name] = a.reshape(h[count], width) if width != 1 or isinstance(cols, str) else a
        at += n * size
    if at != len(data):
        raise DeltaFormatError(f"{len(data) - at} bytes after the delta's arrays")
    _check_arrays(arrays, len(h["items"]))
    delta = ItemDelta(h["items"], h["events"], h["positives"], float(h["t0"]), ends=h["ends"],
                      learned_at=float(h["learned_at"]), **arrays)
    return delta, Part(h["message"], h["part"], h["parts"])


def _check_header(h: object) -> None:
    if not isinstance(h, dict):
        raise DeltaFormatError("delta header is not an object")
    counts = ("events", "positives", "part", "parts", "n", "m", "k", "w", "f", "dim")
    if any(not isinstance(h.get(c), int) or h[c] < 0 for c in counts):
        raise DeltaFormatError(f"delta header needs non-negative integers {', '.join(counts)}")
    if not isinstance(h.get("items"), list) or not all(isinstance(i, str) for i in h["items"]):
        raise DeltaFormatError("delta header's items must be a list of strings")
    ends = h.get("ends")
    if not isinstance(ends, dict) or not all(isinstance(v, int) for v in ends.values()):
        raise DeltaFormatError("delta header's ends must map topic:partition to offsets")
    if not all(isinstance(h.get(t), int | float) and math.isfinite(h[t]) for t in ("t0", "learned_at")):
        raise DeltaFormatError("delta header's t0 and learned_at must be finite numbers")
    if not isinstance(h.get("message"), str) or h["part"] >= h["parts"]:
        raise DeltaFormatError("delta header names no message, or a part beyond its parts")


def _check_arrays(arrays: dict[str, np.ndarray], n_items: int) -> None:
    for name in _INDICES:
        a = arrays[name]
        if a.size and (a.min() < 0 or a.max() >= n_items):
            raise DeltaFormatError(f"delta's {name} name items beyond its {n_items} ids")
    for name, a in arrays.items():
        if name not in _INDICES and a.size and not (np.isfinite(a).all() and (name in _SIGNED or a.min() >= 0)):
            raise DeltaFormatError(f"delta's {name} must be finite" + ("" if name in _SIGNED else " and non-negative"))
