"""The HTTP contract without a server: the generated document, POST /events through its route (token, CORS,
per-event refusals, retries not produced twice, a broker that is down), and the client's batching."""

import asyncio
import json

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from openapi_spec_validator import validate

from recstream.stream.client import ApiError, AsyncClient, Client
from recstream.stream.settings import Settings
from recstream.stream.web.auth import Access
from recstream.stream.web.console.views import ConsoleViews
from recstream.stream.web.contract.openapi import document
from recstream.stream.web.dispatch import preflight
from recstream.stream.web.events import EventGateway
from recstream.stream.web.operator import OperatorViews
from recstream.stream.web.reply import LocalRequest
from recstream.stream.web.serving import ServingViews

from .conftest import TOKEN

PRODUCER = "producer-token-for-pages"
SHOP = "https://shop.example"


def call(coro):
    return asyncio.run(coro)


class FakeProducer:
    """What the gateway sends, and a broker that can be made to fail (unit test: no Kafka here)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.down = False

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, topic, value, key=None):
        if self.down:
            raise KafkaConnectionError("no broker")
        self.sent.append((topic, key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
def gateway(views):
    views.serving = views.serving.model_copy(update={
        "producer_token": Settings.build(producer_token=PRODUCER).serving.producer_token, "cors_origins": [SHOP]})
    views.access = Access(views.serving)
    producer = FakeProducer()
    views.events = EventGateway(views.state.settings, views.state.topics, lambda: producer)
    return views, producer


def post(views, body, **headers):
    query = {"token": headers.pop("token")} if "token" in headers else {}
    request = LocalRequest(body=json.dumps(body).encode(), headers=headers, query=query)
    request.method = "POST"
    return call(views.post_events(request))


def event(n: int, **extra) -> dict:
    """A behaviour event; `type=None` leaves the type out (a feedback event's fields)."""
    e = {"event_id": f"e{n}", "user_id": f"u{n % 3}", "item_id": f"i{n}", "type": "click",
         "ts": "2026-12-01T10:00:00Z", **extra}
    return {k: v for k, v in e.items() if v is not None}


def test_the_document_validates_and_names_a_view_for_every_route():
    doc = document("1.0")
    validate(doc)
    for views in (ServingViews, OperatorViews, ConsoleViews):
        for route in views.ROUTES:
            assert callable(getattr(views, route.view, None)), route
            assert route.method.lower() in doc["paths"][route.path], route
    assert doc["paths"]["/models/canary"]["post"]["requestBody"]["required"]  # share has no default
    assert doc["paths"]["/events"]["post"]["security"][0] == {"producer": []}
    k = next(p for p in doc["paths"]["/recommendations/{user_id}"]["get"]["parameters"] if p["name"] == "k")
    assert (k["schema"]["minimum"], k["schema"]["maximum"], k["schema"]["default"]) == (1, 200, 10)


def test_events_are_produced_keyed_by_user_each_bad_one_named_and_a_retry_not_produced_twice(gateway):
    views, producer = gateway
    reply = post(views, {"behaviour": [event(1), event(2, type="teleport"), event(3, ts="1970-01-02T00:00:00Z")],
                         "feedback": [{**event(4, type=None), "rec_id": "r1", "action": "click",
                                       "model_version": "v1"}]},
                 Authorization=f"Bearer {PRODUCER}")
    answer = reply.data()
    assert reply.status == 200 and answer["accepted"] == 2 and answer["duplicates"] == 0
    assert [(r["topic"], r["index"], r["code"]) for r in answer["refused"]] == [("behaviour", 1, "schema"),
                                                                                ("behaviour", 2, "bad_timestamp")]
    topics = views.state.topics
    assert [(t, k) for t, k, _ in producer.sent] == [(topics.behaviour, b"u1"), (topics.feedback, b"u1")]
    again = post(views, {"behaviour": [event(1)]}, token=PRODUCER).data()  # a page's beacon: token in the query
    assert (again["accepted"], again["duplicates"]) == (0, 1) and len(producer.sent) == 2


def test_events_need_the_producer_token_and_a_down_broker_is_a_503_that_loses_nothing(gateway):
    views, producer = gateway
    assert post(views, {"behaviour": [event(1)]}).status == 401
    assert post(views, {"behaviour": [event(1)]}, Authorization="Bearer wrong-token-xxxxxxxx").status == 401
    assert post(views, {"behaviour": [event(1)]}, Authorization=f"Bearer {TOKEN}").status == 200  # the operator's
    too_many = post(views, {"behaviour": [event(n) for n in range(400)], "feedback": [event(n) for n in range(101)]},
                    token=PRODUCER)
    assert too_many.status == 400 and "at most 500 events" in too_many.data()["error"]
    assert post(views, {"behaviour": [event(9)], "colour": 1}, token=PRODUCER).status == 400
    producer.down = True
    down = post(views, {"behaviour": [event(7)]}, token=PRODUCER)
    assert down.status == 503 and "send the batch again" in down.data()["error"]
    producer.down = False
    assert post(views, {"behaviour": [event(7)]}, token=PRODUCER).data()["accepted"] == 1  # not taken as a repeat


def test_pages_of_allowed_origins_may_call_the_serving_api_and_no_other_page_or_route(gateway):
    views, _ = gateway
    served = call(views.recommendations(LocalRequest(query={"k": "3"}, headers={"Origin": SHOP}), "u1"))
    assert dict(served.headers)["Access-Control-Allow-Origin"] == SHOP
    other = call(views.recommendations(LocalRequest(headers={"Origin": "https://evil.example"}), "u1"))
    assert "Access-Control-Allow-Origin" not in dict(other.headers)
    models = call(views.models(LocalRequest(headers={"Origin": SHOP})))
    assert "Access-Control-Allow-Origin" not in dict(models.headers)  # operator routes: never from a page
    asked = preflight(LocalRequest(headers={"Origin": SHOP}), [SHOP], ["POST"])
    assert asked.status == 204 and dict(asked.headers)["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert dict(preflight(LocalRequest(headers={"Origin": "https://evil.example"}), [SHOP], ["POST"]).headers) == {}


def test_the_client_sends_batches_of_500_and_numbers_refusals_across_them():
    seen: list[dict] = []

    def worker(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        assert request.headers["Authorization"] == f"Bearer {PRODUCER}"
        refused = [{"topic": "behaviour", "index": 0, "event_id": body["behaviour"][0]["event_id"], "code": "schema",
                    "reason": "type: ..."}] if body["behaviour"] else []
        return httpx.Response(200, json={"accepted": len(body["behaviour"]) + len(body["feedback"]) - len(refused),
                                         "duplicates": 0, "refused": refused})

    api = Client("http://worker", producer_token=PRODUCER)
    api._http = httpx.Client(transport=httpx.MockTransport(worker))
    answer = api.send_events(behaviour=[event(n) for n in range(1200)])
    assert [len(b["behaviour"]) for b in seen] == [500, 500, 200]
    assert answer.accepted == 1197 and [r.index for r in answer.refused] == [0, 500, 1000]


def test_the_client_retries_what_means_not_now_and_raises_what_the_worker_refused():
    answers = iter([httpx.Response(503, json={"error": "starting"}),
                    httpx.Response(429, json={"error": "slow down"}, headers={"Retry-After": "0"}),
                    httpx.Response(200, json={"item_id": "i1", "catalogue": None, "seen_in_events": True,
                                              "served_by": "w"}),
                    httpx.Response(404, json={"error": "no item 'x'"})])
    api = Client("http://worker", backoff_s=0.001)
    api._http = httpx.Client(transport=httpx.MockTransport(lambda request: next(answers)))
    assert api.item("i1").seen_in_events
    with pytest.raises(ApiError, match="404: no item 'x'"):
        api.item("x")


def test_the_async_client_asks_the_same_and_retries_the_same():
    answers = iter([httpx.Response(502, json={"error": "a proxy between"}),
                    httpx.Response(200, json={"user_id": "u1", "rec_id": "r", "items": [{"item_id": "i1", "score": 1.0}],
                                              "source": "personal", "model_version": "online:biased_mf",
                                              "model_versions": {"online": "online:biased_mf", "deep": None},
                                              "canary": False, "events_learned": 5, "served_by": "w"})])
    asked: list[httpx.Request] = []

    def worker(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return next(answers)

    async def ask():
        async with AsyncClient("http://worker", backoff_s=0.001) as api:
            api._http = httpx.AsyncClient(transport=httpx.MockTransport(worker))
            return await api.recommendations("user/with,comma", k=3, exclude=["a,b"])

    top = call(ask())
    assert top.items[0].item_id == "i1" and len(asked) == 2
    assert asked[-1].url.raw_path == b"/recommendations/user%2Fwith%2Ccomma"  # one path segment
    assert json.loads(asked[-1].content)["exclude"] == ["a,b"]  # a JSON body: ids keep their commas
