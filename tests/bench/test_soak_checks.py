"""bench/soak.py's check of the versions served against the registry's audit log (the check itself, on a registry
driven by hand: the soak reports its count, and a checker that cannot see a violation would report 0 forever)."""

import sys
import time
from pathlib import Path

from recstream.models.store.registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from soak import Answer, not_serving


def answer(at: float, deep: str | None) -> Answer:
    return Answer(t=0.0, status=200, seconds=0.01, personal=True, known_user=True, worker="a-1", at=at, deep=deep)


def test_a_version_served_outside_its_live_or_canary_time_is_counted(engine):
    registry = Registry(engine)
    first = registry.register("deep", artefact="x", sha256="0" * 64)
    second = registry.register("deep", artefact="y", sha256="1" * 64)
    t0 = time.time()
    registry.promote(first.id, actor="op", reason="first")
    time.sleep(0.05)
    registry.start_canary(second.id, share=0.5, actor="op", reason="try")
    registry.promote(second.id, actor="op", reason="good")  # the first retires now
    t1 = time.time()
    answers = [answer(t0 + 0.01, first.name),  # live then
               answer(t1 + 1.0, first.name),  # retired a second ago: within the slack of a poll
               answer(t1 + 1.0, second.name),  # live
               answer(t0 - 60, first.name),  # before it was ever live
               answer(t1 + 60, first.name),  # long after it retired
               answer(t1 + 60, None)]  # the online model alone
    assert not_serving(engine, answers, slack_s=5.0) == 2
