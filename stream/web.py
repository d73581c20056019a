"""HTTP API of a worker: recommendations, health and model operations. Bad input gets a 4xx that says what to send.

Mutating model endpoints need `Authorization: Bearer $RECSTREAM_OPERATOR_TOKEN`; with no token configured they are
refused, so a fresh install never exposes promote/rollback to anyone who can reach the port.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import faust
from faust.web import View

from recstream.models.errors import RegistryError, VersionNotFound
from recstream.monitors.drift import ReportNotFound, get_report, list_reports, report_path
from recstream.monitors.metrics import CONTENT_TYPE

from .directory import WorkerInfo
from .service import WorkerState

MAX_K = 200
#: Header on a request one worker forwards to another (the value names the sender).
FORWARDED_BY = "X-Recstream-Forwarded-By"
log = logging.getLogger("recstream.worker")


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
        # Another worker consumes this user's partition: its state is the up-to-date one. A forwarded request is
        # answered where it lands (no loops while the directory catches up with a rebalance).
        owner = None if request.headers.get(FORWARDED_BY) else state.owner_of(user_id)
        if owner is not None:
            answered = await forward(web, request, owner)
            if answered is not None:
                return answered
        with state.metrics.request_seconds.time():
            answer = state.recommend(user_id, k, exclude)  # type: ignore[arg-type]
        answer["served_by"] = state.source
        return web.json(answer)

    http: list[aiohttp.ClientSession] = []  # one per worker, made on first use (it needs the running loop)
    warned: set[str] = set()

    async def forward(web: Any, request: Any, owner: WorkerInfo) -> Any:
        """The owner's answer, verbatim, or None when it cannot be reached in time (answered here instead)."""
        if not http:
            http.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=state.settings.forward_timeout_s)))
        try:
            async with http[0].get(owner.url + request.path_qs, headers={FORWARDED_BY: state.source}) as resp:
                body, status = await resp.read(), resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if owner.source not in warned:  # once per owner: a dead worker would otherwise log every request
                warned.add(owner.source)
                log.warning("worker %s (%s) owns the partition but did not answer (%s); answering here until the "
                            "group rebalances", owner.source, owner.url, exc or type(exc).__name__)
            return None
        warned.discard(owner.source)
        state.forwarded += 1
        return web.bytes(body, content_type="application/json", status=status)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json(state.health())

    @app.page("/models")
    async def models_list(web: Any, request: Any) -> Any:
        if (denied := _read_denied(web, request, state)) is not None:
            return denied
        versions = await _blocking(lambda: [v.as_dict() for v in state.registry.list()])
        return web.json({"versions": versions, "serving_here": state.deep.state()})

    @app.page("/models/runs")
    async def models_runs(web: Any, request: Any) -> Any:
        if (denied := _read_denied(web, request, state)) is not None:
            return denied
        return web.json({"runs": await _blocking(state.registry.runs)})

    class Rollback(View):
        async def post(self, request: Any) -> Any:
            def rollback(body: dict, actor: str) -> dict:
                to, kind = body.get("to"), body.get("kind")
                if to is not None:
                    target = state.registry.get(to)
                    if kind is not None and kind != target.kind:
                        raise RegistryError(f"{target.name} is a {target.kind} version, not {kind}")
                    kind = target.kind
                return state.registry.rollback(actor=actor, reason=body.get("reason", ""), to=to,
                                               kind=kind or "deep").as_dict()
            return await _mutate(self, request, state, rollback)

    class Retrain(View):
        async def post(self, request: Any) -> Any:
            def request_it(body: dict, actor: str) -> dict:
                run_id, created = state.registry.request_retrain(trigger="api", requested_by=actor,
                                                                 reason=body.get("reason"))
                return {"run_id": run_id, "queued": created,
                        "note": "the scheduler (`recstream scheduler`) runs queued retrainings"}
            return await _mutate(self, request, state, request_it, status=202)

    class Promote(View):
        async def post(self, request: Any, ref: str) -> Any:
            def promote(body: dict, actor: str) -> dict:
                reason = body.get("reason", "")
                if body.get("canary"):
                    return state.registry.start_canary(ref, actor=actor, reason=reason).as_dict()
                return state.registry.promote(ref, actor=actor, reason=reason).as_dict()
            return await _mutate(self, request, state, promote)

    class Show(View):
        async def get(self, request: Any, ref: str) -> Any:
            if (denied := _read_denied(self, request, state)) is not None:
                return denied
            try:
                version, audit = await _blocking(lambda: (state.registry.get(ref).as_dict(), state.registry.audit(ref)))
            except RegistryError as exc:
                return self.json({"error": str(exc)}, status=404)
            return self.json({**version, "audit": audit})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        if (denied := _read_denied(web, request, state)) is not None:
            return denied
        return web.bytes(state.metrics.render(), content_type=CONTENT_TYPE)

    @app.page("/drift/reports")
    async def drift_list(web: Any, request: Any) -> Any:
        if (denied := _read_denied(web, request, state)) is not None:
            return denied
        limit = _int_param(request.query.get("limit"), "limit", 50, 1, 1000)
        if isinstance(limit, str):
            return web.json({"error": limit}, status=400)
        reports = await _blocking(lambda: list_reports(state.registry.engine, limit))  # type: ignore[arg-type]
        for r in reports:
            r["html"], r["json"] = f"/drift/reports/{r['id']}", f"/drift/reports/{r['id']}.json"
        return web.json({"reports": reports})

    @app.page("/drift/reports/{ref}")
    async def drift_show(web: Any, request: Any, ref: str) -> Any:
        # One route for both: aiohttp's {ref} also matches "12.json".
        if (denied := _read_denied(web, request, state)) is not None:
            return denied
        kind = "json" if ref.endswith(".json") else "html"
        number = ref.removesuffix(".json")
        if not number.isdigit():
            return web.json({"error": f"a drift report id is a number (e.g. /drift/reports/3 or "
                                      f"/drift/reports/3.json), got {ref!r}"}, status=400)
        def read() -> tuple[dict, bytes]:
            row = get_report(state.registry.engine, int(number))
            return row, report_path(row, kind).read_bytes()

        try:
            row, body = await _blocking(read)
        except ReportNotFound as exc:
            return web.json({"error": str(exc)}, status=404)
        if kind == "json":
            return web.bytes(body, content_type="application/json")
        return web.html(_with_banner(body.decode("utf-8"), row))

    app.page("/models/rollback")(Rollback)
    app.page("/models/retrain")(Retrain)
    app.page("/models/{ref}/promote")(Promote)
    app.page("/models/{ref}")(Show)


