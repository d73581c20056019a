"""The OpenAPI 3.1 document, generated from the route table and the request/reply models (nothing written by
hand twice). Served at /openapi.json and written by `recstream openapi`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from recstream.stream.ingest.events import BehaviourEvent, FeedbackEvent
from recstream.stream.web.contract import replies
from recstream.stream.web.contract.routes import CONSOLE, DOCUMENT, OPERATOR, SERVING, Route

REF = "#/components/schemas/{model}"
ROUTES = SERVING + OPERATOR + DOCUMENT + CONSOLE
#: the bearer tokens each access rule takes (OpenAPI: any one of the listed requirements will do)
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "read": [{}, {"read": []}, {"operator": []}],  # {}: open unless RECSTREAM_READ_TOKEN_REQUIRED
    "operator": [{"operator": []}],
    "producer": [{"producer": []}, {"producer_query": []}, {"operator": []}],
    "console": [{}, {"console_session": []}],
}
SCHEMES = {
    "operator": {"type": "http", "scheme": "bearer", "description": "RECSTREAM_OPERATOR_TOKEN"},
    "read": {"type": "http", "scheme": "bearer", "description": "RECSTREAM_READ_TOKEN"},
    "producer": {"type": "http", "scheme": "bearer", "description": "RECSTREAM_PRODUCER_TOKEN"},
    "producer_query": {"type": "apiKey", "in": "query", "name": "token",
                       "description": "RECSTREAM_PRODUCER_TOKEN, for a page's sendBeacon (which sends no headers)"},
    "console_session": {"type": "apiKey", "in": "cookie", "name": "recstream_session"},
}
INTRO = ("Recommendations served within a second of the events that shape them, events reported over HTTP, and "
         "the operator's model versions. Every refusal is a 4xx whose JSON body's `error` says what to send.")


def document(version: str, routes: Iterable[Route] = ROUTES) -> dict[str, Any]:
    routes = list(routes)
    models = {m for r in routes for m in (r.query, r.body, r.reply) if isinstance(m, type)}
    models |= {replies.Error, BehaviourEvent, FeedbackEvent}
    _, schemas = models_json_schema([(m, _mode(m, routes)) for m in sorted(models, key=lambda m: m.__name__)],
                                    ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route)
    return {"openapi": "3.1.0",
            "info": {"title": "recstream", "version": version, "description": INTRO,
                     "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
            "tags": [{"name": t} for t in dict.fromkeys(r.tag for r in routes)],
            "paths": paths,
            "components": {"schemas": schemas.get("$defs", {}), "securitySchemes": SCHEMES}}


def _mode(model: type[BaseModel], routes: list[Route]) -> Any:
    return "validation" if any(model in (r.query, r.body) for r in routes) else "serialization"


def operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id(route), "summary": route.summary, "tags": [route.tag],
                          "parameters": path_parameters(route) + query_parameters(route.query),
                          "responses": responses(route)}
    if route.body is not None:
        required = any(f.is_required() for f in route.body.model_fields.values())
        op["requestBody"] = {"required": required, "content": {
            "application/json": {"schema": {"$ref": REF.format(model=route.body.__name__)}}}}
    if route.access == "console" and route.method == "POST":
        op["requestBody"] = {"required": False, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}}}}}
    if route.access in SECURITY:
        op["security"] = SECURITY[route.access]
    return op


def operation_id(route: Route) -> str:
    name = f"console_{route.view}" if route.tag == "console" else route.view
    return f"{name}_post" if route.view == "recommendations" and route.method == "POST" else name


def path_parameters(route: Route) -> list[dict[str, Any]]:
    patterns = dict(route.patterns)
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 256}
             | ({"pattern": patterns[name]} if name in patterns else {})}
            for name in re.findall(r"{(\w+)}", route.path)]


def query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    out = []
    for name, prop in model.model_json_schema(ref_template=REF)["properties"].items():
        description = prop.pop("description", None)
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": False, "schema": prop, "description": description}
        if prop.get("type") == "array":
            param |= {"style": "form", "explode": True}
        out.append(param)
    return out


def responses(route: Route) -> dict[str, Any]:
    error = {"description": "refused: `error` says what to send",
             "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    out: dict[str, Any] = {str(route.status): {"description": "answered", "content": _content(route)}}
    for status in route.also:
        out[str(status)] = ({"description": "see Location"} if status == 303 else
                            {"description": "not yet", "content": _content(route)})
    if route.access == "console":  # the console answers people, in pages
        out["4XX"] = {"description": "refused (a page that says why)", "content": {"text/html": {"schema": {
            "type": "string"}}}}
    else:
        out["4XX"] = error
    return out


def _content(route: Route) -> dict[str, Any]:
    if isinstance(route.reply, str):
        schema: dict[str, Any] = {"type": "object"} if route.reply == "application/json" else {"type": "string"}
        if route.path == "/drift/reports/{ref}":  # {id}.json answers the report's JSON
            return {"text/html": {"schema": schema}, "application/json": {"schema": {"type": "object"}}}
        return {route.reply: {"schema": schema}}
    return {"application/json": {"schema": {"$ref": REF.format(model=route.reply.__name__)}}}
