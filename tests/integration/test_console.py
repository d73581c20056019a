"""The operator console in a real browser (Debian's chromium, driven by Playwright) on two running workers:
sign in, roll back by clicking and see both workers serve the earlier version within a second, start a canary
for 20% of users from the console, open a drift report from the timeline, and find injected markup shown as
text. Every page is screenshotted under var/test-artifacts/; no page logs a JavaScript error."""

import json
import re
import time

import pytest
from kafka import KafkaProducer

from recstream.stream.client import api_get

from .browser import browser_page, screenshot
from .test_checkpoints import produce
from .test_cli import recstream
from .test_scale_out import FAST, split

pytestmark = pytest.mark.integration

TOKEN = "console-operator-token"
INJECTED = "<script>document.title='owned'</script>"
DEEP = {"RECSTREAM_OPERATOR_TOKEN": TOKEN, "RECSTREAM_DEEP_DIM": "32", "RECSTREAM_DEEP_EPOCHS": "10",
        "RECSTREAM_RETRAIN_WARM_EPOCHS": "2", "RECSTREAM_DEEP_LEARNING_RATE": "0.005", "RECSTREAM_MODEL_POLL_S": "0.2",
        "RECSTREAM_CONSOLE_SAMPLE_S": "1",
        "RECSTREAM_DRIFT_WINDOW_EVENTS": "2000", "RECSTREAM_DRIFT_MIN_EVENTS": "500", **FAST}
USERS = [f"u{i}" for i in range(300)]


def served(w, user: str) -> str:
    return api_get(f"{w.api}/recommendations/{user}?k=5")["model_version"]


def both_serve(workers, version: str, timeout: float) -> float:
    start = time.monotonic()
    while any(served(w, "u1") != version for w in workers):
        assert time.monotonic() - start < timeout, [served(w, "u1") for w in workers]
        time.sleep(0.02)
    return time.monotonic() - start


def promoted(w, reason: str) -> str:
    """A retrain from the CLI that must pass its gate; the version's name."""
    out = recstream("models", "retrain", "--reason", reason, env=w.env, timeout=300)
    found = re.search(r"(deep-\d+) promoted", out.stdout)
    assert out.returncode == 0 and found, out.stdout + out.stderr
    return found.group(1)


def act(page, row_text: str, button: str, reason: str, share: str | None = None) -> float:
    """Fill the form of `button` in the versions row holding `row_text`, confirm; the moment it was confirmed."""
    form = page.locator("tr", has_text=row_text).locator("form", has=page.locator(f"button:text-is('{button}')"))
    if share is not None:
        form.locator("input[name=share]").fill(share)
    form.locator("input[name=reason]").fill(reason)
    form.locator("button").click()
    page.wait_for_selector("text=Are you sure?")
    page.click("#confirm")
    confirmed = time.monotonic()
    page.wait_for_url("**/console/versions?done=*")
    return confirmed


def test_an_operator_rolls_back_and_starts_a_canary_by_clicking_and_both_workers_follow(worker_factory):
    a = worker_factory(**DEEP)
    b = worker_factory(**DEEP)
    split(a, b)
    produce(a, 12_000, seed=5)
    for w in (a, b):
        w.wait(lambda h: h["pipeline"] and h["pipeline"]["learned"] > 0, what="events")
    bad = KafkaProducer(bootstrap_servers=a.env["RECSTREAM_BOOTSTRAP"])
    bad.send(a.env["RECSTREAM_TOPIC_BEHAVIOUR"], key=b"u1", value=json.dumps(
        {"event_id": "x", "user_id": "u1", "item_id": INJECTED, "type": "teleport", "ts": time.time()}).encode())
    bad.flush()
    drift = recstream("drift", "run", env=a.env, timeout=120)  # before any deep version: against the oldest events
    assert drift.returncode == 0, drift.stdout + drift.stderr
    first, second = (promoted(a, f"run {n}") for n in (1, 2))
    both_serve((a, b), second, 3.0)

    with browser_page() as (page, errors):
        page.goto(f"{a.api}/console/versions")
        assert page.locator("form button", has_text="Roll back").count() == 0  # nothing to click before signing in
        page.click("text=Sign in")
        page.fill("input[name=token]", TOKEN)
        page.fill("input[name=actor]", "alice")
        page.click("button:text-is('Sign in')")
        page.wait_for_url("**/console")
        page.goto(f"{a.api}/console/versions")
        assert page.locator("text=signed in as alice").count() == 1

        # Roll back by clicking: both workers serve deep-1 within a second of the confirmation.
        confirmed = act(page, second, "Roll back", f"clicks dropped {INJECTED}")
        both_serve((a, b), first, max(0.0, 1.0 - (time.monotonic() - confirmed)))
        assert page.locator(".notice", has_text=f"{first}: retired → live by console:alice").count() == 1
        assert page.locator("td", has_text=INJECTED).count() >= 1  # the injected reason, shown as text
        assert page.title() == "Versions · recstream"  # and never run

        # A canary for 20% of users from the console: the same users on both workers, every time.
        act(page, second, "Start canary", "try it again", share="0.2")
        time.sleep(1.0)
        seen = {u: served(a if i < 150 else b, u) for i, u in enumerate(USERS)}
        share = sum(v == second for v in seen.values()) / len(seen)
        assert 0.12 < share < 0.28, share
        again = {u: served(a if i % 2 else b, u) for i, u in enumerate(USERS)}
        assert again == seen  # sticky per user, whichever worker is asked
        page.reload()
        serving = page.locator("section", has_text="Served now, by worker")
        assert serving.locator("tr", has_text=first).count() == 2 and serving.locator("tr", has_text="20%").count() == 2
        screenshot(page, "console-versions")

        page.goto(f"{a.api}/console/runs")
        assert page.locator("td", has_text="run 2").count() == 1
        screenshot(page, "console-runs")

        page.goto(f"{a.api}/console/dead-letters")
        page.wait_for_selector("td:has-text('schema')")
        assert page.locator("code", has_text=INJECTED).count() == 1 and page.title() == "Dead letters · recstream"
        screenshot(page, "console-dead-letters")

        page.goto(f"{a.api}/console")  # by now each worker has sent samples every second: the charts
        assert page.locator("svg polyline").count() >= 4 and page.locator("text=schema").count() >= 1
        screenshot(page, "console-overview")

        page.goto(f"{a.api}/console/drift")
        screenshot(page, "console-drift")
        page.click("a:text-is('report 1')")
        page.wait_for_url("**/drift/reports/1")
        assert "drift report 1" in page.content().lower()
        assert errors == [], errors  # Evidently's report page included
