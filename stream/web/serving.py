"""The serving API of a worker: recommendations, similar items, items, events over HTTP, health, metrics and the
published contract. Any client may call these (the routes' access rules in contract/routes.py say which need a
token); the operator's API is in operator.py.

Each view takes a request (anything with `query`, `headers`, `path_qs` and `read()`) and returns a `Reply`, so
unit tests call them without Faust; `bind()` (stream/app) serves them through `dispatch.answer`. Bad input gets
a 4xx that says what to send.
"""

from __future__ import annotations

import contextlib

from recstream.monitors.metrics import CONTENT_TYPE
from recstream.stream.web.auth import Access
from recstream.stream.web.contract import requests as q
from recstream.stream.web.contract.parse import parse_body, parse_query
from recstream.stream.web.contract.routes import DOCUMENT, SERVING
from recstream.stream.web.events import BrokerUnavailable, EventGateway
from recstream.stream.web.forwarding import FORWARDED_BY, Forwarder
from recstream.stream.web.params import BadRequest
from recstream.stream.web.published import Published
from recstream.stream.web.reply import Reply, Request
from recstream.stream.worker import health
from recstream.stream.worker.state import WorkerState

#: what /healthz tells a caller without a token when reads are protected
PUBLIC_HEALTH = ("status", "uptime_s", "worker", "partitions")


class ServingViews:
    #: what `bind()` serves (contract/routes.py: path, method, view, access, models)
    ROUTES = SERVING + DOCUMENT

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
        if self.state.pipeline is not None:
            self.state.pipeline.serving()
        await self.state.readmit(user_id)  # (an evicted user is read back first: nothing when eviction is off)
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
        h = health.health(self.state)
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
