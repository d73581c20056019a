"""Item co-occurrence: compiled counts equal a plain definition; scores; what it does to recommendations."""

import pickle
from collections import Counter

import numpy as np
import pytest

from recstream.models.data.interaction import Interaction
from recstream.models.online.config import OnlineConfig
from recstream.models.online.cooccurrence import CoOccurrence
from recstream.models.online.recommender import OnlineRecommender


def reference(events, window: int, neighbours: int, near_decay: float = 0.5, successor_slots: int | None = None):
    """The definition, in plain Python: per positive event, pair the item both ways with the user's window
    (unless it is already there: then it only becomes the newest), space-saving slots per item; each slot's
    near count adds near_decay^k for a pair k steps apart less one, and starts afresh when its key changes."""
    slots: dict[int, list[list]] = {}
    successors: dict[int, list[list]] = {}
    recent: dict[str, list[int]] = {}
    count: Counter = Counter()

    def add(row: int, key: int, w: float, table: dict = slots) -> None:
        entries = table.setdefault(row, [])
        cap = neighbours if table is slots else (successor_slots or neighbours)
        for entry in entries:
            if entry[0] == key:
                entry[1] += 1
                entry[3] += w
                return
        if len(entries) < cap:
            entries.append([key, 1, 0, w])
            return
        low = min(range(len(entries)), key=lambda s: entries[s][1])  # the first of the weakest
        c = entries[low][1]
        entries[low] = [key, c + 1, c, w]

    for user, item, positive in events:
        if not positive:
            continue
        count[item] += 1
        w = recent.setdefault(user, [])
        if w and w[-1] != item:  # what came right after the newest item (not itself)
            add(w[-1], item, 0.0, successors)
        if item in w:
            w.remove(item)
        else:
            for p, other in enumerate(w):  # oldest first
                add(item, other, near_decay ** (len(w) - 1 - p))
                add(other, item, near_decay ** (len(w) - 1 - p))
            if len(w) == window:
                w.pop(0)
        w.append(item)
    return slots, recent, count, successors


def random_stream(n: int, users: int, items: int, seed: int):
    rng = np.random.default_rng(seed)
    # Skewed items (some companions far more frequent than others) and ~20% non-positive events.
    item = np.minimum(rng.zipf(1.5, size=n) - 1, items - 1)
    return [(f"u{u}", int(i), bool(p)) for u, i, p in
            zip(rng.integers(0, users, size=n), item, rng.random(n) > 0.2)]


def learned(events, window: int, neighbours: int, chunk: int = 37, near_decay: float = 0.5,
            successors: int | None = None) -> CoOccurrence:
    co = CoOccurrence(window=window, neighbours=neighbours, near_decay=near_decay, successors=successors or neighbours)
    for k in range(0, len(events), chunk):
        part = events[k:k + chunk]
        co.learn([u for u, _, _ in part], [i for _, i, _ in part], [p for _, _, p in part])
    return co


@pytest.mark.parametrize("window,neighbours,users,items,near_decay",  # dyadic decays: float32 sums stay exact
                         [(3, 4, 40, 300, 0.5), (10, 64, 40, 300, 0.5), (1, 2, 40, 300, 0.5),
                          (4, 8, 3000, 2500, 0.5),  # past the initial capacities
                          (10, 8, 40, 300, 1.0), (4, 64, 40, 300, 0.25)])
