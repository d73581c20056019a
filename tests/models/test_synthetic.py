from collections import Counter

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate


def test_deterministic_ordered_and_unique():
    a = list(generate(SyntheticSpec(events=3000, seed=5)))
    b = list(generate(SyntheticSpec(events=3000, seed=5)))
    assert a == b
    assert all(x.ts <= y.ts for x, y in zip(a, a[1:]))
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
