"""The console's HTTP side: its pages and forms as views over the worker's state, like `ServingViews`.

Reading follows RECSTREAM_READ_TOKEN_REQUIRED (the sign-in cookie counts as the token); every change needs a
signed-in session, a CSRF token of that session, an Origin of this host (when the browser sends one) and a
second, confirming post. Pages carry a policy that lets no script run and no other site frame them.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp

from recstream.models.errors import RegistryError, VersionNotFound
from recstream.models.serving.abtest import canary_report
from recstream.models.store.dead_letters import DeadLetterLog
from recstream.models.store.history import History
from recstream.models.store.operations import Operations
from recstream.models.store.runs import RunQueue
from recstream.monitors.drift.reports import list_reports
from recstream.monitors.metrics import quantile_ms
from recstream.stream.web.auth import Access, same_secret
from recstream.stream.web.console import actions, forms, monitoring, overview, versions
from recstream.stream.web.console.session import LIFETIME_S, Session, Sessions, same_origin, set_cookie
from recstream.stream.web.contract.routes import CONSOLE
from recstream.stream.web.dispatch import blocking
from recstream.stream.web.params import BadRequest, row_id
from recstream.stream.web.reply import Reply, Request
from recstream.stream.worker import health
from recstream.stream.worker.state import WorkerState

SECURITY = (("Content-Security-Policy", ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                         "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"), ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"))
#: how long the versions page waits for each other worker's answer about what it serves
PEER_TIMEOUT_S = 0.5
HOUR_S = 3600.0
VERSIONS_PER_PAGE = 100
ICON = (b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><rect width='16' height='16' rx='3' "
        b"fill='#1d2330'/><path d='M3 11l3-4 3 2 4-5' stroke='#cfe0ff' stroke-width='2' fill='none'/></svg>")


def html(text: str, status: int = 200, extra: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply.html(text, status, SECURITY + extra)


def form_of(raw: bytes) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each)."""
    return {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", errors="replace")).items()}


class ConsoleViews:
    #: what `bind()` serves (contract/routes.py); each view checks the session itself
    ROUTES = CONSOLE

    def __init__(self, state: WorkerState, access: Access | None = None) -> None:
        self.state = state
        self.serving = state.settings.serving
        self.access = access or Access(self.serving)
        self.sessions = Sessions(self.serving.operator_token)
        self._peers: aiohttp.ClientSession | None = None

    # ---- access ------------------------------------------------------------------------------------------
    def _session(self, request: Request) -> Session | None:
        return self.sessions.check(request.headers.get("Cookie"))

    def _reader(self, request: Request) -> tuple[Session | None, Reply | None]:
        """(the signed-in session, None) or (None, the reply that sends a reader without access to sign in)."""
        session = self._session(request)
        if session is None and self.access.reader(request) is not None:
            return None, Reply.redirect("/console/login?" + urllib.parse.urlencode({"next": request.path_qs}))
        return session, None

    @staticmethod
    def _who(session: Session | None) -> dict[str, str | None]:
        return {"actor": session.actor if session else None, "csrf": session.csrf if session else None}

    # ---- pages -------------------------------------------------------------------------------------------
    async def overview(self, request: Request) -> Reply:
        session, denied = self._reader(request)
        if denied:
            return denied
        seconds, pipeline, engine = self.state.metrics.request_seconds, self.state.pipeline, self.state.registry.engine
        h = {**health.health(self.state), "lag_total": sum(pipeline.stats.lag.values()) if pipeline else None}
        now = time.time()
        history, counts = await blocking(lambda: (History(engine).series(now - HOUR_S, now),
                                                  DeadLetterLog(engine).counts()))
        return html(overview.overview(h, (quantile_ms(seconds, 0.5), quantile_ms(seconds, 0.99)), history, counts,
                                      **self._who(session)))

    async def versions(self, request: Request) -> Reply:
        session, denied = self._reader(request)
        if denied:
            return denied
        registry, min_impressions = self.state.registry, self.state.settings.canary.min_impressions
        try:
            before = row_id(request.query["before"], "before", "a version id: 120") if "before" in request.query \
                else None
        except BadRequest as exc:
            return html(forms.refused(str(exc), **self._who(session)), 400)

        done = request.query.get("done")

        def read() -> tuple[list, dict, dict | None, str | None]:
            rows = registry.list(limit=VERSIONS_PER_PAGE, before=before)
            trails = registry.trails([v.id for v in rows], per_version=3)
            return rows, trails, canary_report(registry, min_impressions), _latest_change(registry, done)

        (rows, trails, canary, notice), workers = await asyncio.gather(blocking(read), self._served_by_workers())
        older = rows[-1].id if len(rows) == VERSIONS_PER_PAGE else None
        return html(versions.versions(rows, trails, workers, canary, notice, older, **self._who(session)))

    async def _served_by_workers(self) -> list[tuple[str, dict | None]]:
        """What each worker of the group serves now: this one from its state, the others from their /healthz."""
        others = [w for w in self.state.router.group() if w.get("source") != self.state.source and w.get("url")]
        if self._peers is None and others:
            self._peers = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S))

        async def ask(w: dict) -> tuple[str, dict | None]:
            assert self._peers is not None
            try:
                async with self._peers.get(w["url"] + "/healthz", headers=self.access.peer_headers()) as resp:
                    return w["source"], (await resp.json()).get("deep")
            except (TimeoutError, aiohttp.ClientError, ValueError):
                return w["source"], None

        answers = await asyncio.gather(*(ask(w) for w in others))
        return [(self.state.source, self.state.deep.state()), *sorted(answers)]

    async def runs(self, request: Request) -> Reply:
        session, denied = self._reader(request)
        if denied:
            return denied
        rows = await blocking(lambda: RunQueue(self.state.registry.engine).runs(limit=100))
        done = request.query.get("done")
        run = next((r for r in rows if str(r["id"]) == done), None)
        notice = None if run is None else f"run {run['id']} {run['status']}: requested by {run['requested_by']}"
        return html(versions.runs(rows, notice, **self._who(session)))

    async def drift(self, request: Request) -> Reply:
        session, denied = self._reader(request)
        if denied:
            return denied
        reports = await blocking(lambda: list_reports(self.state.registry.engine, 200, columns=True))
        return html(monitoring.drift(reports, **self._who(session)))

    async def dead_letters(self, request: Request) -> Reply:
        session, denied = self._reader(request)
        if denied:
            return denied
        code = request.query.get("code") or None
        log = DeadLetterLog(self.state.registry.engine)
        newest, counts = await blocking(lambda: (log.newest(100, code), log.counts()))
        return html(monitoring.dead_letters(newest, counts, code, **self._who(session)))

    async def favicon(self, request: Request) -> Reply:
        """Browsers ask every page's host for one (a 404 would show as an error in their console)."""
        return Reply(200, ICON, "image/svg+xml", (("Cache-Control", "max-age=86400"),))

    # ---- signing in and out ------------------------------------------------------------------------------
    async def sign_in_form(self, request: Request) -> Reply:
        return html(forms.sign_in(self.sessions.enabled, next_page=_local(request.query.get("next"))))

    async def sign_in(self, request: Request) -> Reply:
        form = form_of(await request.read())
        next_page = _local(form.get("next"))
        if not self.sessions.enabled:
            return html(forms.sign_in(False), 403)
        grant, limited = self.access.check(request, form.get("token", ""))
        if limited is not None:
            return html(forms.sign_in(True, "Too many wrong tokens from this address: wait a minute.", next_page),
                        429, limited.headers)
        if grant != "operator":
            return html(forms.sign_in(True, "That is not the operator token.", next_page), 401)
        actor = (form.get("actor") or "operator").strip()[:64] or "operator"
        cookie, _ = self.sessions.issue(actor)
        return Reply.redirect(next_page, (("Set-Cookie", set_cookie(cookie, LIFETIME_S, _tls(request))),))

    async def sign_out(self, request: Request) -> Reply:
        session = self._session(request)
        form = form_of(await request.read())
        if session is not None and same_secret(form.get("csrf", ""), session.csrf):
            return Reply.redirect("/console", (("Set-Cookie", set_cookie("", 0, _tls(request))),))
        return Reply.redirect("/console")

    # ---- actions -----------------------------------------------------------------------------------------
    async def act(self, request: Request, name: str) -> Reply:
        session = self._session(request)
        if session is None:
            return html(forms.refused("Sign in first: changes need the operator's session.",
                                      status_page="/console/login"), 401)
        who = self._who(session)
        form = form_of(await request.read())
        if not same_origin(request.headers.get("Origin"), request.headers.get("Host")) \
                or not same_secret(form.get("csrf", ""), session.csrf):
            return html(forms.refused("This form did not come from this console (its CSRF token or origin is "
                                      "wrong); open the page again and resubmit.", **who), 403)
        try:
            action, fields = actions.checked(name, form)
        except actions.ActionRefused as exc:
            return html(forms.refused(str(exc), **who, status_page="/console/versions"), 400)
        if form.get("confirmed") != "yes":
            return html(forms.confirm(name, action.label, action.describe(fields), fields, session.csrf,
                                      actor=session.actor))
        try:
            operator = Operations(self.state.registry, f"console:{session.actor}")
            back = await blocking(lambda: action.perform(operator, fields))
        except VersionNotFound as exc:
            return html(forms.refused(str(exc), **who, status_page="/console/versions"), 404)
        except RegistryError as exc:
            return html(forms.refused(str(exc), **who, status_page="/console/versions"), 409)
        await blocking(self.state.deep.poll)  # served here at once; the other workers follow within a poll
        return Reply.redirect(back)


def _latest_change(registry: Any, version: str | None) -> str | None:
    """What the registry recorded last for `version` (the page an action returns to names it): read from the
    audit log, never echoed from the URL."""
    if not version:
        return None
    try:
        entry = registry.audit(version, limit=1)
    except RegistryError:
        return None
    if not entry:
        return None
    e = entry[0]
    return f"{registry.get(version).name}: {e['from_status']} → {e['to_status']} by {e['actor']} ({e['reason']})"


def _local(path: str | None) -> str:
    """Where to go after signing in: a console page of this host, never another site."""
    return path if path and path.startswith("/console") and "//" not in path and "\\" not in path else "/console"


def _tls(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly, or through a proxy that says so)."""
    headers: Mapping[str, str] = request.headers
    return getattr(request, "secure", False) is True or headers.get("X-Forwarded-Proto", "").lower() == "https"
