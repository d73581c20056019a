"""The HTTP API's views, called directly (no Faust, no server): what each answers, and how it refuses bad input."""

import asyncio
import json

from recstream.models.data.keys import user_partition
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.stream.settings import Settings
from recstream.stream.web.auth import Access
from recstream.stream.web.forwarding import FORWARDED_BY
from recstream.stream.web.reply import LocalRequest
from recstream.stream.worker import health
from recstream.stream.worker.directory import WorkerInfo

from .conftest import TOKEN


def call(coro):
    return asyncio.run(coro)


def test_recommendations_are_personal_without_seen_items_and_bad_parameters_say_what_to_send(views):
    reply = call(views.recommendations(LocalRequest(query={"k": "5"}), "u1"))
    body = reply.data()
    assert reply.status == 200 and body["source"] == "personal" and len(body["items"]) == 5
    assert body["served_by"] == "me" and body["model_version"] == "online:biased_mf"
    seen = set(views.state.recommender.recent_items("u1", 10_000))
    assert not seen & {i["item_id"] for i in body["items"]}
    for query, message in (({"k": "0"}, "k must be an integer between 1 and 200, got '0'"),
                           ({"exclude_seen": "maybe"}, "exclude_seen must be true or false")):
        reply = call(views.recommendations(LocalRequest(query=query), "u1"))
        assert reply.status == 400 and message in reply.data()["error"]
    assert call(views.recommendations(LocalRequest(), "u" * 257)).status == 400


def test_a_request_for_another_workers_user_is_answered_here_when_the_owner_is_unreachable(views):
    router = views.state.router
    router.assigned, router.n_partitions = (0,), 2
    router.owners = {1: WorkerInfo("other", "http://127.0.0.1:9", (1,), 2, 0.0, 0.0)}
    theirs = next(f"u{i}" for i in range(50) if user_partition(f"u{i}", 2) == 1)
    reply = call(views.recommendations(LocalRequest(path_qs=f"/recommendations/{theirs}"), theirs))
    assert reply.status == 200 and reply.data()["served_by"] == "me" and router.forwarded == 0
    # Already forwarded once: answered where it lands, no second hop.
    reply = call(views.recommendations(LocalRequest(headers={FORWARDED_BY: "x"}), theirs))
    assert reply.status == 200


def test_operator_changes_need_the_token_and_a_valid_body(views):
    registry = views.state.registry
    version = registry.register("deep", artefact="/nowhere.pt", sha256="0" * 64)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert call(views.promote(LocalRequest(body=b'{"reason": "x"}'), version.name)).status == 401
    bad = call(views.promote(LocalRequest(headers=auth, body=b'{"reason": 3}'), version.name))
    assert bad.status == 400 and "reason must be a string" in bad.data()["error"]
    assert call(views.promote(LocalRequest(headers=auth, body=b"[1]"), version.name)).status == 400
    missing = call(views.promote(LocalRequest(headers=auth, body=b'{"reason": "x"}'), "deep-99"))
    assert missing.status == 404
    done = call(views.promote(LocalRequest(headers=auth, body=json.dumps({"reason": "ok"}).encode()), version.name))
    assert done.status == 200 and done.data()["status"] == "live" and registry.live("deep").id == version.id
    # The artefact does not exist: this worker refuses to load it and says so, serving what it had.
    assert "deep-1" in views.state.deep.state()["last_error"]
    queued = call(views.retrain(LocalRequest(headers=auth, body=b'{"reason": "drifted"}')))
    assert queued.status == 202 and queued.data()["queued"] is True


def test_read_endpoints_follow_read_token_required(views, monkeypatch):
    assert call(views.metrics(LocalRequest())).status == 200
    views.serving = views.serving.model_copy(update={"read_token_required": True})
    views.access = Access(views.serving)
    assert call(views.metrics(LocalRequest())).status == 401
    assert call(views.models(LocalRequest())).status == 401
    ok = call(views.models(LocalRequest(headers={"Authorization": f"Bearer {TOKEN}"})))
    assert ok.status == 200 and ok.data()["versions"] == []


def test_the_worker_judges_what_it_serves_and_reports_it(views):
    from recstream.models.data.interaction import InteractionColumns

    state = views.state
    assert health.health(state)["served_trials"] == 0 and health.health(state)["served_recall_at_10"] is None
    state.judge.sample, state.judge.budget = 1.0, None  # judge every novel positive of the next events
    more = list(generate(SyntheticSpec(users=50, items=80, events=4_000, seed=2)))[3_000:]
    state.judge.before_learning(state.recommender, state.deep.choose, InteractionColumns.of(more))
    h = health.health(state)
    assert h["served_trials"] > 100 and 0 < h["served_recall_at_10"] < 1
    assert h["deep_weight"] == 0.5  # no deep version yet: nothing to tune, the configured share
    metrics = call(views.metrics(LocalRequest())).body.decode()
    assert "recstream_served_recall_at_10" in metrics and "recstream_deep_weight 0.5" in metrics


def served(views, user="u1", method="GET", body=None, **query):
    request = LocalRequest(query={k: str(v) for k, v in query.items()},
                          body=json.dumps(body).encode() if body is not None else b"")
    request.method = method
    reply = call(views.recommendations(request, user))
    return reply.status, reply.data()


