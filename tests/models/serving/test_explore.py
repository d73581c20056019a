"""Exploration keeps the best of the list and gives a share of the slots to the candidates just below the cut."""

import numpy as np

from recstream.models.online.recommender import Recommendation
from recstream.models.serving.explore import explore


def ranked(n: int) -> Recommendation:
    return Recommendation([f"i{r}" for r in range(n)], [float(n - r) for r in range(n)], "personal")


def test_a_share_of_the_slots_goes_to_random_candidates_below_the_cut():
    rng = np.random.default_rng(0)
    drawn = set()
    for _ in range(200):
        got = explore(ranked(40), 10, 0.2, rng).items
        assert len(got) == len(set(got)) == 10 and got[:8] == [f"i{r}" for r in range(8)]
        assert all(int(i[1:]) >= 8 for i in got[8:])
        drawn.update(got[8:])
    assert len(drawn) > 25  # spread over the pool, not always the next two


def test_no_share_or_no_pool_leaves_the_top_k():
    rng = np.random.default_rng(0)
    assert explore(ranked(40), 10, 0.0, rng).items == [f"i{r}" for r in range(10)]
    assert explore(ranked(10), 10, 0.2, rng).items == [f"i{r}" for r in range(10)]  # nothing below the cut
