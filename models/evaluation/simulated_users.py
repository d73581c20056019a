"""Simulated users for the closed loop: hidden tastes that drift (and can shift at once), who browse on their own
and react to the lists they are shown — so what a recommender serves changes what it learns next.

A user's affinity for an item is the dot product of hidden vectors (users: a mix of a few genres; items: one
genre each, plus a per-item appeal). Shown a list, the user looks at each position with a probability that falls
with the position, and clicks an item looked at with `sigmoid(sharpness * (affinity - threshold))`; a click
becomes a purchase with `purchase_rate`. Seeded: the same spec gives the same users, items and reactions to the
same lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UserSpec:
    users: int = 300
    items: int = 2000
    genres: int = 20
    #: genres each user likes (of `genres`), mixed with random weights
    tastes: int = 2
    #: how far each user's taste wanders per round (0 = fixed)
    drift: float = 0.02
    #: chance of looking at position p (0-based) = 1 / (1 + position_decay * p)
    position_decay: float = 0.35
    sharpness: float = 6.0
    threshold: float = 0.55
    purchase_rate: float = 0.3
    seed: int = 7


class SimulatedUsers:
    def __init__(self, spec: UserSpec) -> None:
        self.spec = s = spec
        self.rng = np.random.default_rng(s.seed)
        self.item_genre = self.rng.integers(0, s.genres, s.items)
        self.item_appeal = self.rng.uniform(0.6, 1.0, s.items)
        self.taste = self._draw_tastes()
        self.ids = [f"item-{i}" for i in range(s.items)]
        self.row = {name: i for i, name in enumerate(self.ids)}

    def _draw_tastes(self) -> np.ndarray:
        s = self.spec
        taste = np.zeros((s.users, s.genres))
        for u in range(s.users):
            genres = self.rng.choice(s.genres, s.tastes, replace=False)
            taste[u, genres] = self.rng.dirichlet(np.ones(s.tastes))
        return taste / taste.max(axis=1, keepdims=True)

    def affinity(self, user: int) -> np.ndarray:
        """How much `user` likes each item now (0..1)."""
        return self.taste[user, self.item_genre] * self.item_appeal

    def step(self) -> None:
        """A round passes: tastes wander a little."""
        if self.spec.drift > 0:
            self.taste = np.clip(self.taste + self.rng.normal(0, self.spec.drift, self.taste.shape), 0, None)
            self.taste /= np.maximum(self.taste.max(axis=1, keepdims=True), 1e-9)

    def shift(self) -> None:
        """Every user's taste is re-drawn at once (a season change, a new audience)."""
        self.taste = self._draw_tastes()

    def browse(self, user: int) -> str:
        """An item the user finds on their own (search, a category page), drawn by affinity."""
        a = self.affinity(user) ** 4
        return self.ids[int(self.rng.choice(len(a), p=a / a.sum()))]

    def react(self, user: int, shown: list[str]) -> list[tuple[int, str]]:
        """(position, "click" | "purchase") for the items of `shown` the user acts on."""
        s, a = self.spec, self.affinity(user)
        out = []
        for pos, item in enumerate(shown):
            row = self.row.get(item)
            if row is None or self.rng.random() > 1.0 / (1.0 + s.position_decay * pos):
                continue
            if self.rng.random() < 1.0 / (1.0 + np.exp(-s.sharpness * (a[row] - s.threshold))):
                out.append((pos, "purchase" if self.rng.random() < s.purchase_rate else "click"))
        return out
