"""What a caller may ask of GET (query parameters) or POST (a JSON body) /recommendations/{user_id}.

    GET  /recommendations/u1?k=10&exclude=sku-1,sku-2&category=shoes&category=sale&available_only=true
    POST /recommendations/u1  {"k": 10, "exclude": ["sku-1", "sku-2"], "category": ["shoes", "sale"]}

A POST takes item ids that contain commas, and up to 500 of them without a long URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recstream.models.serving.filters import MAX_CATEGORIES, MAX_EXCLUDE, Filters
from recstream.stream.web.params import BadRequest, bool_param, int_param, json_object

MAX_K = 200
BODY_FIELDS = {"k", "exclude_seen", "exclude", "category", "available_only", "explain"}


@dataclass(frozen=True)
class RecommendationRequest:
    k: int = 10
    exclude_seen: bool = True
    filters: Filters = field(default_factory=Filters)
    explain: bool = False

    @classmethod
    def from_query(cls, query: Any) -> RecommendationRequest:
        return cls(int_param(query.get("k"), "k", 10, 1, MAX_K),
                   bool_param(query.get("exclude_seen"), "exclude_seen", True),
                   Filters(_ids(_all(query, "exclude"), "exclude", MAX_EXCLUDE),
                           _ids(_all(query, "category"), "category", MAX_CATEGORIES),
                           bool_param(query.get("available_only"), "available_only", True)),
                   bool_param(query.get("explain"), "explain", False))

    @classmethod
    def from_body(cls, raw: bytes) -> RecommendationRequest:
        body = json_object(raw, '{"k": 10, "exclude": ["sku-1"]}')
        unknown = sorted(set(body) - BODY_FIELDS)
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(unknown)}: send {', '.join(sorted(BODY_FIELDS))}")
        k = body.get("k", 10)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise BadRequest(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
        return cls(k, _bool(body, "exclude_seen", True),
                   Filters(_ids(_list(body, "exclude"), "exclude", MAX_EXCLUDE, split=False),
                           _ids(_list(body, "category"), "category", MAX_CATEGORIES, split=False),
                           _bool(body, "available_only", True)),
                   _bool(body, "explain", False))


def _all(query: Any, name: str) -> list[str]:
    """Every value of a repeated query parameter (aiohttp's MultiDict; a plain dict in unit tests)."""
    if hasattr(query, "getall"):
        return list(query.getall(name, []))
    value = query.get(name)
    return [] if value is None else [value]


def _list(body: dict, name: str) -> list[str]:
    value = body.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings, got {value!r:.80}")
    return value


def _bool(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {value!r:.40}")
    return value


def _ids(values: list[str], name: str, most: int, split: bool = True) -> tuple[str, ...]:
    ids = [v.strip() for raw in values for v in (raw.split(",") if split else [raw])]
    ids = list(dict.fromkeys(i for i in ids if i))
    if len(ids) > most:
        raise BadRequest(f"{name} takes at most {most} values, got {len(ids)}")
    too_long = next((i for i in ids if len(i) > 256), None)
    if too_long is not None:
        raise BadRequest(f"{name} values are at most 256 characters, got one of {len(too_long)}")
    return tuple(ids)