async def _blocking(fn: Callable[[], Any]) -> Any:
    """Database work runs in a thread: the event loop keeps serving recommendations meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def _with_banner(page: str, row: dict) -> str:
    """The Evidently page with a header saying what was compared and what recstream did about it."""
    def when(ts: float | None) -> str:
        return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))

    banner = (
        '<div style="font-family:sans-serif;padding:12px 24px;background:#f4f4f4;border-bottom:1px solid #ddd">'
        f'<b>recstream drift report {row["id"]}</b> — {"DRIFT" if row["drifted"] else "no drift"} '
        f'({row["drifted_columns"]} of {row["n_columns"]} columns, share {row["drift_share"]:.2f})<br>'
        f'current: {row["cur_rows"]} events, {when(row["cur_start"])} to {when(row["cur_end"])}; '
        f'reference ({html.escape(row["reference"])}): {row["ref_rows"]} events, {when(row["ref_start"])} to '
        f'{when(row["ref_end"])}<br>action: {html.escape(row.get("action") or "-")} · '
        f'<a href="/drift/reports/{row["id"]}.json">JSON</a> · <a href="/drift/reports">all reports</a></div>')
    head, sep, rest = page.partition("<body>")
    return head + sep + banner + rest if sep else banner + page


def _read_denied(web: Any, request: Any, state: WorkerState) -> Any:
    """With RECSTREAM_READ_TOKEN_REQUIRED, read endpoints for operators need the token too (serving and
    /healthz stay open: clients and orchestrators call them)."""
    if not state.settings.read_token_required:
        return None
    problem = _authorised(request, state)
    if problem is None:
        return None
    return web.json({"error": problem}, status=403 if state.settings.operator_token is None else 401)


def _authorised(request: Any, state: WorkerState) -> str | None:
    """None when the request carries the operator token, else why not."""
    token = state.settings.operator_token
    if token is None:
        return "model operations over HTTP are disabled: set RECSTREAM_OPERATOR_TOKEN on the workers"
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.get_secret_value().encode()):
        return "send the operator token as 'Authorization: Bearer <token>'"
    return None


#: Fields a mutating request may carry, and their JSON types (`to` is a version name or id).
_BODY_FIELDS: dict[str, tuple[type, ...]] = {"reason": (str,), "actor": (str,), "to": (str, int), "canary": (bool,),
                                             "kind": (str,)}


async def _mutate(view: View, request: Any, state: WorkerState, action: Callable[[dict, str], Any],
                  status: int = 200) -> Any:
    problem = _authorised(request, state)
    if problem is not None:
        return view.json({"error": problem}, status=403 if state.settings.operator_token is None else 401)
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return view.json({"error": "the body must be a JSON object, e.g. {\"reason\": \"...\"}"}, status=400)
    for key, types in _BODY_FIELDS.items():
        if body.get(key) is not None and not isinstance(body[key], types):
            return view.json({"error": f"{key} must be a {' or '.join(t.__name__ for t in types)}, "
                                       f"got {body[key]!r}"}, status=400)
    actor = f"api:{str(body.get('actor') or 'operator')[:64]}"
    try:
        result = await _blocking(lambda: action(body, actor))
    except VersionNotFound as exc:
        return view.json({"error": str(exc)}, status=404)
    except RegistryError as exc:
        return view.json({"error": str(exc)}, status=409)
    await _blocking(state.deep.poll)  # this worker at once; the others within RECSTREAM_MODEL_POLL_S
    return view.json(result, status=status)