def test_compiled_counts_equal_the_definition(window, neighbours, users, items, near_decay):
    events = random_stream(12_000, users=users, items=items, seed=window)
    successor_slots = max(neighbours // 2, 1)  # successors keep their own number of slots
    co = learned(events, window, neighbours, near_decay=near_decay, successors=successor_slots)
    slots, recent, count, successors = reference(events, window, neighbours, near_decay, successor_slots)
    assert len(recent) > 1024 or users < 1024
    for row in range(items):
        want = slots.get(row, [])
        got = [[int(k), float(c), float(e), float(n)]
               for k, c, e, n in zip(co.nbr[row], co.cnt[row], co.err[row], co.near[row]) if k >= 0]
        assert got == [[k, float(c), float(e), float(n)] for k, c, e, n in want], row
        got_next = [[int(k), float(c), float(e)] for k, c, e in zip(co.nxt[row], co.nxt_cnt[row], co.nxt_err[row])
                    if k >= 0]
        assert got_next == [[k, float(c), float(e)] for k, c, e, _ in successors.get(row, [])], row
        assert co.item_count[row] == count[row]
    for user, kept in recent.items():
        assert co.window_of(user).tolist() == kept


def test_counts_are_exact_while_every_companion_has_a_slot():
    events = random_stream(3000, users=30, items=40, seed=5)
    co = learned(events, window=4, neighbours=40)
    truth: Counter = Counter()
    recent: dict[str, list[int]] = {}
    for user, item, positive in events:
        w = recent.setdefault(user, [])
        if not positive:
            continue
        if item in w:
            w.remove(item)
        else:
            for other in w:
                truth[item, other] += 1
                truth[other, item] += 1
            w[:] = w[-3:]
        w.append(item)
    assert not co.err.any()
    stored = {(row, int(k)): float(c) for row in range(40) for k, c in zip(co.nbr[row], co.cnt[row]) if k >= 0}
    assert stored == {pair: float(c) for pair, c in truth.items()}


def test_bounded_slots_keep_the_frequent_companions_and_bound_every_count():
    """Space-saving's guarantees per item: a companion counted more than total/slots times has a slot, and
    every stored count overstates by at most its recorded error."""
    events = random_stream(20_000, users=50, items=400, seed=9)
    co = learned(events, window=5, neighbours=8)
    exact = learned(events, window=5, neighbours=400)
    for row in range(400):
        truth = {int(k): float(c) for k, c in zip(exact.nbr[row], exact.cnt[row]) if k >= 0}
        total = sum(truth.values())
        kept = {int(k): (float(c), float(e)) for k, c, e in zip(co.nbr[row], co.cnt[row], co.err[row]) if k >= 0}
        for key, (c, e) in kept.items():
            assert c - e <= truth[key] <= c
        for key, c in truth.items():
            if c > total / 8:
                assert key in kept, (row, key)


def test_scores_equal_the_numpy_definition():
    events = random_stream(5000, users=20, items=200, seed=2)
    co = learned(events, window=6, neighbours=16)
    n = 180  # a ranking that does not cover the newest items yet
    for user in ("u0", "u3", "u7"):
        window = co.window_of(user).tolist()
        weights = co.decay ** np.arange(len(window))[::-1]
        total = np.zeros(200)
        for w, row in zip(weights, window):
            for k, c, e in zip(co.nbr[row], co.cnt[row], co.err[row]):
                if k >= 0:
                    total[k] += w * max(float(c) - float(e), 0.0)
        want = np.zeros(n)
        touched = total[:n] > 0
        want[touched] = 2.5 * np.log1p(total[:n][touched] / np.sqrt(np.maximum(co.item_count[:n][touched], 1)))
        got = np.zeros(n)
        co.add_scores(got, user, 2.5)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert touched.any()
    nobody = np.zeros(n)
    co.add_scores(nobody, "nobody", 1.0)
    assert not nobody.any()


def buys(user: str, items: list[str], t0: float) -> list[Interaction]:
    return [Interaction(f"{user}-{i}", user, item, "purchase", None, t0 + i) for i, item in enumerate(items)]


def test_a_users_latest_item_brings_its_companions_first():
    """Five users buy A then B; eight buy only C, so C is more popular than B. A new user who buys A is
    shown B first with co-occurrence on, C first with it off."""
    events = [e for u in range(5) for e in buys(f"pair{u}", ["A", "B"], 1.7e9 + 10 * u)]
    events += [e for u in range(8) for e in buys(f"solo{u}", ["C"], 1.7e9 + 100 + u)]
    events += [Interaction(f"filler{k}", f"filler{k}", f"F{k}", "view", None, 1.7e9 + 200 + k) for k in range(20)]
    events += buys("new", ["A"], 1.7e9 + 500)
    top = {}
    for weight in (2.0, 0.0):
        rec = OnlineRecommender(OnlineConfig(n_factors=2, negatives=0, learning_rate=1e-6, seed=3,
                                             cooccurrence_weight=weight))
        rec.learn(events)
        top[weight] = rec.recommend("new", 3).items
    assert top[2.0][0] == "B" and top[0.0][0] == "C"


def test_similar_items_read_counts_that_weigh_a_pair_by_how_close_it_was():
    """Ten users buy C, three others, then A (C four steps before A); six buy A then B at once. Counting every
    pair alike, C goes with A most; weighing pairs by closeness (what "more like this" reads), B does."""
    users = [(f"far{u}", [0, 10 + 3 * u, 11 + 3 * u, 12 + 3 * u, 1]) for u in range(10)]  # 0 = C, 1 = A, 2 = B
    users += [(f"near{u}", [1, 2]) for u in range(6)]
    first = {}
    for near_decay in (0.5, 1.0):
        co = CoOccurrence(window=10, neighbours=64, near_decay=near_decay)
        for user, items in users:
            co.learn([user] * len(items), items, [True] * len(items))
        first[near_decay] = co.companions(1, 0.0)[0][0]
        assert co.cnt[1][co.nbr[1] == 0][0] == 10 and co.cnt[1][co.nbr[1] == 2][0] == 6  # plain counts unchanged
    assert first == {0.5: 2, 1.0: 0}


def test_a_checkpoint_from_before_near_counts_reads_its_plain_ones():
    co = learned(random_stream(3000, users=30, items=100, seed=8), window=5, neighbours=8)
    state = co.__getstate__()
    del state["near"], state["near_decay"]
    old = object.__new__(CoOccurrence)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.near, old.cnt - old.err)
    rows, scores = old.companions(0, 0.0)
    plain = (co.cnt[0] - co.err[0])[co.nbr[0] >= 0]
    assert len(rows) and scores.tolist() == sorted(plain[plain > 0].tolist(), reverse=True)
    old.learn(["u1"], [3], [True])  # and keeps learning


