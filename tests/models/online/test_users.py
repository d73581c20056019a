"""Cold users evicted from memory and readmitted (recommender.evict / readmit, users.py): a learner that evicts
idle users and takes them back at their next event learns and serves exactly what one that never evicted does."""

import pickle

import numpy as np
import pytest

from recstream.models.data.interaction import Interaction
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.errors import ArtefactError
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.online.users import UserState, evict, idle_users, readmit


def learner() -> OnlineRecommender:
    return OnlineRecommender(OnlineConfig(n_factors=8, negatives=2, prequential_sample=0.2, max_seen_per_user=30))


def test_eviction_and_readmission_give_the_same_lists_as_never_evicting():
    events = list(generate(SyntheticSpec(users=300, items=200, events=12_000, seed=3)))
    kept, evicting = learner(), learner()
    stored: dict[str, bytes] = {}
    evictions = 0
    for start in range(0, len(events), 200):
        chunk = events[start:start + 200]
        kept.learn(chunk)
        for user in {e.user_id for e in chunk} & stored.keys():  # as the worker: back before its event is learned
            readmit(evicting, user, UserState.from_bytes(stored.pop(user)))
        evicting.learn(chunk)
        for user in idle_users(evicting, chunk[-1].ts - 5.0, limit=1_000):
            stored[user] = evict(evicting, user).to_bytes()
            evictions += 1
        assert evicting.n_users == kept.n_users - len(stored)
    assert evictions > 500 and stored  # users left and came back many times; some are out at the end
    assert kept.prequential.recall_at_10 == evicting.prequential.recall_at_10
    for user in sorted({e.user_id for e in events}):
        if user in stored:
            assert not evicting.is_personal(user)  # out of memory: it would be served popular items
            readmit(evicting, user, UserState.from_bytes(stored.pop(user)))
        want, got = kept.recommend(user, k=20), evicting.recommend(user, k=20)
        assert got == want
        assert evicting.recent_items(user, 5) == kept.recent_items(user, 5)


def test_freed_rows_are_reused_so_memory_is_bounded_by_the_users_held():
    rec = learner()
    for wave in range(5):  # 5 waves of 100 new users, each evicted before the next
        rec.learn([Interaction(f"e{wave}-{u}-{i}", f"w{wave}u{u}", f"i{i}", "click", None, wave * 100.0 + i)
                   for u in range(100) for i in range(3)], evaluate=False)
        for user in idle_users(rec, wave * 100.0 + 10, limit=1_000):
            evict(rec, user)
    assert rec.n_users == 0
    assert len(rec.user_ids) == 100  # the learner's user rows: one wave's
    assert len(rec.cooccurrence.user_row) == 0 and rec.cooccurrence.users_used == 100


def test_a_checkpoint_taken_after_evictions_keeps_every_held_user_and_the_reused_rows():
    from recstream.models.online.legacy import loads

    rec = learner()
    rec.learn(list(generate(SyntheticSpec(users=200, items=100, events=3_000, seed=5))))
    for user in idle_users(rec, rec.seen.latest_ts() - 5.0, limit=1_000)[::2]:  # holes all over the rows
        evict(rec, user)
    rows = len(rec.user_ids)
    rec.learn([Interaction("n1", "newcomer", "i1", "click", None, 1e10)])  # takes a freed row
    copy = loads(pickle.dumps(rec))
    held = [u for u in rec.user_ids if u is not None]
    assert len(rec.user_ids) == rows and len(held) < rows  # a row reused, holes left
    assert len(held) == rec.n_users == copy.n_users
    for user in held:
        assert copy.recommend(user, k=10) == rec.recommend(user, k=10)
        assert copy.recent_items(user, 5) == rec.recent_items(user, 5)


def test_a_readmitted_user_that_was_learned_again_meanwhile_keeps_what_memory_holds():
    rec = learner()
    rec.learn([Interaction("e1", "me", "i1", "click", None, 1.0), Interaction("e2", "x", "i2", "click", None, 1.0)])
    old = evict(rec, "me")
    rec.learn([Interaction("e3", "me", "i2", "click", None, 2.0)])
    readmit(rec, "me", old)
    assert rec.recent_items("me", 5) == ["i2"]


def test_a_stored_state_that_is_not_one_is_refused_clearly():
    with pytest.raises(ArtefactError, match="not one this version wrote"):
        UserState.from_bytes(b'{"factors": "x"}')
    state = UserState([0.5, -0.25], 0.125, 3, 10.0, ["a", "b"], ["b"])
    assert UserState.from_bytes(state.to_bytes()) == state
    assert np.array(state.factors).dtype == np.float64
