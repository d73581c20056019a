"""The operator console's views, called directly: its pages escape what operators and producers wrote, signing
in exchanges the token for an HttpOnly cookie, and a change needs that session, its CSRF token, this origin and
a confirming second post."""

import asyncio
import base64
import time
import urllib.parse

import pytest

from recstream.models.store.dead_letters import DeadLetter, DeadLetterLog
from recstream.models.store.history import History, Sample
from recstream.stream.settings import Settings
from recstream.stream.web.console.session import COOKIE, Sessions
from recstream.stream.web.console.views import ConsoleViews
from recstream.stream.web.reply import LocalRequest

from .conftest import TOKEN

SCRIPT = "<script>document.title='owned'</script>"


@pytest.fixture
def console(views):
    views.state.pipeline = None
    return ConsoleViews(views.state)


def call(coro):
    return asyncio.run(coro)


def form(**fields) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def sign_in(console, actor="alice") -> tuple[str, str]:
    """(the Cookie header, the session's CSRF token)."""
    reply = call(console.sign_in(LocalRequest(body=form(token=TOKEN, actor=actor, next="/console/versions"))))
    assert reply.status == 303 and dict(reply.headers)["Location"] == "/console/versions"
    cookie = dict(reply.headers)["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    value = cookie.split(";")[0]
    return value, Sessions(console.serving.operator_token).check(value).csrf


def two_versions(console):
    registry = console.state.registry
    first = registry.register("deep", artefact="/a.pt", sha256="0" * 64,
                              metrics={"candidate": {"ndcg_at_10": 0.12}, "popularity": {"ndcg_at_10": 0.05}})
    registry.promote(first.id, actor="<b>mallory</b>", reason=SCRIPT)
    second = registry.register("deep", artefact="/b.pt", sha256="1" * 64, parent_id=first.id)
    registry.promote(second.id, actor="ci", reason="better")
    return first, second


def test_every_page_renders_what_the_workers_know_escaped_and_under_a_no_script_policy(console):
    two_versions(console)
    engine = console.state.registry.engine
    DeadLetterLog(engine).add([DeadLetter.of("schema", f"bad field {SCRIPT}", "behaviour", 0, 7, time.time(),
                                             b"u1", SCRIPT.encode())])
    now = time.time()
    for i in range(30):
        History(engine).record(Sample("me", now - 600 + 20 * i, consumed=1000 * i, learned=1000 * i,
                                      dead_lettered=i, requests=i, lag=5, served_recall=0.2, p50_ms=1.0, p99_ms=3.0))
    console.state.metrics.request_seconds.observe(0.004)
    pages = {r.path: call(getattr(console, r.view)(LocalRequest()))
             for r in console.ROUTES if r.path.startswith("/console") and "{" not in r.path and r.method == "GET"
             and "login" not in r.path}
    assert set(pages) == {"/console", "/console/versions", "/console/runs", "/console/drift", "/console/dead-letters"}
    for path, reply in pages.items():
        body = reply.body.decode()
        assert reply.status == 200 and reply.content_type == "text/html", path
        assert "default-src 'none'" in dict(reply.headers)["Content-Security-Policy"], path
        assert "<script>" not in body, path
    versions = pages["/console/versions"].body.decode()
    assert "deep-1" in versions and "0.1200 / - / 0.0500" in versions and "&lt;b&gt;mallory&lt;/b&gt;" in versions
    assert "&lt;script&gt;document.title=&#x27;owned&#x27;&lt;/script&gt;" in versions
    assert "Served now, by worker" in versions and "<b>deep-2</b>" in versions  # what this worker serves
    assert "Sign in with the operator token" in versions and "<form" not in versions.split("<main>")[1]
    dead = pages["/console/dead-letters"].body.decode()
    assert "bad field &lt;script&gt;" in dead and "behaviour[0] @ 7" in dead
    overview = pages["/console"].body.decode()
    assert "Versions served" in overview and "p50 5.0 ms" in overview and "<polyline" in overview
    assert "events/s, all workers: <b>50</b>" in overview  # 1,000 events every 20 s


def test_signing_in_takes_the_token_once_and_gives_an_httponly_cookie(console):
    wrong = call(console.sign_in(LocalRequest(body=form(token="guess"))))
    assert wrong.status == 401 and "Set-Cookie" not in dict(wrong.headers)
    cookie, csrf = sign_in(console)
    page = call(console.versions(LocalRequest(headers={"Cookie": cookie}))).body.decode()
    assert "signed in as alice" in page and csrf in page and TOKEN not in page
    expires, nonce, _, signature = cookie.split("=", 1)[1].split(".")
    tampered = f"{COOKIE}={expires}.{nonce}.{base64.urlsafe_b64encode(b'mallory').decode().rstrip('=')}.{signature}"
    assert "signed in" not in call(console.versions(LocalRequest(headers={"Cookie": tampered}))).body.decode()
    expired = Sessions(console.serving.operator_token, lifetime_s=-1).issue("bob")[0]
    assert "signed in" not in call(console.versions(LocalRequest(headers={"Cookie": f"{COOKIE}={expired}"}))).body.decode()
    out = call(console.sign_out(LocalRequest(headers={"Cookie": cookie}, body=form(csrf=csrf))))
    assert out.status == 303 and "Max-Age=0" in dict(out.headers)["Set-Cookie"]
    # Where to go after signing in is a console page of this host, never another site.
    away = call(console.sign_in(LocalRequest(body=form(token=TOKEN, next="//evil.example/console"))))
    assert dict(away.headers)["Location"] == "/console"


def test_a_change_needs_the_session_its_csrf_token_this_origin_and_a_confirmation(console):
    first, second = two_versions(console)
    registry = console.state.registry
    cookie, csrf = sign_in(console)
    fields = {"kind": "deep", "reason": "clicks dropped", "csrf": csrf}
    act = (lambda headers, **f: call(console.act(LocalRequest(headers=headers, body=form(**f)), "rollback")))
    assert act({}, **fields).status == 401  # not signed in
    assert act({"Cookie": cookie}, **{**fields, "csrf": "0" * 32}).status == 403  # a forged form
    assert act({"Cookie": cookie, "Origin": "http://evil.example", "Host": "127.0.0.1:6066"}, **fields).status == 403
    ask = act({"Cookie": cookie, "Origin": "http://127.0.0.1:6066", "Host": "127.0.0.1:6066"}, **fields)
    assert ask.status == 200 and "Are you sure?" in ask.body.decode() and "name='confirmed' value='yes'" in ask.body.decode()
    assert registry.live().id == second.id  # asking changed nothing
    done = act({"Cookie": cookie}, **fields, confirmed="yes")
    assert done.status == 303 and dict(done.headers)["Location"] == "/console/versions?done=deep-1"
    assert registry.live().id == first.id
    assert registry.audit(second.id)[0]["actor"] == "console:alice"
    notice = call(console.versions(LocalRequest(headers={"Cookie": cookie}, query={"done": "deep-1"}))).body.decode()
    assert "deep-1: retired → live by console:alice (clicks dropped)" in notice
    # Refusals say why: no reason, a share that serves nobody, what the registry will not do.
    assert "every action needs a reason" in act({"Cookie": cookie}, kind="deep", csrf=csrf).body.decode()
    canary = call(console.act(LocalRequest(headers={"Cookie": cookie}, body=form(
        version="deep-2", share="0", reason="try", csrf=csrf, confirmed="yes")), "canary"))
    assert canary.status == 400 and "would serve nobody" in canary.body.decode()
    twice = act({"Cookie": cookie}, **fields, confirmed="yes")  # deep-2 was rolled back: nothing before deep-1
    assert twice.status == 409 and "no earlier deep version" in twice.body.decode()
    queued = call(console.act(LocalRequest(headers={"Cookie": cookie}, body=form(
        reason="new catalogue", csrf=csrf, confirmed="yes")), "retrain"))
    assert queued.status == 303 and dict(queued.headers)["Location"].startswith("/console/runs?done=")
    runs = call(console.runs(LocalRequest(query={"done": dict(queued.headers)["Location"].split("=")[1]}))).body.decode()
    assert "requested by console:alice" in runs and "new catalogue" in runs


def test_with_read_token_required_pages_want_a_session_or_the_bearer_token(views, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSTREAM_READ_TOKEN_REQUIRED", "true")
    views.state.settings = Settings.build(database_url=views.state.settings.database_url)
    console = ConsoleViews(views.state)
    denied = call(console.versions(LocalRequest(path_qs="/console/versions")))
    assert denied.status == 303 and dict(denied.headers)["Location"] == "/console/login?next=%2Fconsole%2Fversions"
    cookie, _ = sign_in(console)
    assert call(console.versions(LocalRequest(headers={"Cookie": cookie}))).status == 200
    assert call(console.versions(LocalRequest(headers={"Authorization": f"Bearer {TOKEN}"}))).status == 200


def test_the_versions_page_shows_the_newest_hundred_and_links_to_the_older_ones(console):
    registry = console.state.registry
    ids = [registry.register("deep", artefact=f"/{i}.pt", sha256="0" * 64).id for i in range(105)]
    page = call(console.versions(LocalRequest())).body.decode()
    assert f"deep-{ids[-1]}</b>" in page and f"deep-{ids[4]}</b>" not in page
    assert f"/console/versions?before={ids[5]}" in page
    older = call(console.versions(LocalRequest(query={"before": str(ids[5])}))).body.decode()
    assert f"deep-{ids[4]}</b>" in older and "Older versions" not in older
    assert call(console.versions(LocalRequest(query={"before": "x"}))).status == 400
    assert "Done" not in call(console.versions(LocalRequest(query={"done": "<b>nope</b>"}))).body.decode()
