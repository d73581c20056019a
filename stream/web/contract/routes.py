"""Every route a worker serves, declared once: path, method, the view that answers, who may call it, and the
models of its query, body and reply. `bind()` serves this table, the access rule is applied before the view
runs, and the OpenAPI document is generated from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from recstream.stream.web.contract import replies as r
from recstream.stream.web.contract import requests as q

#: open: anyone; read: the read or operator token when reads are protected; operator: the operator token;
#: producer: the producer token (or the operator's); console: the console's own session (see its views)
Access = Literal["open", "read", "operator", "producer", "console"]


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    view: str
    summary: str
    access: Access = "open"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    #: a model (JSON), or a media type for a page or text
    reply: type[BaseModel] | str = r.Error
    status: int = 200
    #: further statuses this route answers besides 4xx refusals, e.g. 503 from /readyz
    also: tuple[int, ...] = ()
    tag: str = "serving"
    #: path parameter -> regular expression its values match (the others: any text up to 256 characters)
    patterns: tuple[tuple[str, str], ...] = ()


SERVING = (
    Route("/recommendations/{user_id}", "GET", "recommendations", "A user's recommendations",
          query=q.RecommendationQuery, reply=r.Recommendations),
    Route("/recommendations/{user_id}", "POST", "recommendations", "A user's recommendations, asked with a JSON body",
          body=q.RecommendationBody, reply=r.Recommendations),
    Route("/items/{item_id}/similar", "GET", "similar_items", "Items like this one", query=q.SimilarQuery,
          reply=r.Similar),
    Route("/items/{item_id}", "GET", "item", "What is known of an item", reply=r.Item),
    Route("/events", "POST", "post_events", "Report behaviour and feedback events (a batch of at most "
          f"{q.MAX_EVENTS})", access="producer", body=q.EventsBody, reply=r.EventsAnswer, tag="events"),
    Route("/healthz", "GET", "healthz", "Liveness (the whole state with read access)", reply=r.Health, tag="health"),
    Route("/readyz", "GET", "readyz", "Readiness: 503 until the worker can answer for its users", reply=r.Ready,
          also=(503,), tag="health"),
    Route("/metrics", "GET", "metrics", "Prometheus metrics", access="read", reply="text/plain", tag="health"),
)

OPERATOR = (
    Route("/models", "GET", "models", "Model versions and what this worker serves", access="read",
          reply=r.Versions, tag="models"),
    Route("/models/runs", "GET", "runs", "Retraining runs", access="read", reply=r.Runs, tag="models"),
    Route("/models/rollback", "POST", "rollback", "Roll back to the previous (or a named) version",
          access="operator", body=q.RollbackBody, reply=r.Change, tag="models"),
    Route("/models/retrain", "POST", "retrain", "Queue a retraining (the scheduler runs it)", access="operator",
          body=q.RetrainBody, reply=r.RetrainQueued, status=202, tag="models"),
    Route("/models/canary", "POST", "canary_share", "Change the running canary's share of users",
          access="operator", body=q.CanaryShareBody, reply=r.Change, tag="models"),
    Route("/models/{ref}/promote", "POST", "promote", "Promote a version, or start it as a canary",
          access="operator", body=q.PromoteBody, reply=r.Change, tag="models"),
    Route("/models/{ref}", "GET", "show", "A version and its audit log", access="read", reply=r.Version,
          tag="models"),
    Route("/drift/reports", "GET", "drift_reports", "Drift reports, newest first", access="read",
          query=q.DriftReportsQuery, reply=r.DriftReports, tag="drift"),
    Route("/drift/reports/{ref}", "GET", "drift_report", "A drift report: {id} as a page, {id}.json as JSON",
          access="read", reply="text/html", tag="drift", patterns=(("ref", r"^[0-9]{1,18}(\.json)?$"),)),
)

DOCUMENT = (
    Route("/openapi.json", "GET", "openapi", "This document", reply="application/json", tag="contract"),
    Route("/docs", "GET", "docs", "This document, browsable", reply="text/html", tag="contract"),
    Route("/static/{name}", "GET", "static", "The files /docs and web pages use (recstream.js)",
          reply="application/octet-stream", tag="contract"),
)


def console(path: str, method: str, view: str, summary: str, status: int = 200) -> Route:
    return Route(path, method, view, summary, access="console", reply="text/html", status=status, also=(303,),
                 tag="console")


CONSOLE = (
    console("/console", "GET", "overview", "The console: what is served and how it does"),
    console("/console/versions", "GET", "versions", "The console: versions, canary, rollback"),
    console("/console/runs", "GET", "runs", "The console: retraining runs"),
    console("/console/drift", "GET", "drift", "The console: drift reports"),
    console("/console/dead-letters", "GET", "dead_letters", "The console: refused events"),
    console("/console/login", "GET", "sign_in_form", "The console's sign-in form"),
    console("/console/login", "POST", "sign_in", "Sign in with the operator token (a form)", status=303),
    console("/console/logout", "POST", "sign_out", "Sign out", status=303),
    console("/console/actions/{name}", "POST", "act", "An operator action from the console (a form)", status=303),
    Route("/favicon.ico", "GET", "favicon", "The console's icon", access="console", reply="image/svg+xml",
          tag="console"),
)
