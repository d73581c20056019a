"""Approximate retrieval: the IVF index finds the largest inner products, and the served list on candidates is
the exact list where the candidates hold it (every cell probed), with the same scores."""

import numpy as np
import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.ask import Ask
from recstream.models.serving.ivf import InvertedLists
from recstream.models.serving.mix import RecipeConfig, RetrievalConfig, ServedMix
from recstream.models.serving.recipe import ServedRecipe
from recstream.models.serving.retrieval import Retrieval


def test_probing_a_few_cells_finds_most_of_the_largest_inner_products():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 8)) * rng.uniform(0.2, 2.0, size=(3000, 1))  # norms vary, as learned factors do
    lists = InvertedLists.build(x, 55, rng)
    assert np.array_equal(np.sort(lists.probe(np.ones(8), 55)), np.arange(3000))  # every cell: every row once
    recall = []
    for q in rng.normal(size=(50, 8)):
        top = set(np.argsort(-(x @ q))[:10].tolist())
        recall.append(len(top & set(lists.probe(q, 12).tolist())) / 10)
    assert np.mean(recall) >= 0.9  # 12 of 55 cells (a fifth of the rows; isotropic data is the hard case)


def learned(seed: int = 2, events: int = 12_000) -> OnlineRecommender:
    rec = OnlineRecommender(OnlineConfig(n_factors=8))
    rec.learn(list(generate(SyntheticSpec(users=200, items=600, events=events, seed=seed))))
    return rec


@pytest.fixture(scope="module")
def online() -> OnlineRecommender:
    return learned()


def recipe(retrieval: RetrievalConfig, mix: ServedMix | None = None) -> ServedRecipe:
    return ServedRecipe(RecipeConfig(start=mix or ServedMix(), tuned=False, retrieval=retrieval), seed=0)


EXACT = RetrievalConfig(exact_below=10**9)


@pytest.mark.parametrize("mix", [ServedMix(successors=1.0), ServedMix(successors=0.0)])
def test_candidates_from_every_cell_serve_the_exact_list_and_scores(online, mix):
    every_cell = RetrievalConfig(exact_below=0, probe=10**6, background=False)
    approx, exact = recipe(every_cell, mix), recipe(EXACT, mix)
    deny = np.zeros(online.n_items, dtype=bool)
    deny[::3] = True
    users = [f"u{i}" for i in range(0, 200, 7)] + ["nobody"]
    for user in users:
        for d in (None, deny):
            a, _ = approx.serve(online, None, Ask(user, 10, deny=d))
            e, _ = exact.serve(online, None, Ask(user, 10, deny=d))
            assert a.items == e.items and a.source == e.source, user
            assert np.allclose(a.scores, e.scores, rtol=1e-6, atol=1e-9)
    assert approx.retrieval.builds == 1 and exact.retrieval.builds == 0


def test_candidates_keep_ignored_showings_last_and_score_few_allowed_items_exactly():
    online, user = learned(), "u3"
    approx = recipe(RetrievalConfig(exact_below=0, probe=4, background=False))
    exact = recipe(EXACT)
    shown = exact.serve(online, None, Ask(user, 10))[0].items[:2]
    for item in shown:  # shown three times and ignored: below everything else, in both paths
        for _ in range(3):
            online.feedback.ignore(user, online.item_row(item), online.feedback.now)
    served = approx.serve(online, None, Ask(user, 10))[0].items
    assert served == exact.serve(online, None, Ask(user, 10))[0].items and not set(shown) & set(served)
    few = np.ones(online.n_items, dtype=bool)
    few[[5, 50, 500]] = False  # three allowed items: scored exactly, whatever the cells probed
    listed = approx.serve(online, None, Ask(user, 10, deny=few))[0].items
    assert listed == exact.serve(online, None, Ask(user, 10, deny=few))[0].items and len(listed) == 3


def test_the_index_is_rebuilt_once_learning_or_new_items_call_for_it(online):
    retrieval = Retrieval(RetrievalConfig(exact_below=0, rebuild_events_per_item=2.0, background=True))
    assert retrieval.index_for(online) is None  # the first build runs in a thread: score in full meanwhile
    retrieval.wait()
    index = retrieval.index_for(online)
    assert index is not None and index.n == online.n_items and retrieval.builds == 1
    assert retrieval.index_for(online) is index  # nothing learned since: not due
    assert Retrieval(RetrievalConfig(exact_below=online.n_items + 1)).index_for(online) is None  # small: exact
    grown = learned(events=12_000 + 3 * online.n_items)  # the same stream, longer
    assert grown.n_items - index.n < 1000 and index.due(grown, retrieval.cfg)  # due by what was learned


def test_another_model_is_never_served_from_the_index_of_the_first():
    first, restored = learned(), learned(seed=3)  # a rollback restores a model that numbers items afresh
    retrieval = Retrieval(RetrievalConfig(exact_below=0, background=True))
    retrieval.index_for(first)
    retrieval.wait()
    assert retrieval.index_for(first) is not None
    assert retrieval.index_for(restored) is None  # every item scored until its own index is ready
    retrieval.wait()
    index = retrieval.index_for(restored)
    assert index is not None and index.source() is restored and index.n == restored.n_items
