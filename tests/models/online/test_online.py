"""One contract for every online ranker configuration (River's `check_*` style)."""

import pickle
from dataclasses import replace

import numpy as np
import pytest

from recstream.models.data.interaction import Interaction
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.online.replay import chunks, popularity_config, replay

CONFIGS = {
    "biased_mf": OnlineConfig(seed=1),
    "funk_mf": OnlineConfig(algorithm="funk_mf", seed=1),
    "squared_uniform": OnlineConfig(loss="squared", negative_sampling="uniform", negatives=1, seed=1),
}


@pytest.fixture(params=list(CONFIGS))
def config(request) -> OnlineConfig:
    return CONFIGS[request.param]


@pytest.fixture(scope="module")
def stream() -> list[Interaction]:
    return list(generate(SyntheticSpec(users=300, items=600, genres=8, events=30_000, seed=3, drift=0.0)))


def trained(config: OnlineConfig, events) -> OnlineRecommender:
    rec = OnlineRecommender(config)
    for batch in chunks(events, 200):
        rec.learn(batch)
    return rec


def test_ranks_top_k_sorted_without_seen_items(config, stream):
    rec = trained(config, stream)
    user = stream[-1].user_id
    out = rec.recommend(user, k=10)
    assert len(out.items) == 10 and out.source == "personal"
    assert out.scores == sorted(out.scores, reverse=True)
    seen = {e.item_id for e in stream if e.user_id == user}
    assert not seen & set(out.items)
    with_seen = rec.recommend(user, k=10, exclude_seen=False)
    assert len(with_seen.items) == 10


def test_serving_never_grows_state(config, stream):
    rec = trained(config, stream[:5000])
    users, items = rec.n_users, rec.n_items
    latents = len(rec.model.u_latents)
    out = rec.recommend("someone-new", k=5)
    assert out.source == "popular" and len(out.items) == 5
    assert (rec.n_users, rec.n_items, len(rec.model.u_latents)) == (users, items, latents)


def test_cold_users_get_the_most_popular_items(config):
    rec = OnlineRecommender(config)
    events = [Interaction(f"e{i}", f"u{i}", "hit" if i % 3 else f"rare{i}", "purchase", None, 1.7e9 + i)
              for i in range(30)]
    rec.learn(events)
    assert rec.recommend("stranger", k=1).items == ["hit"]


def test_learning_moves_a_user_towards_what_they_did(config, stream):
    rec = trained(config, stream)
    before = rec.recommend("ann", k=rec.n_items, exclude_seen=False)
    assert before.source == "popular"
    # Two newcomers buy disjoint sets of niche items, a few times each.
    tail = before.items[-60:]
    bought = {"ann": tail[0::2][:5], "bob": tail[1::2][:5]}
    t = stream[-1].ts
    for rep in range(3):
        for user, items in bought.items():
            rec.learn([Interaction(f"{user}-{rep}-{it}", user, it, "purchase", None, t + rep) for it in items])
    ranks = {u: rec.recommend(u, k=rec.n_items, exclude_seen=False) for u in bought}
    assert all(r.source == "personal" for r in ranks.values())

    def mean_rank(user: str, items: list[str]) -> float:
        return sum(ranks[user].items.index(i) for i in items) / len(items)

    # Each user's own purchases rank higher for them than for the other user: the factors personalise.
    assert mean_rank("ann", bought["ann"]) < mean_rank("bob", bought["ann"])
    assert mean_rank("bob", bought["bob"]) < mean_rank("ann", bought["bob"])
    assert not set(bought["ann"]) & set(rec.recommend("ann", k=20).items)


def test_pickle_round_trip_gives_identical_rankings(config, stream):
    rec = trained(config, stream[:8000])
    clone = pickle.loads(pickle.dumps(rec))
    for user in ("u1", "u2", "nobody"):
        assert clone.recommend(user, 10) == rec.recommend(user, 10)
    clone.learn(stream[8000:8200])
    rec.learn(stream[8000:8200])
    assert clone.recommend("u1", 10).items == rec.recommend("u1", 10).items


def test_beats_random_ranking_on_a_replay(config, stream):
    result = replay(stream, replace(config, prequential_sample=1.0), "model")
    n_items = len({e.item_id for e in stream})
    assert result.trials > 1000
    assert result.recall_at_10 > 5 * (10 / n_items)


