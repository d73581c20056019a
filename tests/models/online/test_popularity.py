import numpy as np

from recstream.models.online.popularity import DecayedPopularity


def test_recent_events_outweigh_old_ones():
    p = DecayedPopularity(half_life=100.0)
    p.add(np.array([0, 0, 0]), np.ones(3), np.array([0.0, 1.0, 2.0]))  # item 0: three old events
    p.add(np.array([1, 1]), np.ones(2), np.array([300.0, 300.0]))  # item 1: two recent ones
    s = p.scores(2)
    assert s[1] > s[0]
    assert s[0] == np.float64(3 * 2 ** -3) or abs(s[0] - 3 * 2 ** (-(300 - 1) / 100)) < 0.01


def test_rebasing_over_long_gaps_keeps_order_and_stays_finite():
    p = DecayedPopularity(half_life=1.0)
    p.add(np.array([0]), np.array([5.0]), np.array([0.0]))
    p.add(np.array([1]), np.array([1.0]), np.array([2000.0]))  # 2000 half-lives later: forces a rebase
    p.add(np.array([2]), np.array([2.0]), np.array([2000.0]))
    s = p.scores(3)
    assert np.isfinite(s).all() and s[2] > s[1] > s[0]
