"""An item id is producer input: on a drift report page (served on the console's origin) it must stay text.

A popular item whose id is a script, in real Chromium: the page is served by the worker's view with its own
headers (a sandbox CSP, nosniff), and the script never runs.
"""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.store.events import EventStore
from recstream.models.store.registry import Registry
from recstream.monitors.drift.config import DriftConfig
from recstream.monitors.drift.run import run_drift
from recstream.stream.settings import Settings
from recstream.stream.web.operator import OperatorViews
from recstream.stream.web.reply import LocalRequest, Reply
from recstream.stream.worker.state import WorkerState

from .browser import browser_page

PAYLOAD = "</script><script>document.title='PWNED';window.pwned=1</script>"


def serve(reply: Reply) -> ThreadingHTTPServer:
    """A loopback server answering every GET with `reply`, as the worker's binding would."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_script_as_an_item_id_does_not_run_on_the_drift_page(engine, tmp_path):
    events = [e._replace(item_id=PAYLOAD) if e.item_id in ("i0", "i1", "i2") else e
              for e in generate(SyntheticSpec(events=6_000, seed=5))]
    EventStore(engine).add_interactions(events)
    cfg = DriftConfig(window_events=3_000, reference_start=events[0].ts - 1, reference_end=events[2_999].ts,
                      report_dir=tmp_path / "drift")
    report = run_drift(engine, cfg, until=events[-1].ts).report
    settings = Settings.build(database_url=str(engine.url), drift_report_dir=str(tmp_path / "drift"),
                              read_token_required=False)
    state = WorkerState.of(settings, OnlineRecommender(settings.online.config()), DeepSlot(Registry(engine)), "me")
    reply = asyncio.run(OperatorViews(state).drift_report(LocalRequest(), str(report["id"])))
    assert reply.status == 200
    headers = dict(reply.headers)
    assert "sandbox" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    server = serve(reply)
    try:
        with browser_page() as (page, _):
            page.goto(f"http://127.0.0.1:{server.server_port}/drift/reports/{report['id']}")
            page.wait_for_timeout(1500)
            assert page.title() != "PWNED" and page.evaluate("typeof window.pwned") == "undefined"
            assert "Drifted Columns" in page.content()  # Evidently's own scripts still render the report
    finally:
        server.shutdown()
