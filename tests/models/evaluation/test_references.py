"""The bench's references agree with the independent tool (`../shared/tools/reference_stream.py`, kept outside the
project) on the same stream and protocol: a reference that drifts from it fails here, not in a closing note."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recstream.models.data.interaction import Interaction
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.evaluation.served import ServedConfig, ServedReplay

TOOL = Path(__file__).resolve().parents[4] / "shared" / "tools" / "reference_stream.py"


@pytest.mark.skipif(not TOOL.is_file(), reason=f"the independent tool is not at {TOOL}")
def test_the_references_match_the_independent_tool_on_a_session_stream(tmp_path):
    # every event a positive (the tool reads a file without ratings so), in time order, one per second
    stream = list(generate(SyntheticSpec(users=300, items=200, events=4_000, seed=3, sessions=True)))
    events = [Interaction(e.event_id, e.user_id, e.item_id, "purchase", None, float(n)) for n, e in enumerate(stream)]
    path = tmp_path / "stream.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["user_id", "item_id", "ts"])
        out.writerows((e.user_id, e.item_id, int(e.ts)) for e in events)
    tool = subprocess.run([sys.executable, str(TOOL), str(path), "--lam", "100"], capture_output=True, text=True,
                          check=True, timeout=300)
    theirs = json.loads(tool.stdout)["recall_at_10"]
    replay = ServedReplay(ServedConfig(retrain=None, ease_lambdas=(100.0,)), tmp_path)
    replay.run(events)
    ours = {name: figure["value"] for name, figure in replay.report(len(events))["recall_at_10"].items()}
    for mine, tool_name in (("popularity", "popularity"), ("sr", "sr"), ("ease_l100", "ease_l100"),
                            ("ease_recent_l100", "ease_recent_l100")):
        assert tool_name in theirs, sorted(theirs)
        # 4k events: every figure 0.003 below the tool's (60k-event streams agree within 0.1%, docs/benchmarks.md)
        assert ours[mine] == pytest.approx(theirs[tool_name], abs=0.005), (mine, ours[mine], theirs[tool_name])