def test_prequential_sample_controls_how_much_is_scored(stream):
    full = replay(stream[:6000], OnlineConfig(prequential_sample=1.0), "full")
    none = replay(stream[:6000], OnlineConfig(prequential_sample=0.0), "none")
    some = replay(stream[:6000], OnlineConfig(prequential_sample=0.2), "some")
    assert none.trials == 0 and 0 < some.trials < full.trials


def test_a_large_catalogue_is_probed_more_thinly_so_probes_cost_the_same_per_event(stream):
    # Up to 600 items: 1.0 x 600 item scores an event wanted; a budget of 150 probes a quarter of the events
    # once the catalogue is whole (every one while it holds up to 150 items).
    full = replay(stream[:6000], OnlineConfig(prequential_sample=1.0), "full")
    thin = replay(stream[:6000], OnlineConfig(prequential_sample=1.0, probe_cells_per_event=150.0), "thin")
    assert 0.25 < thin.trials / full.trials < 0.6
    # Within the budget nothing changes: the same draws, the same probes.
    same = replay(stream[:6000], OnlineConfig(prequential_sample=0.2, probe_cells_per_event=150.0), "same")
    assert same.trials == replay(stream[:6000], OnlineConfig(prequential_sample=0.2), "base").trials


def test_popularity_baseline_never_personalises(stream):
    cfg = popularity_config(OnlineConfig())
    rec = trained(cfg, stream[:3000])
    assert rec.recommend(stream[0].user_id, 5).source == "popular"


def test_ratings_below_threshold_are_negatives():
    rec = OnlineRecommender(OnlineConfig())
    assert rec.target(Interaction("e", "u", "i", "rating", 2.0, 0.0)) == 0.0
    assert rec.target(Interaction("e", "u", "i", "rating", 4.5, 0.0)) == 1.0
    assert rec.target(Interaction("e", "u", "i", "view", None, 0.0)) == 1.0  # log loss: a class label
    squared = OnlineRecommender(OnlineConfig(loss="squared"))
    assert squared.target(Interaction("e", "u", "i", "view", None, 0.0)) == pytest.approx(0.3)  # a weight
    assert squared.target(Interaction("e", "u", "i", "rating", 2.0, 0.0)) == 0.0


@pytest.mark.parametrize("bad", [{"algorithm": "svd"}, {"n_factors": 0}, {"prequential_sample": 2.0},
                                 {"loss": "hinge"}, {"negative_sampling": "random"}, {"prequential_max_per_s": 0}])
def test_bad_config_is_named(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        OnlineConfig(**bad)


def test_item_matrix_grows_past_its_initial_capacity():
    rec = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0))
    rec.learn([Interaction(f"e{i}", "u", f"i{i}", "view", None, 1.7e9 + i) for i in range(3000)])
    assert rec.n_items == 3000
    assert np.isfinite(rec.recommend("u", 5, exclude_seen=False).scores).all()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_learns_what_rivers_learn_one_learns_without_negatives(name, stream):
    """With negatives off, a chunk changes the River model as learn_one per event would (chunk_sgd.py), and the
    ranking matrix mirrors every item's new factors."""
    import copy

    rec = OnlineRecommender(replace(CONFIGS[name], negatives=0))
    rec.learn(stream[:500])
    river = copy.deepcopy(rec.model)
    rec.learn(stream[500:800])
    for e in stream[500:800]:
        if e.item_id not in river.i_latents:  # a new item starts from the factors its name gives it
            river.i_latents[e.item_id] = rec._learner.items.first_factors(e.item_id)
        river.learn_one(e.user_id, e.item_id, rec.target(e))
    for user in {e.user_id for e in stream[:800]}:
        np.testing.assert_allclose(rec.model.u_latents[user], river.u_latents[user], rtol=1e-9, atol=1e-12)
    for item in rec.item_ids:
        np.testing.assert_allclose(rec.model.i_latents[item], river.i_latents[item], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(rec._factors[rec._item_row[item]], rec.model.i_latents[item])


def test_compiled_probe_statistics_equal_the_numpy_definition():
    from recstream.models.online.kernels import probe_stats
    from recstream.models.online.prequential import output_stats as _output_stats

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(7, 300))
    scores[0, :50] = -np.inf  # seen items
    scores[3] = 1.5  # all tied: std 0, the top-10 is the first ten columns
    scores[4, rng.integers(0, 300, 40)] = 2.0  # ties at the top, across the 10th place
    scores[5] = np.round(scores[5], 1)  # ties everywhere
    popular = rng.random(300) < 0.3
    targets = scores[np.arange(7), [7, 60, 0, 3, 5, 9, 11]]
    rank, z, share = probe_stats(scores, targets, popular)
    for r, row in enumerate(scores):
        assert (z[r], share[r]) == pytest.approx(_output_stats(row, popular), rel=1e-9, abs=1e-12)
        assert rank[r] == np.count_nonzero(row >= targets[r])
    few = np.full((2, 300), -np.inf)
    few[0, :4] = [1.0, 2.0, 3.0, 4.0]  # fewer rankable items than a top-10
    rank, z, share = probe_stats(few, np.array([2.0, 0.0]), popular)
    assert list(zip(z, share)) == [_output_stats(r, popular) for r in few] and list(rank) == [3, 0]


