"""The operator's API of a worker: model versions (list, show, promote, canary, roll back, retrain) and drift
reports. Reads follow RECSTREAM_READ_TOKEN_REQUIRED, changes need the operator token (the routes' access rules,
applied by `dispatch.answer`); each change is one of models/store/operations.py, done in a thread, and served
here at once (the other workers follow within RECSTREAM_MODEL_POLL_S)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from recstream.models.errors import RegistryError, VersionNotFound
from recstream.models.store.operations import Operations
from recstream.models.store.runs import RunQueue
from recstream.monitors.drift.reports import ReportNotFound, get_report, list_reports, report_bytes
from recstream.stream.web.auth import Access
from recstream.stream.web.banner import with_banner
from recstream.stream.web.contract import requests as q
from recstream.stream.web.contract.parse import parse_body, parse_query
from recstream.stream.web.contract.routes import OPERATOR
from recstream.stream.web.dispatch import blocking
from recstream.stream.web.params import BadRequest, row_id
from recstream.stream.web.reply import Reply, Request
from recstream.stream.worker.state import WorkerState

#: An Evidently page needs its inline scripts, but it is built from producer input (item ids) and served on the
#: console's origin: `sandbox` gives it an opaque origin of its own (no console cookies, no same-origin reads),
#: and it may load or send nothing.
REPORT_PAGE_HEADERS = (
    ("Content-Security-Policy", ("sandbox allow-scripts allow-popups; default-src 'none'; script-src "
                                 "'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; "
                                 "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))

B = TypeVar("B", bound=BaseModel)


class OperatorViews:
    #: what `bind()` serves (contract/routes.py)
    ROUTES = OPERATOR

    def __init__(self, state: WorkerState, access: Access | None = None) -> None:
        self.state = state
        self.serving = state.settings.serving
        self.access = access or Access(self.serving)

    async def models(self, request: Request) -> Reply:
        versions = await blocking(lambda: [v.as_dict() for v in self.state.registry.list()])
        return Reply.json({"versions": versions, "serving_here": self.state.deep.state()})

    async def runs(self, request: Request) -> Reply:
        return Reply.json({"runs": await blocking(RunQueue(self.state.registry.engine).runs)})

    async def show(self, request: Request, ref: str) -> Reply:
        registry = self.state.registry
        try:
            version, audit = await blocking(lambda: (registry.get(ref).as_dict(), registry.audit(ref)))
        except RegistryError as exc:
            return Reply.error(str(exc), 404)
        return Reply.json({**version, "audit": audit})

    async def rollback(self, request: Request) -> Reply:
        return await self._mutate(request, q.RollbackBody,
                                  lambda op, body: op.rollback(body.reason, body.to, body.kind).as_dict())

    async def retrain(self, request: Request) -> Reply:
        def request_it(op: Operations, body: q.RetrainBody) -> dict:
            run_id, created = op.retrain(body.reason or None, trigger="api")
            return {"run_id": run_id, "queued": created,
                    "note": "the scheduler (`recstream scheduler`) runs queued retrainings"}
        return await self._mutate(request, q.RetrainBody, request_it, status=202)

    async def promote(self, request: Request, ref: str) -> Reply:
        def promote(op: Operations, body: q.PromoteBody) -> dict:
            canary = body.canary
            if canary is True:  # the share this worker was started with, if it has one
                canary = self.state.settings.canary.share or 0
            return op.promote(ref, body.reason, None if canary is False else canary).as_dict()
        return await self._mutate(request, q.PromoteBody, promote)

    async def canary_share(self, request: Request) -> Reply:
        """POST /models/canary {"share": 0.2, "reason": ...}: change the running canary's share of users."""
        return await self._mutate(request, q.CanaryShareBody,
                                  lambda op, body: op.set_canary_share(body.share, body.reason, body.kind).as_dict())

    async def drift_reports(self, request: Request) -> Reply:
        try:
            limit = parse_query(q.DriftReportsQuery, request.query).limit
        except BadRequest as exc:
            return Reply.error(str(exc), 400)
        reports = await blocking(lambda: list_reports(self.state.registry.engine, limit))
        for r in reports:
            r["html"], r["json"] = f"/drift/reports/{r['id']}", f"/drift/reports/{r['id']}.json"
        return Reply.json({"reports": reports})

    async def drift_report(self, request: Request, ref: str) -> Reply:
        # One route for both: aiohttp's {ref} also matches "12.json".
        kind = "json" if ref.endswith(".json") else "html"
        try:
            number = row_id(ref.removesuffix(".json"), "a drift report id", "/drift/reports/3 or /drift/reports/3.json")
        except BadRequest as exc:
            return Reply.error(str(exc), 400)

        def read() -> tuple[dict, bytes]:
            row = get_report(self.state.registry.engine, number)
            return row, report_bytes(row, kind, self.state.settings.drift.report_dir)

        try:
            row, body = await blocking(read)
        except ReportNotFound as exc:
            return Reply.error(str(exc), 404)
        if kind == "json":
            return Reply(200, body, headers=(("X-Content-Type-Options", "nosniff"),))
        return Reply.html(with_banner(body.decode("utf-8"), row), headers=REPORT_PAGE_HEADERS)

    async def _mutate(self, request: Request, model: type[B], action: Callable[[Operations, B], Any],
                      status: int = 200) -> Reply:
        """An operator's change (the route's rule has checked the token): body validated, done in a thread, served
        here at once (the other workers follow within RECSTREAM_MODEL_POLL_S)."""
        try:
            body = parse_body(model, await request.read())
        except BadRequest as exc:
            return Reply.error(str(exc), 400)
        try:
            result = await blocking(lambda: action(Operations(self.state.registry, body.who()), body))
        except VersionNotFound as exc:
            return Reply.error(str(exc), 404)
        except RegistryError as exc:
            return Reply.error(str(exc), 409)
        await blocking(self.state.deep.poll)
        return Reply.json(result, status)
