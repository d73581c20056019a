"""Who may read and change over HTTP: a read token that changes nothing, wrong tokens limited per client on both
sign-in paths, operator detail (explanations, peers, errors) behind read protection, malformed requests 4xx."""

import asyncio
import json
import urllib.parse

import pytest

from recstream.models.errors import ConfigError
from recstream.stream.settings import Settings
from recstream.stream.web.auth import Access, FailureLimiter
from recstream.stream.web.console.views import ConsoleViews
from recstream.stream.web.reply import LocalRequest

from .conftest import TOKEN

READ = "dashboards-read-only-token"


class Post(LocalRequest):
    method = "POST"


def call(coro):
    return asyncio.run(coro)


def bearer(token: str, remote: str = "127.0.0.1", **kw) -> LocalRequest:
    return LocalRequest(headers={"Authorization": f"Bearer {token}"}, remote=remote, **kw)


@pytest.fixture
def protected(views):
    views.serving = views.serving.model_copy(update={"read_token_required": True,
                                                     "read_token": Settings.build(read_token=READ).serving.read_token})
    views.access = Access(views.serving, FailureLimiter(max_failures=3, window_s=60, lockout_s=60))
    return views


def test_the_read_token_reads_and_changes_nothing(protected):
    v = protected
    assert call(v.models(LocalRequest())).status == 401
    assert call(v.models(bearer(READ))).status == 200 and call(v.metrics(bearer(TOKEN))).status == 200
    refused = call(v.retrain(bearer(READ, body=b'{"reason": "x"}')))
    assert refused.status == 403 and "read token cannot change" in refused.data()["error"]
    assert call(v.retrain(bearer(TOKEN, body=b'{"reason": "x"}'))).status == 202


def test_explanations_peers_and_errors_need_a_token_that_reads(protected):
    v = protected
    explain = {"explain": "true"}
    assert call(v.recommendations(LocalRequest(query=explain), "u1")).status == 401
    assert "why" in json.dumps(call(v.recommendations(bearer(READ, query=explain), "u1")).data())
    assert call(v.recommendations(LocalRequest(), "u1")).status == 200  # serving stays open
    bare = call(v.healthz(LocalRequest())).data()
    assert bare["status"] == "ok" and not {"group", "deep", "database", "broker"} & set(bare)
    assert "group" in call(v.healthz(bearer(READ))).data()


def test_wrong_tokens_lock_a_client_out_on_the_bearer_path_and_the_sign_in_form_alike(protected):
    v = protected
    console = ConsoleViews(v.state, v.access)
    for guess in ("guess-number-one", "guess-number-two"):
        assert call(v.models(bearer(guess, remote="10.0.0.9"))).status == 401
    form = urllib.parse.urlencode({"token": "guess-three-in-a-form"}).encode()
    assert call(console.sign_in(LocalRequest(body=form, remote="10.0.0.9"))).status == 401
    # Locked: even the right token is refused (guessing learns nothing), and it says when to come back.
    locked = call(v.models(bearer(TOKEN, remote="10.0.0.9")))
    assert locked.status == 429 and int(dict(locked.headers)["Retry-After"]) > 0
    right = urllib.parse.urlencode({"token": TOKEN}).encode()
    assert call(console.sign_in(LocalRequest(body=right, remote="10.0.0.9"))).status == 429
    assert call(v.models(bearer(TOKEN, remote="10.0.0.10"))).status == 200  # another client is not locked
    limiter = FailureLimiter(max_failures=2, window_s=10, lockout_s=5)
    limiter.failed("c", now=0.0), limiter.failed("c", now=20.0)  # two failures, but not within the window
    assert limiter.wait_s("c", now=20.0) == 0
    limiter.failed("c", now=21.0)
    assert limiter.wait_s("c", now=22.0) == pytest.approx(4.0) and limiter.wait_s("c", now=27.0) == 0


def test_short_tokens_and_an_unready_production_mode_are_refused_at_start():
    with pytest.raises(ConfigError, match="RECSTREAM_OPERATOR_TOKEN must be at least 16 characters"):
        Settings.build(operator_token="s3cret")
    with pytest.raises(ConfigError, match="RECSTREAM_READ_TOKEN must be at least 16"):
        Settings.build(read_token="short")
    with pytest.raises(ConfigError, match="RECSTREAM_ARTEFACT_KEY of at least 32 bytes"):
        Settings.build(mode="production", read_token_required=True, artefact_key="k" * 31)
    with pytest.raises(ConfigError, match="RECSTREAM_READ_TOKEN_REQUIRED=true"):
        Settings.build(mode="production", artefact_key="k" * 32)
    assert Settings.build(mode="production", read_token_required=True, artefact_key="k" * 32).mode == "production"


def test_malformed_requests_are_4xx_never_500(views):
    console = ConsoleViews(views.state)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    nested = b"[" * 100_000 + b"]" * 100_000
    for body in (nested, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        assert call(views.retrain(LocalRequest(headers=auth, body=body))).status == 400
        assert call(views.recommendations(Post(body=body), "u1")).status == 400
    assert call(console.overview(LocalRequest(headers={"Cookie": 'recstream_console="\\303\\251\xe9"'}))).status == 200
    csrf = urllib.parse.urlencode({"csrf": "\u00e9\u00e9", "kind": "deep", "reason": "x"}).encode()
    assert call(console.sign_out(LocalRequest(headers={"Cookie": "recstream_console=1.a.b.c"}, body=csrf))).status == 303
    for ref in ("\u00b2", "\u00b2.json", "9" * 30, "9" * 30 + ".json"):
        assert call(views.drift_report(LocalRequest(), ref)).status == 400
    assert call(views.show(LocalRequest(), "deep-" + "9" * 30)).status == 404
    assert call(console.versions(LocalRequest(query={"before": "\u00b2"}))).status == 400
    assert call(console.versions(LocalRequest(query={"before": "9" * 40}))).status == 400


def test_a_forwarded_explanation_carries_the_callers_token_to_the_owner(protected):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from recstream.models.data.keys import user_partition
    from recstream.stream.worker.directory import WorkerInfo

    seen: list[str | None] = []

    class Owner(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"served_by": "owner"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Owner)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        router = protected.state.router
        router.assigned, router.n_partitions = (0,), 2
        router.owners = {1: WorkerInfo("owner", f"http://127.0.0.1:{server.server_port}", (1,), 2, 0.0, 0.0)}
        theirs = next(f"u{i}" for i in range(50) if user_partition(f"u{i}", 2) == 1)
        ask = bearer(READ, query={"explain": "true"}, path_qs=f"/recommendations/{theirs}?explain=true")
        answer = call(protected.recommendations(ask, theirs))
        assert answer.status == 200 and answer.data() == {"served_by": "owner"} and seen == [f"Bearer {READ}"]
    finally:
        server.shutdown()
