"""The HTTP contract against a live worker on the embedded broker: the served OpenAPI document validates and
covers every route; schemathesis, generating requests from that document, finds no 5xx and no answer outside it
(with and without the operator token); POST /events accepts 500 valid events that the worker then learns,
names each bad one with its dead-letter code, refuses a caller without the producer token; and a page on
another origin, in Debian's chromium, shows a served list with recstream.js, reports its impressions and a
click, and the worker learns the click and the ignored impressions."""

import http.server
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.stream.client import ApiError, Client, api_get
from recstream.stream.web.console.views import ConsoleViews
from recstream.stream.web.operator import OperatorViews
from recstream.stream.web.serving import ServingViews

from .browser import browser_page

pytestmark = pytest.mark.integration

OPERATOR, PRODUCER = "contract-operator-token", "contract-producer-token"
# schemathesis sends wrong tokens on purpose (does auth hold?): no lockout of the test's own address
ENV = {"RECSTREAM_OPERATOR_TOKEN": OPERATOR, "RECSTREAM_PRODUCER_TOKEN": PRODUCER,
       "RECSTREAM_AUTH_MAX_FAILURES": "1000000"}


def behaviour(n: int, seed: int = 3) -> list[dict]:
    spec = SyntheticSpec(users=60, items=120, events=n, seed=seed)
    return [{"event_id": f"http-{seed}-{e.event_id}", "user_id": e.user_id, "item_id": e.item_id, "type": e.type,
             "ts": datetime.fromtimestamp(e.ts, UTC).isoformat(), **({"value": e.value} if e.value is not None else {})}
            for e in generate(spec)]


def test_the_published_contract_holds_against_a_live_worker(worker_factory, tmp_path):
    w = worker_factory(**ENV)
    api = Client(w.api, producer_token=PRODUCER)
    events = behaviour(500)
    answer = api.send_events(behaviour=events)
    assert (answer.accepted, answer.duplicates, answer.refused) == (500, 0, [])
    w.wait(lambda h: h["events_learned"] >= 500, what="the 500 events sent over HTTP learned", timeout=30)
    assert api.send_events(behaviour=events[:10]).duplicates == 10  # a retried batch is not produced again

    now = datetime.now(UTC).isoformat()
    mixed = api.send_events(behaviour=[{**events[0], "event_id": "ok-1", "ts": now},
                                       {**events[0], "event_id": "bad-1", "type": "teleport"},
                                       {**events[0], "event_id": "bad-2", "ts": "1970-01-02T00:00:00Z"},
                                       {"event_id": "bad-3"}],
                            feedback=[{"event_id": "bad-4", "user_id": "u1", "item_id": "i1", "rec_id": "r",
                                       "action": "stare", "model_version": "v", "ts": now}])
    assert mixed.accepted == 1
    assert [(r.topic, r.index, r.event_id, r.code) for r in mixed.refused] == [
        ("behaviour", 1, "bad-1", "schema"), ("behaviour", 2, "bad-2", "bad_timestamp"),
        ("behaviour", 3, "bad-3", "schema"), ("feedback", 0, "bad-4", "schema")]
    assert all(r.reason for r in mixed.refused)
    with pytest.raises(ApiError) as refused:
        Client(w.api).send_events(behaviour=events[:1])
    assert refused.value.status == 401 and "producer token" in refused.value.message

    document = api_get(f"{w.api}/openapi.json")
    validate(document)
    routes = {(r.path, r.method.lower()) for r in ServingViews.ROUTES + OperatorViews.ROUTES + ConsoleViews.ROUTES}
    assert routes == {(p, m) for p, ops in document["paths"].items() for m in ops}
    for name in ("recstream.js", "swagger-ui-bundle.js", "swagger-ui.css", "docs.js"):
        assert Client(w.api)._http.get(f"{w.api}/static/{name}").status_code == 200, name

    for token in (None, OPERATOR):
        fuzz(w.api, token, tmp_path)
    w.wait(lambda h: h["status"] == "ok", what="the worker still healthy after the fuzzing")


def fuzz(api: str, token: str | None, where: Path) -> None:
    """schemathesis over every operation of the served document: no 5xx, every answer as documented."""
    # allow_header_conformance: GET /models/{ref} also matches /models/canary, so a 405 there rightly offers GET
    args = [sys.executable, "-m", "schemathesis.cli", "run", f"{api}/openapi.json", "--checks", "all",
            "--exclude-checks", "allow_header_conformance", "--max-examples", "25", "--seed", "7", "-w", "2",
            "--request-timeout", "10", "--report", "junit", "--report-dir", str(where / "schemathesis")]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    for _ in range(2):
        run = subprocess.run(args, capture_output=True, text=True, timeout=240, check=False, cwd=where)
        # CPython 3.11's AST constructor can raise a spurious SystemError in threaded programs (python/cpython
        # #106905); schemathesis then stops on a runtime error that says nothing about the API: once more
        if run.returncode == 0 or "AST constructor recursion depth mismatch" not in run.stdout + run.stderr:
            break
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failures" not in run.stdout.split("SUMMARY")[-1], run.stdout[-4000:]


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,">
<script src="{api}/static/recstream.js"></script></head>
<body><ul id="recs"></ul><script>
const rs = recstream({{url: "{api}", token: "{token}", userId: "u7", flushMs: 200}});
window.lists = [];
window.show = async function () {{
  const list = await rs.recommend({{k: 5}});
  const ul = document.getElementById("recs");
  ul.innerHTML = "";
  for (const item of list.items) {{
    const li = document.createElement("li");
    li.textContent = item.item_id;
    li.setAttribute("data-item-id", item.item_id);
    ul.appendChild(li);
  }}
  rs.shown(list);
  if (!window.lists.length) rs.watch(ul, list);
  window.lists.push(list);
  return list.items.map(i => i.item_id);
}};
</script></body></html>"""


@contextmanager
def page_server(root: Path):
    """The shop's own origin: a static server on another port than the worker's."""
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_page_reports_impressions_and_a_click_that_the_worker_learns(worker_factory, tmp_path):
    with page_server(tmp_path) as origin:
        w = worker_factory(**ENV, RECSTREAM_CORS_ORIGINS=origin, RECSTREAM_ONLINE_EXPOSURE_WINDOW_S="1")
        Client(w.api, producer_token=PRODUCER).send_events(behaviour=behaviour(2000))
        w.wait(lambda h: h["events_learned"] >= 2000, what="history learned", timeout=30)
        (tmp_path / "shop.html").write_text(PAGE.format(api=w.api, token=PRODUCER))
        with browser_page() as (page, errors):
            page.goto(f"{origin}/shop.html")
            shown = page.evaluate("window.show()")
            assert len(shown) == 5
            clicked = shown[2]
            page.click(f"li[data-item-id='{clicked}']")
            w.wait(lambda h: h["feedback"]["positives"] >= 1, what="the click learned", timeout=15)
            time.sleep(1.2)  # past the exposure window: the four items not clicked were ignored
            again = page.evaluate("window.show()")  # its impressions, later in event time, expire the first ones
            h = w.wait(lambda h: h["feedback"]["exposure_negatives"] >= 4, what="ignored impressions learned",
                       timeout=15)
            assert errors == [], errors
        assert clicked not in again  # learned as the user's: no longer recommended
        assert h["pipeline"]["dead_lettered"] == {}
