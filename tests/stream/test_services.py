"""A background service keeps going through failures, warns once per outage and says when it recovers."""

import asyncio
import logging

from recstream.stream.app.services import Service


class FakeApp:
    should_stop = False


def test_a_failing_step_is_retried_warned_about_once_and_its_recovery_logged(caplog):
    app, outcomes, calls = FakeApp(), iter([OSError("db down"), OSError("db down"), None, OSError("again"), None]), []

    async def step() -> None:
        calls.append(1)
        outcome = next(outcomes)
        if outcome is None and len(calls) == 5:
            app.should_stop = True
        if outcome is not None:
            raise outcome

    with caplog.at_level(logging.INFO, logger="recstream.worker"):
        asyncio.run(Service("registry poll", 0.0, step, "serving the current model meanwhile").run(app))
    assert len(calls) == 5  # every failure retried
    # Only this logger: a client another test left behind may log from its own thread meanwhile.
    lines = [r.getMessage() for r in caplog.records if r.name == "recstream.worker"]
    assert lines == ["registry poll failed (db down); serving the current model meanwhile",
                     "registry poll works again",
                     "registry poll failed (again); serving the current model meanwhile",
                     "registry poll works again"]
