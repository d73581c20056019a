"""The served-quality replay's protocol, on tiny hand-made streams."""

import asyncio
from pathlib import Path

import numpy as np
import pytest

from recstream.models.data.interaction import Interaction
from recstream.models.data.keys import user_partition
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep.config import DeepConfig
from recstream.models.evaluation.references import References
from recstream.models.evaluation.served import ServedConfig, ServedReplay, replay_served, worker_of
from recstream.models.online.config import OnlineConfig
from recstream.models.retrain.config import RetrainConfig


def buy(n: int, user: str, item: str) -> Interaction:
    return Interaction(f"e{n}", user, item, "purchase", None, 1_767_225_600.0 + n)


def test_each_novel_positive_is_judged_before_it_is_learned_and_repeats_never_count():
    # Five items: every top-10 holds every item the user has not seen yet, so a probe is a hit exactly when its
    # item is known before the event is learned — learning first would mark it seen and make it a miss.
    events = [buy(0, "a", "i0"), buy(1, "b", "i1"), buy(2, "a", "i1"), buy(3, "a", "i1"),  # a repeat
              buy(4, "c", "i2"), buy(5, "b", "i0"), buy(6, "c", "i0"), buy(7, "d", "i3")]
    cfg = ServedConfig(online=OnlineConfig(n_factors=2, negatives=0, prequential_sample=0.0), retrain=None,
                       chunk=1, ease_refit_every=1)
    report = replay_served(events, cfg)
    # Judged: every event but a's repeat of i1. Hits: a-i1, b-i0, c-i0 (known items); misses: i0, i1, i2, i3 new.
    assert report["trials"] == 7
    assert report["recall_at_10"]["served"]["value"] == pytest.approx(3 / 7, abs=1e-4)
    assert report["recall_at_10"]["popularity"]["value"] == pytest.approx(3 / 7, abs=1e-4)


def test_users_are_split_over_workers_by_their_partition_in_ranges():
    users = [f"u{i}" for i in range(200)]
    for u in users:
        p = user_partition(u, 12)
        assert worker_of(u, 2, 12) == (0 if p < 6 else 1)
        assert worker_of(u, 4, 12) == p // 3 and worker_of(u, 1, 12) == 0


def test_ease_equals_its_closed_form():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 8)) < 0.3).astype(np.float64)
    refs = References(lambdas=(5.0,), refit_every=10**9)
    for u, i in zip(*np.nonzero(x)):
        refs.learn(f"u{u}", f"i{i}")
    refs.fit()
    cols = [int(name[1:]) for name in refs.ids]
    xs = x[:, cols]
    p = np.linalg.inv(xs.T @ xs + 5.0 * np.eye(len(cols)))
    b = np.eye(len(cols)) - p / np.diag(p)
    np.testing.assert_allclose(refs.b[5.0], b, atol=1e-4)
    # A user's recent score: their last ten positives, weighted 0.8 ** age, seen items left out.
    user = max(refs.hist, key=lambda u: len(refs.hist[u]))
    history = refs.hist[user][-10:]
    w = np.array([0.8 ** (len(history) - 1 - k) for k in range(len(history))])
    scores = w @ b[history] + 1e-9 * refs.pop[:len(cols)]
    seen = {f"i{i}" for i in np.flatnonzero(x[int(user[1:])])}
    expected = [refs.ids[c] for c in np.argsort(-scores, kind="stable") if refs.ids[c] not in seen][:10]
    assert refs.top(user, seen)["ease_recent_l5"] == expected


def test_references_serve_popular_items_to_a_user_they_cannot_judge_yet():
    # Before EASE's first fit, and for a user with no history, every reference serves what a deployable one
    # would: the popular items (the bench's old EASE served an empty list there: a quarter of session probes).
    refs = References(lambdas=(100.0,), refit_every=10**9)
    for n, item in enumerate(["a", "a", "a", "b", "b", "c"]):
        refs.learn(f"u{n}", item)
    for user in ("stranger", "u5"):
        lists = refs.top(user, {"c"} if user == "u5" else set())
        popular = ["a", "b"] if user == "u5" else ["a", "b", "c"]
        assert all(lists[name] == popular for name in ("popularity", "ease_l100", "ease_recent_l100")), lists


def test_sequential_rules_and_session_knn_serve_what_followed():
    refs = References(lambdas=(100.0,), refit_every=10**9)
    for n in range(5):  # five sessions: x then y
        refs.learn(f"s{n}", "x")
        refs.learn(f"s{n}", "y")
    for n in range(8):
        refs.learn(f"p{n}", "z")  # z is the most popular
    refs.learn("new", "x")
    lists = refs.top("new", {"x"})
    assert lists["sr"][0] == "y" and lists["sknn"][0] == "y" and lists["popularity"][0] == "z"


def test_the_served_list_is_what_a_worker_answers_for_the_same_state(tmp_path: Path):
    from recstream.models.store.registry import Registry
    from recstream.stream.settings import Settings
    from recstream.stream.web.reply import LocalRequest
    from recstream.stream.web.serving import ServingViews
    from recstream.stream.worker.state import WorkerState

    events = list(generate(SyntheticSpec(users=60, items=120, events=4_000, seed=4)))
    cfg = ServedConfig(online=OnlineConfig(n_factors=4, prequential_sample=0.0), retrain_every=2_000,
                       retrain=RetrainConfig(deep=DeepConfig(dim=8, epochs=2), min_interactions=100,
                                             quantize_tolerance=None))
    replay = ServedReplay(cfg, tmp_path)
    replay.run(events)
    registry = Registry(replay.engine)
    if replay.slot.live is None:  # the gate may refuse a model this small: an operator's promotion then
        registry.promote(registry.list("deep")[0].id, actor="test", reason="serve a deep version")
        replay.slot.poll()
    assert replay.slot.live is not None
    settings = Settings.build(database_url=f"sqlite:///{tmp_path / 'served.db'}")
    state = WorkerState.of(settings, replay.learners[0], replay.slot, "me")
    state.recipe = replay.recipes[0]  # the same recipe object: the mix the replay's judge has tuned so far
    views = ServingViews(state)
    for user in ("u1", "u7", "u30", "nobody"):
        answer = asyncio.run(views.recommendations(LocalRequest(query={"k": "10"}), user)).data()
        assert [i["item_id"] for i in answer["items"]] == replay.lists(user)["served"]
    assert any(asyncio.run(views.recommendations(LocalRequest(), u)).data()["model_version"].startswith("deep-")
               for u in ("u1", "u7", "u30"))


def test_with_shared_items_every_worker_can_serve_what_only_anothers_users_liked(tmp_path: Path):
    # Only worker 0's users bought "hit"; a user of worker 1 can be served it only when items are shared.
    events = [Interaction(f"e{n}", f"u{n}", "hit", "purchase", None, 1_767_225_600.0 + n) for n in range(40)
              if worker_of(f"u{n}", 2, 12) == 0]
    (tmp_path / "alone").mkdir(), (tmp_path / "shared").mkdir()
    alone, shared = (ServedReplay(ServedConfig(retrain=None, workers=2, share_items=s), tmp_path / d)
                     for s, d in ((False, "alone"), (True, "shared")))
    for r in (alone, shared):
        r.learn(events)
    stranger = next(f"s{n}" for n in range(100) if worker_of(f"s{n}", 2, 12) == 1)
    assert events and alone.lists(stranger)["served"] == [] and shared.lists(stranger)["served"] == ["hit"]
    for r in (alone, shared):
        r.engine.dispose()