def test_a_pickled_recommender_keeps_its_counts_and_windows():
    events = [Interaction(f"e{k}", f"u{k % 7}", f"i{k % 23}", "click", None, 1.7e9 + k) for k in range(600)]
    rec = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0))
    rec.learn(events[:400])
    clone = pickle.loads(pickle.dumps(rec))
    for r in (rec, clone):
        r.learn(events[400:])
    for user in ("u1", "u5"):
        np.testing.assert_array_equal(clone.scores(user), rec.scores(user))
        assert clone.cooccurrence.window_of(user).tolist() == rec.cooccurrence.window_of(user).tolist()


def test_a_pickle_keeps_the_rows_in_use_and_learning_grows_them_again():
    co = learned(random_stream(4000, users=30, items=100, seed=4), window=5, neighbours=8)
    clone = pickle.loads(pickle.dumps(co))
    assert len(clone.item_count) == 100 and len(clone.recent) == 30  # not the spare capacity of 1,024
    more = random_stream(3000, users=2000, items=300, seed=6)
    for c in (co, clone):
        c.learn([u for u, _, _ in more], [i for _, i, _ in more], [p for _, _, p in more])
    np.testing.assert_array_equal(clone.nbr[:300], co.nbr[:300])
    np.testing.assert_array_equal(clone.cnt[:300], co.cnt[:300])
    assert clone.window_of("u1999").tolist() == co.window_of("u1999").tolist()


def test_a_pickle_of_counts_that_never_learned_serves_and_learns():
    empty = pickle.loads(pickle.dumps(CoOccurrence()))
    out = np.zeros(3)
    empty.add_scores(out, "nobody", 1.0)
    assert empty.window_of("nobody").tolist() == [] and not out.any()
    empty.learn(["u", "u"], [0, 2], [True, True])
    assert empty.window_of("u").tolist() == [0, 2]


def test_a_checkpoint_from_before_cooccurrence_loads_and_starts_counting():
    rec = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0))
    rec.learn([Interaction(f"e{k}", f"u{k % 3}", f"i{k % 5}", "click", None, 1.7e9 + k) for k in range(50)])
    state = rec.__getstate__()
    del state["cooccurrence"]
    config = state["config"]
    # A config pickled before the co-occurrence fields existed has none in its __dict__.
    old = object.__new__(OnlineConfig)
    object.__setattr__(old, "__dict__", {k: v for k, v in vars(config).items() if not k.startswith("cooccurrence")})
    state["config"] = old
    loaded = object.__new__(OnlineRecommender)
    loaded.__setstate__(state)
    assert loaded.cooccurrence is not None and not loaded.cooccurrence.user_row
    loaded.learn(buys("u9", ["i1", "i2"], 1.7e9 + 100))
    assert loaded.cooccurrence.window_of("u9").tolist() == [loaded._item_row["i1"], loaded._item_row["i2"]]


@pytest.mark.parametrize("bad", [{"cooccurrence_weight": -1.0}, {"cooccurrence_window": 0},
                                 {"cooccurrence_neighbours": 0}, {"cooccurrence_decay": 0.0},
                                 {"cooccurrence_decay": 1.5}, {"similar_pair_decay": 0.0},
                                 {"similar_pair_decay": 1.5}])
