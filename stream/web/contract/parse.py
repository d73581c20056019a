"""Requests parsed by their pydantic model, or refused (400) with a message that says what to send."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from recstream.stream.web.params import BadRequest

M = TypeVar("M", bound=BaseModel)


def parse_query(model: type[M], query: Any) -> M:
    """A model from query parameters: list fields take every value of a repeated parameter (aiohttp's MultiDict;
    a plain dict in unit tests), others the first; parameters the model does not know are ignored."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        many = list(query.getall(name, [])) if hasattr(query, "getall") else (
            [query[name]] if query.get(name) is not None else [])
        if many:
            values[name] = many if _is_list(field.annotation) else many[0]
    return _validate(model, values)


def parse_body(model: type[M], raw: bytes) -> M:
    """A model from a JSON object body (no body: every default); unknown fields are refused."""
    try:
        body = json.loads(raw) if raw and raw.strip() else {}
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, e.g. {example(model)}")
    return _validate(model, body)


def example(model: type[BaseModel]) -> str:
    """A body to show in a refusal: the model's first documented example."""
    examples = (model.model_config.get("json_schema_extra") or {}).get("examples")  # type: ignore[union-attr]
    return json.dumps(examples[0]) if examples else "{}"


def _validate(model: type[M], values: dict[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(describe(model, exc)) from None


def describe(model: type[BaseModel], exc: ValidationError) -> str:
    """The first problem in words: `<field> must be <its description>, got <value>`."""
    errors = exc.errors(include_url=False)
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return f"unknown field(s) {', '.join(unknown)}: send {', '.join(sorted(model.model_fields))}"
    err = errors[0]
    name = str(err["loc"][0]) if err["loc"] else "body"
    field = model.model_fields.get(name)
    got = err.get("input")
    if err["type"] == "value_error":  # a validator's own sentence: "takes at most 500 values, got 501"
        return f"{name} {err['ctx']['error']}"
    if err["type"] == "missing":
        return f"{name} is required: {field.description if field is not None else 'see /openapi.json'}"
    wanted = field.description if field is not None and field.description else err["msg"].lower()
    return f"{name} must be {wanted}, got {_shown(got)}"


def _shown(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)[:80]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) in (list, tuple) or annotation in (list, tuple)
