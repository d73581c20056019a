import itertools
from collections import Counter

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate


def test_deterministic_ordered_and_unique():
    a = list(generate(SyntheticSpec(events=3000, seed=5)))
    b = list(generate(SyntheticSpec(events=3000, seed=5)))
    assert a == b
    assert all(x.ts <= y.ts for x, y in itertools.pairwise(a))
    assert len({e.event_id for e in a}) == 3000
    assert all(e.value is not None for e in a if e.type == "rating")


def test_preference_shift_changes_what_users_pick():
    """Both the population's hits and each user's genres change; without a shift they stay."""
    spec = SyntheticSpec(users=200, items=400, genres=8, events=20_000, seed=2, drift=0.0, shift_at=10_000)
    events = list(generate(spec))
    before = Counter(e.item_id for e in events[:10_000])
    after = Counter(e.item_id for e in events[10_000:])
    top_before = {i for i, _ in before.most_common(20)}
    top_after = {i for i, _ in after.most_common(20)}
    assert len(top_before & top_after) < 10
    steady = list(generate(SyntheticSpec(users=200, items=400, genres=8, events=20_000, seed=2, drift=0.0)))
    steady_before = {i for i, _ in Counter(e.item_id for e in steady[:10_000]).most_common(20)}
    steady_after = {i for i, _ in Counter(e.item_id for e in steady[10_000:]).most_common(20)}
    assert len(steady_before & steady_after) >= 15


def test_bad_specs_are_named():
    with pytest.raises(ValueError, match="shift_at"):
        SyntheticSpec(events=10, shift_at=11)
    with pytest.raises(ValueError, match="genres"):
        SyntheticSpec(items=3, genres=5)


def test_sessions_are_anonymous_short_interleaved_and_follow_the_last_item():
    spec = SyntheticSpec(events=20_000, sessions=True, seed=5)
    events = list(generate(spec))
    assert len(events) == 20_000 and all(e.user_id.startswith("s") and e.type == "click" for e in events)
    lengths = Counter(e.user_id for e in events)
    assert 3 < sum(lengths.values()) / len(lengths) < 6  # a few clicks each
    # Interleaved: within any 100 events, several sessions are open at once.
    assert len({e.user_id for e in events[5_000:5_100]}) > 20
    # The next click mostly repeats a transition seen before: what follows what is learnable.
    last: dict[str, str] = {}
    pairs: Counter = Counter()
    for e in events:
        if e.user_id in last:
            pairs[(last[e.user_id], e.item_id)] += 1
        last[e.user_id] = e.item_id
    assert sum(n for n in pairs.values() if n > 1) > 0.3 * sum(pairs.values())
    assert list(generate(spec))[:50] == events[:50]  # deterministic
