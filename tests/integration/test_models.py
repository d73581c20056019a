"""Versions on a running worker: retrain, promote and roll back change what /recommendations reports."""

import json
import time
import urllib.error
import urllib.request

import pytest

from recstream.stream.client import api_get

from .test_cli import recstream

pytestmark = pytest.mark.integration

TOKEN = "s3cret-operator-token"


def post(url: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def served_version(api: str, user: str = "u1") -> str:
    return api_get(f"{api}/recommendations/{user}?k=5")["model_version"]


def wait_for_version(api: str, version: str, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while (v := served_version(api)) != version:
        assert time.monotonic() - start < timeout, f"worker still serves {v}, not {version}"
        time.sleep(0.02)
    return time.monotonic() - start


def test_retrain_promote_and_rollback_on_a_running_worker(worker_factory, s3_prefix):
    # Artefacts in a bucket (moto's S3 server): trainer, CLI and worker share nothing else but the database.
    w = worker_factory(RECSTREAM_OPERATOR_TOKEN=TOKEN, RECSTREAM_ARTEFACT_URL=s3_prefix,
                       RECSTREAM_DEEP_DIM="32", RECSTREAM_DEEP_EPOCHS="10", RECSTREAM_RETRAIN_WARM_EPOCHS="2",
                       RECSTREAM_DEEP_LEARNING_RATE="0.005",
                       RECSTREAM_MODEL_POLL_S="0.2")
    out = recstream("produce", "--synthetic", "--events", "12000", "--users", "300", "--items", "400", env=w.env)
    assert out.returncode == 0, out.stderr
    w.wait(lambda h: h["events_learned"] >= 12000, what="the synthetic stream")
    assert served_version(w.api) == "online:biased_mf"  # no deep version yet

    first = recstream("models", "retrain", "--reason", "first", env=w.env, timeout=300)
    assert first.returncode == 0 and "deep-1 promoted" in first.stdout, first.stdout + first.stderr
    assert wait_for_version(w.api, "deep-1") < 2.0
    rec = api_get(f"{w.api}/recommendations/u1?k=5")
    assert rec["model_versions"] == {"online": "online:biased_mf", "deep": "deep-1"} and len(rec["items"]) == 5

    # A candidate that an operator promotes over HTTP: refused without the token, served at once with it.
    second = recstream("models", "retrain", env={**w.env, "RECSTREAM_RETRAIN_AUTO_PROMOTE": "false"}, timeout=300)
    assert second.returncode == 0 and "deep-2" in second.stdout, second.stdout + second.stderr
    listing = recstream("models", "list", env=w.env).stdout
    assert "deep-2" in listing and "parent deep-1" in listing
    assert post(f"{w.api}/models/deep-2/promote", {"reason": "looks good"})[0] == 401
    assert post(f"{w.api}/models/deep-2/promote", {"reason": "looks good"}, "wrong")[0] == 401
    assert post(f"{w.api}/models/deep-2/promote", {}, TOKEN)[0] == 409  # no reason given
    status, body = post(f"{w.api}/models/deep-2/promote", {"reason": 5}, TOKEN)
    assert status == 400 and "reason must be a string" in body["error"]
    assert post(f"{w.api}/models/deep-99/promote", {"reason": "x"}, TOKEN)[0] == 404
    status, body = post(f"{w.api}/models/deep-2/promote", {"reason": "looks good", "actor": "alice"}, TOKEN)
    assert status == 200 and body["status"] == "live"
    assert served_version(w.api) == "deep-2"

    # Rollback from the CLI reaches the running worker within a second.
    back = recstream("models", "rollback", "--reason", "clicks dropped", env=w.env)
    assert back.returncode == 0 and "deep-1 is live" in back.stdout, back.stderr
    assert wait_for_version(w.api, "deep-1") < 1.5
    shown = json.loads(recstream("models", "show", "deep-2", env=w.env).stdout)
    assert [a["to_status"] for a in reversed(shown["audit"])] == ["candidate", "live", "rolled_back"]
    assert shown["audit"][1]["actor"] == "api:alice"
    assert w.health()["deep"]["live"] == "deep-1"

    stored = {v["name"]: v["artefact"] for v in json.loads(recstream("models", "list", "--json", env=w.env).stdout)}
    assert stored["deep-1"].startswith(s3_prefix + "/deep-run") and stored["deep-1"].endswith(".pt"), stored

    # A canary to a share of users the operator chooses (kept in the registry: the worker follows it), changeable.
    bare = recstream("models", "promote", "deep-2", "--canary", "--reason", "try", env=w.env)
    assert bare.returncode == 2 and "--canary needs the share of users" in bare.stderr
    status, body = post(f"{w.api}/models/deep-2/promote", {"reason": "try", "canary": 0}, TOKEN)
    assert status == 409 and "serve nobody" in body["error"]
    canary = recstream("models", "promote", "deep-2", "--canary", "0.2", "--reason", "try it", env=w.env)
    assert canary.returncode == 0 and "canary for 20% of users" in canary.stdout, canary.stderr
    users = [f"u{i}" for i in range(300)]
    time.sleep(1.0)
    assert 0.12 < sum(served_version(w.api, u) == "deep-2" for u in users) / len(users) < 0.28
    assert post(f"{w.api}/models/canary", {"share": 0.5, "reason": "widen"}, TOKEN)[0] == 200
    time.sleep(1.0)
    assert 0.40 < sum(served_version(w.api, u) == "deep-2" for u in users) / len(users) < 0.60
    shown = json.loads(recstream("models", "show", "deep-2", env=w.env).stdout)
    assert shown["canary"]["share"] == 0.5 and shown["canary"]["live"] == "deep-1"

    # Retrain requests over HTTP are queued for the scheduler.
    status, body = post(f"{w.api}/models/retrain", {"reason": "drift"}, TOKEN)
    assert status == 202 and body["queued"]


def test_model_endpoints_are_refused_without_a_configured_token(worker_factory):
    w = worker_factory()
    status, body = post(f"{w.api}/models/rollback", {"reason": "x"}, "anything")
    assert status == 403 and "RECSTREAM_OPERATOR_TOKEN" in body["error"]
    assert api_get(f"{w.api}/models")["versions"] == []