def test_bad_cooccurrence_settings_are_named(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        OnlineConfig(**bad)


def test_weight_zero_keeps_no_counts():
    rec = OnlineRecommender(OnlineConfig(cooccurrence_weight=0.0))
    rec.learn(buys("u", ["a", "b"], 1.7e9))
    assert rec.cooccurrence is None


def test_warm_up_compiles_what_learning_and_serving_call():
    """A signature warm_up() misses would be compiled on a worker's first batch or request (~1 s)."""
    from recstream.models.online import kernels

    kernels.warm_up()
    before = (len(kernels.cooccur_learn.signatures), len(kernels.cooccur_scores.signatures))
    rec = OnlineRecommender(OnlineConfig(n_factors=4, prequential_sample=1.0))
    rec.learn([Interaction(f"e{k}", f"u{k % 9}", f"i{k % 31}", "click", None, 1.7e9 + k) for k in range(300)])
    rec.recommend("u1", 5)
    assert (len(kernels.cooccur_learn.signatures), len(kernels.cooccur_scores.signatures)) == before


def test_companion_counts_fade_with_a_half_life_and_never_without_one():
    from recstream.models.online.cooccurrence import CoOccurrence

    fading, keeping = CoOccurrence(window=2, half_life=8), CoOccurrence(window=2)
    for co in (fading, keeping):
        co.learn(["u"] * 8, [0, 1] * 4, [True] * 8)  # 8 positives: one half-life
    assert keeping.cnt.sum() > 0 and (fading.nbr == keeping.nbr).all()
    assert np.allclose(fading.cnt, keeping.cnt * 0.5) and np.allclose(fading.item_count, keeping.item_count * 0.5)
    fading.learn(["u"], [0], [True])  # less than a quarter half-life more: not aged yet
    assert fading._unaged == 1


def test_a_drop_in_how_often_new_pairs_were_already_companions_is_a_shift_and_a_rise_is_not():
    import numpy as np

    from recstream.models.online.shift import ShiftWatch

    rng = np.random.default_rng(0)
    watch = ShiftWatch()
    for level in (0.5, 0.8):  # stationary, then the counts catching up: no shift
        assert not any(watch.observe(20, int(rng.binomial(20, level))) for _ in range(150))
    found = [watch.observe(20, int(rng.binomial(20, 0.3))) for _ in range(150)]
    assert sum(found) == 1 and found.index(True) < 20 and watch.shifts == 1


def test_a_taste_shift_fades_the_companion_counts_once_and_a_stationary_stream_never():
    from recstream.models.data.synthetic import SyntheticSpec, generate
    from recstream.models.online.config import OnlineConfig
    from recstream.models.online.recommender import OnlineRecommender

    for shift_at, shifts in ((20_000, 1), (None, 0)):
        learner = OnlineRecommender(OnlineConfig(prequential_sample=0))
        events = list(generate(SyntheticSpec(events=40_000, seed=7, shift_at=shift_at)))
        total = []
        for i in range(0, len(events), 10):
            learner.learn(events[i:i + 10])
            total.append(float(learner.cooccurrence.cnt.sum()))
        assert learner.cooccurrence.shifts == shifts
        if shifts:
            drops = [k for k in range(1, len(total)) if total[k] < 0.5 * total[k - 1]]
            assert len(drops) == 1 and 20_000 < drops[0] * 10 < 24_000  # faded once, soon after the shift


def test_a_transition_is_learned_and_served_after_the_last_item_only():
    co = CoOccurrence(window=10, neighbours=8)
    # three users go a -> b; one goes a -> c; one goes b -> d
    users = ["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4", "u5", "u5"]
    items = [0, 1, 0, 1, 0, 1, 0, 2, 1, 3]
    co.learn(users, items, [True] * len(users))
    out = np.zeros(5)
    co.learn(["me"], [0], [True])
    co.add_successor_scores(out, "me", 1.0)
    assert out.tolist() == pytest.approx([0.0, np.log1p(3), np.log1p(1), 0.0, 0.0])  # b, then c; never d
    out[:] = 0.0
    co.learn(["me"], [4], [True])  # the newest item is now 4: nothing ever followed it
    co.add_successor_scores(out, "me", 1.0)
    assert not out.any()
    out[:] = 0.0
    co.add_successor_scores(out, "nobody", 1.0)
    assert not out.any()


def test_a_repeated_click_is_counted_once_in_the_window_and_follows_nothing_of_its_own():
    co = CoOccurrence(window=10, neighbours=8)
    co.learn(["u"] * 5, [0, 1, 1, 1, 2], [True] * 5)  # 1 clicked three times in a row
    assert co.window_of("u").tolist() == [0, 1, 2]
    assert co.cnt[0][co.nbr[0] == 1].tolist() == [1.0]  # the pair 0-1 counted once
    assert co.nxt[1][co.nxt[1] >= 0].tolist() == [2]  # 1 was followed by 2, never by itself
    assert co.nxt_cnt[0][co.nxt[0] == 1].tolist() == [1.0]


def test_a_checkpoint_from_before_successors_starts_counting_them():
    co = learned(random_stream(3000, users=30, items=100, seed=8), window=5, neighbours=8)
    state = co.__getstate__()
    for name in ("nxt", "nxt_cnt", "nxt_err"):
        del state[name]
    old = object.__new__(CoOccurrence)
    old.__setstate__(state)
    assert (old.nxt == -1).all() and old.nxt.shape == old.nbr.shape
    old.learn(["u1", "u1"], [3, 4], [True, True])
    assert 4 in old.nxt[3]
