"""One request through a route: the route's access rule, then its view, then CORS headers for a web page that
may call it (RECSTREAM_CORS_ORIGINS). `bind()` serves every route through here; tests call it directly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from recstream.stream.web.contract.routes import Route
from recstream.stream.web.reply import Reply, Request

#: routes a page on another origin may call (never the operator's: a page must not read or change models)
CROSS_ORIGIN_TAGS = ("serving", "events")
PREFLIGHT_MAX_AGE_S = 600


async def blocking(fn: Callable[[], Any]) -> Any:
    """`fn` in a thread (database work, file reads): requests keep being served meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


async def answer(views: Any, route: Route, request: Request, **params: str) -> Reply:
    reply = views.access.guard(route.access, request) or await getattr(views, route.view)(request, **params)
    cors = cors_headers(request, views.serving.cors_origins) if route.tag in CROSS_ORIGIN_TAGS else ()
    return replace(reply, headers=reply.headers + cors) if cors else reply


def cors_headers(request: Request, allowed: list[str]) -> tuple[tuple[str, str], ...]:
    """Access-Control-Allow-Origin for an allowed Origin (none for another: the browser then hides the answer)."""
    origin = request.headers.get("Origin")
    if not origin or not ("*" in allowed or origin.rstrip("/") in allowed):
        return ()
    return (("Access-Control-Allow-Origin", origin), ("Vary", "Origin"))


def preflight(request: Request, allowed: list[str], methods: list[str]) -> Reply:
    """OPTIONS before a cross-origin call with headers (a bearer token, JSON): which methods and headers may come."""
    headers = cors_headers(request, allowed)
    if headers:
        headers += (("Access-Control-Allow-Methods", ", ".join(methods)),
                    ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
                    ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_S)))
    return Reply(204, b"", "text/plain", headers)