def test_unavailable_and_deleted_items_are_never_served_and_categories_filter_with_k_items_still(views):
    from recstream.models.catalogue.items import ItemRecord

    _, first = served(views, k=5)
    top = [i["item_id"] for i in first["items"]]
    views.state.catalogue.apply([ItemRecord(top[0], available=False), ItemRecord(top[1], deleted=True)])
    _, after = served(views, k=5)
    shown = [i["item_id"] for i in after["items"]]
    assert len(shown) == 5 and top[0] not in shown and top[1] not in shown
    _, anyway = served(views, k=5, available_only="false")
    assert top[0] in [i["item_id"] for i in anyway["items"]] and top[1] not in [i["item_id"] for i in anyway["items"]]
    shoes = [i for i in views.state.recommender.item_ids if i not in top][:8]
    views.state.catalogue.apply([ItemRecord(i, categories=("shoes",)) for i in shoes])
    status, only = served(views, k=5, category="shoes,hats")
    assert status == 200 and len(only["items"]) == 5 and {i["item_id"] for i in only["items"]} <= set(shoes)
    _, fewer = served(views, k=20, category="shoes", exclude=",".join(shoes[:2]), exclude_seen="false")
    assert {i["item_id"] for i in fewer["items"]} == set(shoes[2:])  # every eligible one, no more


def test_exclusions_by_query_or_body_and_bad_filters_say_what_to_send(views):
    _, first = served(views, k=3)
    top = [i["item_id"] for i in first["items"]]
    _, query = served(views, k=3, exclude=",".join(top))
    status, posted = served(views, method="POST", body={"k": 3, "exclude": top})
    assert status == 200 and not set(top) & {i["item_id"] for i in posted["items"]}
    assert [i["item_id"] for i in query["items"]] == [i["item_id"] for i in posted["items"]]
    for method, body, query, message in (
            ("GET", None, {"exclude": ",".join(f"i{n}" for n in range(501))}, "exclude takes at most 500 values"),
            ("GET", None, {"category": "x" * 300}, "at most 256 characters"),
            ("GET", None, {"available_only": "perhaps"}, "available_only must be true or false"),
            ("POST", {"k": 3, "colour": "red"}, {}, "unknown field(s) colour"),
            ("POST", {"k": "3"}, {}, "k must be an integer between 1 and 200"),
            ("POST", {"exclude": [1, 2]}, {}, "exclude must be a list of strings"),
            ("POST", [1], {}, "the body must be a JSON object")):
        status, answer = served(views, method=method, body=body, **query)
        assert status == 400 and message in answer["error"], (body, query, answer)


def test_an_explanation_names_the_score_parts_the_recent_items_behind_them_and_the_rules(views):
    status, answer = served(views, k=3, explain="true", category="")
    assert status == 200
    why = answer["items"][0]["why"]
    assert set(why["online"]) == {"factors", "popularity", "cooccurrence", "feedback"}
    # the parts add up to the score: the online parts, or (mixed with what followed the last item) the mix's
    total = sum(why["mixed"].values()) if "mixed" in why else why["online_total"]
    assert abs(total - answer["items"][0]["score"]) < 1e-3
    recent = set(views.state.recommender.recent_items("u1", 10))
    assert any(why["with_your_items"] for why in (i["why"] for i in answer["items"]))
    assert all(set(i["why"]["with_your_items"]) <= recent for i in answer["items"])
    assert answer["explanation"]["ranked_by"].startswith("online model")
    assert answer["explanation"]["rules"][:2] == ["available only", "deleted never"]
    _, plain = served(views, k=3)
    assert "why" not in plain["items"][0] and "explanation" not in plain


def test_similar_items_follow_co_occurrence_obey_the_catalogue_and_unknown_items_are_404(views):
    from recstream.models.catalogue.items import ItemRecord

    rec = views.state.recommender
    item = rec.recent_items("u1", 1)[0]
    reply = call(views.similar_items(LocalRequest(query={"k": "5"}), item))
    items = [i["item_id"] for i in reply.data()["items"]]
    assert reply.status == 200 and len(items) == 5 and item not in items
    companions = [rec.item_ids[r] for r in rec.cooccurrence.companions(rec.item_row(item), 0.0)[0]]
    assert items[:3] == companions[:3]  # the strongest companions first
    views.state.catalogue.apply([ItemRecord(items[0], available=False)])
    again = [i["item_id"] for i in call(views.similar_items(LocalRequest(query={"k": "5"}), item)).data()["items"]]
    assert items[0] not in again and len(again) == 5
    assert call(views.similar_items(LocalRequest(), "never-seen")).status == 404
    assert call(views.similar_items(LocalRequest(query={"k": "0"}), item)).status == 400
    shown = call(views.item(LocalRequest(), items[0])).data()
    assert shown["catalogue"]["available"] is False and shown["seen_in_events"]
    assert call(views.item(LocalRequest(), "never-seen")).status == 404


def test_new_items_take_their_share_of_a_personal_list(views):
    from recstream.models.catalogue.items import ItemRecord

    state = views.state
    _, before = served(views, k=10)
    listed = [i["item_id"] for i in before["items"]]
    rarest = [state.recommender.item_ids[r] for r in state.recommender.popularity.scores(state.recommender.n_items)
              .argsort()[:5]]
    now = state.recommender.popularity.now
    state.catalogue.apply([ItemRecord(i, created_at=now - 3600) for i in rarest])
    state.settings = Settings.build(database_url=state.settings.database_url, new_item_share=0.3,
                                    new_item_max_events=1e9)
    state.recipe.cfg = state.settings.serving.recipe()  # the same recipe (and mix), with new-item slots
    _, after = served(views, k=10)
    items = [i["item_id"] for i in after["items"]]
    assert len(items) == 10 and items[:7] == [i for i in listed if i not in rarest][:7]
    assert set(items[7:]) <= set(rarest) and len(set(items[7:])) == 3  # the last 3 slots: new items
