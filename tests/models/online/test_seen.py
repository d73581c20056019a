"""Seen items in one pooled array (seen.py, pool.py), checked against their definition: an insertion-ordered
dict per user, a repeat moved to the end, the oldest forgotten past the cap, negatives never a seen item."""

import pickle

import numpy as np
import pytest

from recstream.models.data.interaction import Interaction
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.online.seen import SeenItems


def linked(n_users: int, cap: int) -> SeenItems:
    seen = SeenItems(cap)
    seen.link({f"u{a}": a for a in range(n_users)})
    return seen


@pytest.mark.parametrize("cap", [3, 4, 10, 100])
def test_lists_events_and_negatives_equal_the_dict_definition_through_growth_reuse_and_the_cap(cap):
    rng = np.random.default_rng(cap)
    seen, want = linked(60, cap), ({}, {}, [])
    seen.pool = np.zeros(8, dtype=np.int32)  # a small pool: it must grow in the middle of chunks
    for _ in range(30):  # chunks: lists outgrow blocks (freed ones reused), the pool grows, some hit the cap
        n = int(rng.integers(1, 80))
        users = rng.zipf(1.5, n).clip(max=60) - 1
        rows = rng.integers(0, 40, n)
        neg_rows, wants = rng.integers(0, 40, (n, 3)), rng.random(n) < 0.5
        got_e, got_i = seen.learn(users.astype(np.int64), rows.astype(np.int64), np.zeros(n), neg_rows, wants)
        want = by_definition(want, users, rows, cap, neg_rows, wants)
        assert list(zip(got_e.tolist(), got_i.tolist())) == want[2]
    for a in range(60):
        assert seen.rows(f"u{a}").tolist() == list(want[0].get(a, {}))
        assert seen.events_of(f"u{a}") == want[1].get(a, 0)
    assert seen.n_users == len(want[1])
    assert all(len(v) <= cap for v in want[0].values())


def by_definition(state, users, rows, cap, neg_rows, wants):
    """One chunk learned into (lists, events) as dicts; the chunk's negatives."""
    lists, events, _ = state
    negatives = []
    for j, (a, row) in enumerate(zip(users.tolist(), rows.tolist())):
        seen = lists.setdefault(a, {})
        if wants[j]:
            negatives += [(j, r) for r in neg_rows[j].tolist() if r != row and r not in seen]
        seen.pop(row, None)
        seen[row] = None
        if len(seen) > cap:
            del seen[next(iter(seen))]
        events[a] = events.get(a, 0) + 1
    return lists, events, negatives


def test_a_pickled_pool_restores_every_list_packed_and_keeps_learning_the_same():
    rng = np.random.default_rng(1)
    seen = linked(200, 50)
    users, rows = rng.integers(0, 200, 5000), rng.integers(0, 300, 5000)
    seen.learn(users, rows, np.zeros(5000), None, np.zeros(5000, dtype=np.bool_))
    copy = pickle.loads(pickle.dumps(seen))
    copy.link(seen.user_row)
    assert copy.state[0] <= seen.state[0]  # packed: no freed blocks
    more_u, more_r = rng.integers(0, 220, 3000), rng.integers(0, 300, 3000)
    for s in (seen, copy):
        s.user_row.update({f"u{a}": a for a in range(220)})
        s.learn(more_u, more_r, np.zeros(3000), None, np.zeros(3000, dtype=np.bool_))
    for a in range(220):
        assert copy.rows(f"u{a}").tolist() == seen.rows(f"u{a}").tolist()
        assert copy.events_of(f"u{a}") == seen.events_of(f"u{a}")


def test_the_recommender_reads_seen_items_recent_history_and_contains_through_user_ids():
    rec = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0, prequential_sample=0.0, max_seen_per_user=3))
    rec.learn([Interaction(f"e{k}", "me", f"i{k % 5}", "click", None, float(k)) for k in range(7)], evaluate=False)
    # i0..i4, then i0 and i1 again: the last three distinct are i4, i0, i1
    assert rec.recent_items("me", 10) == ["i4", "i0", "i1"]
    assert rec.seen.contains("me", rec.item_row("i1")) and not rec.seen.contains("me", rec.item_row("i2"))
    assert not rec.seen.contains("nobody", 0) and rec.recent_items("nobody", 3) == []
    assert rec.n_users == 1 and rec.is_personal("me") and not rec.is_personal("nobody")
    assert "i1" not in rec.recommend("me", k=5).items
