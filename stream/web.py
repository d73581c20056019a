"""HTTP API of a worker: recommendations and health. Bad parameters get a 400 that says what to send."""

from __future__ import annotations

from typing import Any

import faust

from .service import WorkerState

MAX_K = 200


def _int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int | str:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return f"{name} must be an integer between {low} and {high}, got {raw!r}"
    if not low <= value <= high:
        return f"{name} must be an integer between {low} and {high}, got {value}"
    return value


def _bool_param(raw: str | None, name: str, default: bool) -> bool | str:
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    return f"{name} must be true or false, got {raw!r}"


def register_views(app: faust.App, state: WorkerState) -> None:
    @app.page("/recommendations/{user_id}")
    async def recommendations(web: Any, request: Any, user_id: str) -> Any:
        k = _int_param(request.query.get("k"), "k", 10, 1, MAX_K)
        exclude = _bool_param(request.query.get("exclude_seen"), "exclude_seen", True)
        for problem in (k, exclude):
            if isinstance(problem, str):
                return web.json({"error": problem}, status=400)
        if len(user_id) > 256:
            return web.json({"error": "user_id is longer than 256 characters"}, status=400)
        return web.json(state.recommend(user_id, k, exclude))  # type: ignore[arg-type]

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json(state.health())
