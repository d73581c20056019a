"""The HTTP API of a worker as one class: recommendations, health, model operations and drift reports.

Each view takes a request (anything with `query`, `headers`, `path_qs` and `read()`) and returns a `Reply`, so
unit tests call them without Faust; `bind()` (stream/app) serves them on Faust's web server. Bad input gets a 4xx
that says what to send; database work runs in a thread so recommendations keep being served meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from recstream.models.errors import RegistryError, VersionNotFound
from recstream.models.store.operations import Operations
from recstream.models.store.runs import RunQueue
from recstream.monitors.drift.reports import ReportNotFound, get_report, list_reports, report_bytes
from recstream.monitors.metrics import CONTENT_TYPE
from recstream.stream.web.auth import Access
from recstream.stream.web.banner import with_banner
from recstream.stream.web.contract import requests as q
from recstream.stream.web.contract.parse import parse_body, parse_query
from recstream.stream.web.contract.routes import DOCUMENT, OPERATOR, SERVING
from recstream.stream.web.events import BrokerUnavailable, EventGateway
from recstream.stream.web.forwarding import FORWARDED_BY, Forwarder
from recstream.stream.web.params import BadRequest, row_id
from recstream.stream.web.published import Published
from recstream.stream.web.reply import Reply, Request
from recstream.stream.worker import health
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

#: what /healthz tells a caller without a token when reads are protected
PUBLIC_HEALTH = ("status", "uptime_s", "worker", "partitions")


async def blocking(fn: Callable[[], Any]) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


class WorkerViews:
    #: what `bind()` serves (contract/routes.py: path, method, view, access, models)
    ROUTES = SERVING + OPERATOR + DOCUMENT

    def __init__(self, state: WorkerState, access: Access | None = None) -> None:
        self.state = state
        self.serving = state.settings.serving
        self.access = access or Access(self.serving)
        self.forwarder = Forwarder(state.source, self.serving.forward_timeout_s)
        self.events = EventGateway(state.settings, state.topics)
        self.published = Published()

    async def recommendations(self, request: Request, user_id: str) -> Reply:
        posted = getattr(request, "method", "GET") == "POST"
        body = await request.read() if posted else None
        try:
            ask = parse_body(q.RecommendationBody, body or b"") if posted else parse_query(q.RecommendationQuery,
                                                                                            request.query)
        except BadRequest as exc:
            return Reply.error(str(exc), 400)
        if ask.explain and (denied := self.access.reader(request)) is not None:
            return denied  # an explanation lists the user's recent items: operator detail
        if len(user_id) > 256:
            return Reply.error("user_id is longer than 256 characters", 400)
        # A forwarded request is answered where it lands (no loops while the directory catches up).
        forwarded, router = request.headers.get(FORWARDED_BY), self.state.router
        if not forwarded and not router.assigned and not router.owners:
            await self._learn_owners()
        owner = None if forwarded else router.owner_of(user_id)
        if owner is not None:
            answered = await self.forwarder.forward(owner, request.path_qs, body,
                                                    request.headers.get("Authorization"))
            if answered is not None:
                self.state.router.forwarded += 1
                return answered
        with self.state.metrics.request_seconds.time():
            answer = self.state.recommend(user_id, ask.k, ask.exclude_seen, ask.filters(), ask.explain)
        answer["served_by"] = self.state.source
        return Reply.json(answer)

    async def _learn_owners(self) -> None:
        """A replica that holds no partitions and has not read the directory yet (it is starting): read it now
        rather than answer *popular* for a user another worker knows."""
        # A failure is the heartbeat service's to report and retry; this request is answered locally meanwhile.
        with contextlib.suppress(Exception):
            await self.state.router.refresh()

    async def similar_items(self, request: Request, item_id: str) -> Reply:
        """GET /items/{id}/similar?k=&category=&available_only=: "more like this" from any worker (item-side
        knowledge is shared by the item feed), with the catalogue's rules and the caller's filters."""
        try:
            ask = parse_query(q.SimilarQuery, request.query)
        except BadRequest as exc:
            return Reply.error(str(exc), 400)
        if self.state.recommender.item_row(item_id) is None:
            return Reply.error(f"no item {item_id!r} has been seen in events yet, so nothing is known to be like it", 404)
        return Reply.json(self.state.similar(item_id, ask.k, ask.filters()))

    async def item(self, request: Request, item_id: str) -> Reply:
        """GET /items/{id}: the catalogue's record and what the online model knows of the item."""
        record = self.state.catalogue.get(item_id)
        row = self.state.recommender.item_row(item_id)
        if record is None and row is None:
            return Reply.error(f"no item {item_id!r}: neither in the catalogue nor in any event", 404)
        return Reply.json({"item_id": item_id, "catalogue": record.as_dict() if record else None,
                           "seen_in_events": row is not None, "served_by": self.state.source})

    async def healthz(self, request: Request) -> Reply:
        """Liveness and the worker's state; with read protection, peers' addresses, errors and model details
        only for a token that reads (a load balancer's probe needs none of them)."""
        h = self.state.health()
        if not self.access.may_read(request):
            return Reply.json({k: h[k] for k in PUBLIC_HEALTH if k in h})
        return Reply.json(h)

    async def readyz(self, request: Request) -> Reply:
        """Readiness, distinct from liveness (/healthz): 503 until this worker has restored its state and either
        owns partitions or knows who owns each one (then it forwards)."""
        ready, why = health.readiness(self.state)
        return Reply.json({"ready": ready, "why": why, "partitions": list(self.state.router.assigned)},
                          200 if ready else 503)

    async def post_events(self, request: Request) -> Reply:
        """POST /events (see events.py): JSON, sent as application/json or, from a page's sendBeacon, text/plain."""
        try:
            body = parse_body(q.EventsBody, await request.read())
        except BadRequest as exc:
            return Reply.error(str(exc), 400)
        try:
            return Reply.json(await self.events.post(body))
        except BrokerUnavailable as exc:
            return Reply.error(str(exc), 503)

    async def openapi(self, request: Request) -> Reply:
        return self.published.document()

    async def docs(self, request: Request) -> Reply:
        return self.published.docs_page()

    async def static(self, request: Request, name: str) -> Reply:
        return self.published.file(name)

    async def metrics(self, request: Request) -> Reply:
        return Reply(200, self.state.metrics.render(), CONTENT_TYPE)

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
