"""The catalogue on running workers: an item made unavailable leaves every worker's answers within a second while
events keep flowing, filters and explanations over HTTP, bad item messages dead-lettered, and a worker started
later knows the catalogue before it is ready."""

import json
import threading
import time

import pytest
from kafka import KafkaProducer

from recstream.stream.client import api_get

from .test_checkpoints import produce
from .test_cli import recstream
from .test_scale_out import FAST, split, urllib_status, user_on

pytestmark = pytest.mark.integration


def local(w, user: str, query: str = "k=10") -> list[str]:
    """This worker's own answer (marked as already forwarded: no hop to the owner)."""
    import urllib.request

    req = urllib.request.Request(f"{w.api}/recommendations/{user}?{query}",
                                 headers={"X-Recstream-Forwarded-By": "test"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return [i["item_id"] for i in json.loads(resp.read())["items"]]


def test_an_unavailable_item_leaves_every_workers_answers_within_a_second_under_load(worker_factory, tmp_path):
    a = worker_factory(**FAST)
    b = worker_factory(**FAST)
    split(a, b)
    produce(a, 6000, seed=3)
    a.wait(lambda h: h["events_learned"] > 0, what="events")
    movies = tmp_path / "movies.csv"
    movies.write_text("movieId,title,genres\n" + "".join(f"i{n},Item {n},{'Drama' if n % 2 else 'Comedy'}|Top\n"
                                                          for n in range(400)))
    out = recstream("items", "import", str(movies), env=a.env)
    assert out.returncode == 0 and "published 400 items" in out.stdout, out.stderr
    for w in (a, b):
        w.wait(lambda h: h["catalogue"]["items"] == 400, what="the catalogue on every worker", timeout=15)
    user = user_on(set(a.health()["partitions"]))
    top = local(a, user)[0]
    assert top in local(b, user, "k=50")

    load = threading.Thread(target=produce, args=(a, 6_000, 4), kwargs={"rate": 2000})
    load.start()
    p = KafkaProducer(bootstrap_servers=a.env["RECSTREAM_BOOTSTRAP"])
    p.send(a.env["RECSTREAM_TOPIC_ITEMS"], key=top.encode(), value=json.dumps({"item_id": top, "available": False}).encode())
    p.send(a.env["RECSTREAM_TOPIC_ITEMS"], key=b"i7", value=b'{"item_id": "i7", "available": "no"}')  # refused
    p.flush()
    sent = time.monotonic()
    gone = {}
    while len(gone) < 2 and time.monotonic() - sent < 5:
        for name, w in (("a", a), ("b", b)):
            if name not in gone and top not in local(w, user, "k=50"):
                gone[name] = time.monotonic() - sent
        time.sleep(0.02)
    load.join()
    assert set(gone) == {"a", "b"} and max(gone.values()) < 1.0, gone
    dead = sum(w.health()["pipeline"]["dead_lettered"].get("schema", 0) for w in (a, b))
    assert dead == 1  # the bad item message, dead-lettered once (by its partition's owner)
    shown = json.loads(recstream("items", "show", top, env=a.env).stdout)
    assert shown["available"] is False and shown["categories"] and shown["attributes"]["title"].startswith("Item")

    drama = api_get(f"{b.api}/recommendations/{user}?k=5&category=Drama&explain=true")
    assert len(drama["items"]) == 5 and all(int(i["item_id"][1:]) % 2 for i in drama["items"])
    assert "categories: Drama" in drama["explanation"]["rules"] and "online" in drama["items"][0]["why"]

    c = worker_factory(ready=None, **FAST)  # a worker started now: the catalogue before it takes traffic
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not ready(c):
        time.sleep(0.2)
    assert ready(c) and c.health()["catalogue"]["caught_up"] and c.health()["catalogue"]["unavailable"] == 1


def ready(w) -> bool:
    try:
        return urllib_status(f"{w.api}/readyz") == 200
    except OSError:  # not listening yet
        return False