def test_probes_per_second_are_capped_when_asked(stream):
    now = [100.0]
    capped = OnlineRecommender(OnlineConfig(prequential_sample=1.0, prequential_max_per_s=10.0, seed=1))
    capped.prequential.budget.clock = lambda: now[0]
    free = OnlineRecommender(OnlineConfig(prequential_sample=1.0, seed=1))
    for rec in (capped, free):
        rec.learn(stream[:2000])
    assert free.prequential.trials > 500  # uncapped: every novel positive of the chunk
    assert capped.prequential.trials == 10  # a first burst of one second's budget
    now[0] += 0.5
    capped.learn(stream[2000:2500])
    assert capped.prequential.trials == 10  # half a second's budget is saved up, not spent on half a burst
    now[0] += 0.5
    capped.learn(stream[2500:3000])
    assert capped.prequential.trials == 20  # a second's budget: the next burst
    capped.learn(stream[3000:3500])
    assert capped.prequential.trials == 20  # no time passed: nothing more
    now[0] += 3.0
    capped.learn(stream[3500:3510])
    small = capped.prequential.trials - 20
    assert 0 < small < 10  # a chunk with fewer picks than a burst is scored whole (the bucket holds one second)


def test_a_cap_below_one_probe_a_second_still_probes(stream):
    now = [100.0]
    slow = OnlineRecommender(OnlineConfig(prequential_sample=1.0, prequential_max_per_s=0.5, seed=1))
    slow.prequential.budget.clock = lambda: now[0]
    slow.learn(stream[:500])
    assert slow.prequential.trials == 1
    now[0] += 1.0
    slow.learn(stream[500:1000])
    assert slow.prequential.trials == 1  # half a token
    now[0] += 1.0
    slow.learn(stream[1000:1500])
    assert slow.prequential.trials == 2


def test_a_replay_ignores_the_probe_cap(stream):
    config = OnlineConfig(prequential_sample=1.0, seed=1)
    assert replay(stream[:3000], replace(config, prequential_max_per_s=1.0), "capped").trials == \
        replay(stream[:3000], config, "free").trials


def test_other_workers_events_teach_items_but_no_user():
    """A peer's delta: popularity and co-occurrence from users another worker owns; no factors, no seen items."""
    from recstream.models.online.item_deltas import ItemSideLog, apply_delta

    cfg = OnlineConfig(n_factors=4, negatives=0, prequential_sample=0.0)
    mine, peer = OnlineRecommender(cfg), OnlineRecommender(cfg)
    peer.item_log = ItemSideLog(cfg.popularity_half_life_s)
    t = 1_767_225_600.0
    mine.learn([Interaction("e0", "me", "a", "purchase", None, t)], evaluate=False)
    # The peer's users: many liked x after a; nobody here did.
    peer.learn([Interaction(f"p{n}{k}", f"peer{n}", item, "purchase", None, t + n + k)
                for n in range(20) for k, item in enumerate(("a", "x"))], evaluate=False)
    before = mine.recommend("me", 3).items
    apply_delta(mine, peer.item_log.take(peer.item_ids, {}))
    assert "x" not in before and mine.recommend("me", 1).items == ["x"]  # a's companion, learned item-side
    assert mine.events_learned == 1 and mine.peer_events_learned == 40
    assert not mine.is_personal("peer0") and mine.n_users == 1
    assert mine.recommend("peer0", 2).items == mine.recommend("nobody", 2).items  # a stranger here: popular