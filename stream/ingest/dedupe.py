"""A bounded memory of recently seen event ids: decides what to learn without waiting for the database."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


class RecentIds:
    """Remembers at least the last `capacity` ids (up to 2x), in two generations so eviction is O(1).

    >>> r = RecentIds(capacity=2)
    >>> r.add_new(["a", "b", "a"]), r.add_new(["b", "c"])
    (['a', 'b'], ['c'])
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._current: set[Hashable] = set()
        self._previous: set[Hashable] = set()

    def add_new(self, ids: Sequence[Hashable]) -> list[Hashable]:
        """Record `ids`; return those not seen before, in order, each once."""
        batch = set(ids)
        if (len(batch) == len(ids) and len(self._current) + len(batch) < self.capacity
                and batch.isdisjoint(self._current) and batch.isdisjoint(self._previous)):
            self._current |= batch  # the usual batch: all new, no rotation (set operations, no Python loop)
            return list(ids)
        new = []
        for i in ids:
            if i in self._current or i in self._previous:
                continue
            self._current.add(i)
            new.append(i)
            if len(self._current) >= self.capacity:
                self._previous, self._current = self._current, set()
        return new
