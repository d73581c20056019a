"""Item-side deltas: what an owner counted, summed, encoded, and added by a peer, equals the owner's counts."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from recstream.models.data.interaction import Interaction
from recstream.models.errors import DeltaFormatError
from recstream.models.online.config import OnlineConfig
from recstream.models.online.delta_codec import Part, decode, encode
from recstream.models.online.item_deltas import ItemSideLog, apply_delta
from recstream.models.online.recommender import OnlineRecommender

T = 1_767_225_600.0
CFG = OnlineConfig(n_factors=4, negatives=0, prequential_sample=0.0, cooccurrence_neighbours=64,
                   successor_neighbours=64)


def stream(n: int, seed: int) -> list[Interaction]:
    rng = np.random.default_rng(seed)
    kinds = ("view", "click", "purchase")
    return [Interaction(f"e{seed}-{k}", f"u{rng.integers(30)}", f"i{rng.integers(40)}", kinds[rng.integers(3)],
                        None, T + k * 7.0) for k in range(n)]


def companions(rec: OnlineRecommender) -> tuple[dict, dict, dict]:
    """Companion counts, near counts and successor counts per (item id, item id)."""
    co, ids = rec.cooccurrence, rec.item_ids
    cnt, near, nxt = {}, {}, {}
    for r in range(rec.n_items):
        for s in np.flatnonzero(co.nbr[r] >= 0):
            cnt[ids[r], ids[co.nbr[r, s]]] = float(co.cnt[r, s])
            near[ids[r], ids[co.nbr[r, s]]] = round(float(co.near[r, s]), 4)
        for s in np.flatnonzero(co.nxt[r] >= 0):
            nxt[ids[r], ids[co.nxt[r, s]]] = float(co.nxt_cnt[r, s])
    return cnt, near, nxt


def owner_and_peer(events: list[Interaction], chunk: int = 25, max_pairs: int | None = None):
    owner, peer = OnlineRecommender(CFG), OnlineRecommender(CFG)
    owner.item_log = ItemSideLog(CFG.popularity_half_life_s)
    for start in range(0, len(events), chunk):
        owner.learn(events[start:start + chunk], evaluate=False)
        delta = owner.item_log.take(owner.item_ids, {"behaviour:0": start + chunk})
        parts = delta.split(max_pairs) if max_pairs else [delta]
        for k, part in enumerate(parts):
            got, where = decode(encode(part, Part(f"m{start}", k, len(parts))))
            assert where == Part(f"m{start}", k, len(parts)) and got.ends == {"behaviour:0": start + chunk}
            apply_delta(peer, got)
    return owner, peer


@pytest.mark.parametrize("max_pairs", [None, 7])
def test_a_peer_applying_deltas_counts_what_the_owner_counted(max_pairs):
    events = stream(600, seed=3)
    owner, peer = owner_and_peer(events, max_pairs=max_pairs)
    assert companions(peer) == companions(owner)  # no slot overflowed: sums equal counts exactly
    for item in owner.item_ids:
        o, p = owner.item_row(item), peer.item_row(item)
        assert peer.cooccurrence.item_count[p] == owner.cooccurrence.item_count[o]
        assert peer.popularity.scores_at(np.array([p]))[0] == pytest.approx(owner.popularity.scores_at(np.array([o]))[0])
    for item in owner.item_ids:  # the owner's item factors: the same start, its changes added (as float32)
        o, p = owner.item_factors.row[item], peer.item_factors.row[item]
        np.testing.assert_allclose(peer.item_factors.matrix[p], owner.item_factors.matrix[o], atol=1e-5)
        assert peer.item_factors.bias[p] == pytest.approx(owner.item_factors.bias[o], abs=1e-5)
    assert peer.peer_events_learned == 600 and peer.n_users == 0 and not peer.cooccurrence.user_row
    # Ranked the same for a user the peer knows nothing of: popularity alone
    assert peer.recommend("nobody", 10).items == owner.recommend("nobody", 10).items


def test_workers_exchanging_deltas_hold_the_same_item_factors():
    """Each learns its own users; item factors start alike (seeded by the item's name) and each adds the other's
    changes, so both hold one set of item factors: every change made to it, by either."""
    events = stream(2000, seed=5)
    a, b = OnlineRecommender(CFG), OnlineRecommender(CFG)
    for w in (a, b):
        w.item_log = ItemSideLog(CFG.popularity_half_life_s)
    for start in range(0, len(events), 100):
        chunk = events[start:start + 100]
        a.learn([e for e in chunk if int(e.user_id[1:]) % 2 == 0], evaluate=False)
        b.learn([e for e in chunk if int(e.user_id[1:]) % 2 == 1], evaluate=False)
        from_a, from_b = (w.item_log.take(w.item_ids, {}) for w in (a, b))
        apply_delta(b, from_a)
        apply_delta(a, from_b)
    assert sorted(a.item_ids) == sorted(b.item_ids)
    for item in a.item_ids:
        np.testing.assert_allclose(a.item_factors.matrix[a.item_row(item)], b.item_factors.matrix[b.item_row(item)],
                                   atol=1e-4)
    assert a.n_users + b.n_users == 30 and not set(a.user_ids) & set(b.user_ids)


def test_a_delta_carries_pair_sums_not_one_row_per_count():
    owner = OnlineRecommender(CFG)
    owner.item_log = ItemSideLog(CFG.popularity_half_life_s)
    # 20 users each buy a then b: one pair, one successor, counted 20 times
    owner.learn([Interaction(f"e{u}{k}", f"u{u}", item, "purchase", None, T + u)
                 for u in range(20) for k, item in enumerate("ab")], evaluate=False)
    delta = owner.item_log.take(owner.item_ids, {})
    assert sorted(delta.items) == ["a", "b"] and delta.events == 40 and delta.positives == 40
    assert len(delta.pairs) == 1 and delta.pair_counts.tolist() == [20.0]
    assert [delta.items[i] for i in delta.nexts[0]] == ["a", "b"] and delta.next_counts.tolist() == [20.0]
    assert owner.item_log.take(owner.item_ids, {}) is None  # taken: the log starts afresh


def test_a_peer_without_cooccurrence_takes_popularity_only():
    owner, peer = OnlineRecommender(CFG), OnlineRecommender(OnlineConfig(n_factors=4, cooccurrence_weight=0.0))
    owner.item_log = ItemSideLog(CFG.popularity_half_life_s)
    owner.learn(stream(100, seed=1), evaluate=False)
    apply_delta(peer, owner.item_log.take(owner.item_ids, {}))
    assert peer.recommend("nobody", 5).items == owner.recommend("nobody", 5).items


def _frame(header: dict, arrays: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return b"RSD1" + struct.pack("<I", len(head)) + head + arrays


GOOD = {"items": ["a"], "events": 1, "positives": 1, "t0": T, "ends": {}, "learned_at": 0.0, "message": "m",
        "part": 0, "parts": 1, "n": 1, "m": 0, "k": 0, "w": 0, "f": 0, "dim": 0}
ONE_POP = np.array([0], "<i4").tobytes() + np.array([1.0], "<f8").tobytes() + np.array([1.0], "<f4").tobytes()


@pytest.mark.parametrize("data, why", [
    (b"{}", "no RSD1"),
    (b"RSD1" + struct.pack("<I", 2) + b"[]", "not an object"),
    (_frame({**GOOD, "events": -1}, ONE_POP), "non-negative integers"),
    (_frame({**GOOD, "items": [1]}, ONE_POP), "list of strings"),
    (_frame(GOOD, ONE_POP[:-2]), "ends inside"),
    (_frame(GOOD, ONE_POP + b"x"), "1 bytes after"),
    (_frame(GOOD, np.array([3], "<i4").tobytes() + ONE_POP[4:]), "beyond its 1 ids"),
    (_frame(GOOD, ONE_POP[:4] + np.array([np.nan], "<f8").tobytes() + ONE_POP[12:]), "finite"),
    (_frame({**GOOD, "part": 1}), "beyond its parts"),
])
def test_a_bad_delta_is_refused_with_a_reason(data, why):
    with pytest.raises(DeltaFormatError, match=why):
        decode(data)
    assert decode(_frame(GOOD, ONE_POP))[0].pop_values.tolist() == [1.0]


def test_a_peer_notices_a_taste_shift_in_the_owners_users():
    """The shift watch of a worker adding deltas sees the owner's pairs: it fades once, soon after the shift."""
    from recstream.models.data.synthetic import SyntheticSpec, generate

    cfg = OnlineConfig(prequential_sample=0)
    for shift_at, shifts in ((20_000, 1), (None, 0)):
        events = list(generate(SyntheticSpec(events=40_000, seed=7, shift_at=shift_at)))
        owner, peer = OnlineRecommender(cfg), OnlineRecommender(cfg)
        owner.item_log = ItemSideLog(cfg.popularity_half_life_s)
        faded_at = None
        for i in range(0, len(events), 10):  # chunks of 10, a delta every 500 events
            owner.learn(events[i:i + 10])
            if i % 500 == 490:
                apply_delta(peer, owner.item_log.take(owner.item_ids, {}))
            if faded_at is None and peer.cooccurrence.shifts:
                faded_at = i
        assert peer.cooccurrence.shifts == shifts == owner.cooccurrence.shifts
        assert shifts == 0 or 20_000 <= faded_at < 25_000


def test_item_factors_of_another_dimension_are_refused():
    owner, other = OnlineRecommender(CFG), OnlineRecommender(OnlineConfig(n_factors=6))
    owner.item_log = ItemSideLog(CFG.popularity_half_life_s)
    owner.learn(stream(50, seed=2), evaluate=False)
    with pytest.raises(DeltaFormatError, match="4 dimensions, this model 6"):
        apply_delta(other, decode(encode(owner.item_log.take(owner.item_ids, {}), Part("m", 0, 1)))[0])
