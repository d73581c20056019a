"""The stream worker: a Faust app that runs the ingest service and the background services, and serves the HTTP
API from the same state."""

from __future__ import annotations

import logging
import sys
from typing import Any

import faust
from faust.web import View

from recstream.stream.app.ingest import IngestService
from recstream.stream.app.services import worker_services
from recstream.stream.settings import KafkaSettings, Settings
from recstream.stream.web.auth import Access
from recstream.stream.web.console.views import ConsoleViews
from recstream.stream.web.contract.routes import Route
from recstream.stream.web.dispatch import CROSS_ORIGIN_TAGS, answer, preflight
from recstream.stream.web.operator import OperatorViews
from recstream.stream.web.reply import Reply
from recstream.stream.web.serving import ServingViews
from recstream.stream.worker import health
from recstream.stream.worker.state import WorkerState

log = logging.getLogger("recstream.worker")


def bind(app: faust.App, *view_sets: Any) -> None:
    """Serve the routes of each of `view_sets` (serving, operator, console) on Faust's web server (aiohttp): one
    page per path, a method per route, each through `dispatch.answer` (access rule, view, CORS)."""
    pages: dict[str, dict[str, Any]] = {}
    for views, route in ((v, r) for v in view_sets for r in v.ROUTES):

        async def serve(self: View, request: Any, _views: Any = views, _route: Route = route, **params: str) -> Any:
            return respond(self, await answer(_views, _route, request, **params))

        pages.setdefault(route.path, {})[route.method.lower()] = serve
        if route.tag in CROSS_ORIGIN_TAGS:
            methods = [r.method for r in views.ROUTES if r.path == route.path]

            async def options(self: View, request: Any, _views: Any = views, _methods: list[str] = methods,
                              **params: str) -> Any:
                return respond(self, preflight(request, _views.serving.cors_origins, _methods))

            pages[route.path]["options"] = options
    for n, (path, methods) in enumerate(pages.items()):
        app.page(path)(type(f"view_{n}", (View,), {**methods, "get_methods": _served(methods)}))


def _served(methods: dict[str, Any]) -> Any:
    """Faust routes HEAD to every page (and aiohttp then advertises GET in a 405's Allow): only the methods this
    page serves, HEAD with GET."""
    served = {m.upper() for m in methods} | ({"HEAD"} if "get" in methods else set())
    return lambda self: served


def respond(view: View, reply: Reply) -> Any:
    return view.bytes(reply.body, content_type=reply.content_type, status=reply.status,
                      headers=dict(reply.headers) if reply.headers else None)


def broker_credentials(kafka: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """The Kafka security settings as Faust's broker_credentials (None for PLAINTEXT)."""
    if kafka.kafka_security_protocol == "PLAINTEXT":
        return None
    if kafka.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(kafka.ssl_context())
    return faust.SASLCredentials(username=kafka.kafka_sasl_username,
                                 password=kafka.kafka_sasl_password.get_secret_value(),  # type: ignore[union-attr]
                                 ssl_context=kafka.ssl_context() if kafka.tls else None,
                                 mechanism=kafka.kafka_sasl_mechanism)


def create_app(settings: Settings, state: WorkerState) -> faust.App:
    app = faust.App(
        "recstream",
        broker=f"kafka://{settings.kafka.bootstrap}",
        broker_credentials=broker_credentials(settings.kafka),
        store="memory://",
        web_host=settings.serving.web_host,
        web_port=settings.serving.web_port,
        web_bind=settings.serving.web_host,
        broker_session_timeout=settings.kafka.session_timeout_s,
        topic_partitions=settings.kafka.topic_partitions,
        # Faust's own consumer has nothing to read here; the hot path is IngestLoop.
        topic_allow_declare=True,
    )
    access = Access(settings.serving)  # one count of failed tokens for both sign-in paths
    serving = ServingViews(state, access)
    bind(app, serving, OperatorViews(state, access), ConsoleViews(state, access))
    ingest = IngestService(state)
    app.task(ingest.run)
    for service in worker_services(state):
        app.task(service.run)

    @app.on_before_shutdown.connect
    async def leave_group(app: faust.App, **kwargs: object) -> None:
        await ingest.stop()
        await serving.events.close()

    @app.timer(interval=10.0)
    async def report() -> None:
        h = health.health(state)
        if h["pipeline"]:
            log.info("learned %d events (%d users, %d items), dead-lettered %s, live Recall@10 %s",
                     h["events_learned"], h["users"], h["items"], h["pipeline"]["dead_lettered"] or 0,
                     h["prequential_recall_at_10"])

    return app


def run_worker(settings: Settings) -> None:
    """Block running one worker until SIGINT/SIGTERM."""
    from recstream.stream.kafka.access import check_access
    from recstream.stream.kafka.topics import Topics, ensure_topics

    check_access(settings.kafka)
    ensure_topics(settings.kafka.bootstrap, Topics.of(settings.kafka), settings.kafka.topic_partitions,
                  security=settings.kafka.client_options())
    # Other threads (the helper pool's result hand-off; the store thread with RECSTREAM_PREPARE_IN_PROCESS=false)
    # share the GIL with the event loop; the default 5 ms hand-off showed up as tens of ms of request latency
    # under load. 1 ms keeps serving snappy at no measurable ingest cost.
    sys.setswitchinterval(0.001)
    state = WorkerState.create(settings)
    app = create_app(settings, state)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
