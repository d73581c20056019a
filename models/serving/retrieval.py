"""Approximate retrieval for large catalogues: an index over the online model's items, from which a request takes
its candidates (`candidates.py` scores them exactly), kept current by rebuilding.

An item's dense online score for a user is `factors·u + bias + popularity_blend·log1p(popularity)`, the inner
product of `[factors, bias + popularity_blend·log1p(popularity)]` with `[u, 1]`: the index is an IVF over those
augmented rows (`ivf.py`). Beside it the index keeps what standardising the dense part over the whole catalogue
needs (the rows' column sums and Gram matrix: a user's mean and variance are two small products) and the most
popular rows (the candidates of a user the model does not know yet).
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.ivf import InvertedLists
from recstream.models.serving.mix import RetrievalConfig

#: most popular rows kept as candidates for every request
POPULAR = 1024


def learned_events(online: OnlineRecommender) -> int:
    return online.events_learned + online.peer_events_learned


@dataclass
class ItemIndex:
    """A snapshot of the first `n` item rows: their IVF cells, their sums for standardising, the popular ones."""

    n: int
    lists: InvertedLists
    #: column sums and Gram matrix of the augmented rows
    col_sum: np.ndarray
    gram: np.ndarray
    popular: np.ndarray
    built_at_events: int
    build_s: float
    #: the model it indexes (a restored or rolled-back model numbers its items afresh)
    source: weakref.ref = field(repr=False, default=lambda: None)

    @classmethod
    def build(cls, online: OnlineRecommender, cfg: RetrievalConfig, rng: np.random.Generator) -> ItemIndex:
        t = time.perf_counter()
        n, events = online.n_items, learned_events(online)
        blocks = [online.dense_rows(np.arange(s, min(s + 65_536, n))) for s in range(0, n, 65_536)]
        col_sum = sum(b.sum(axis=0) for b in blocks)
        gram = sum(b.T @ b for b in blocks)
        x = np.vstack(blocks).astype(np.float32)
        del blocks
        lists = InvertedLists.build(x, max(1, round(cfg.cells_per_sqrt * math.sqrt(n))), rng)
        raw = online.popularity.scores_at(np.arange(n))  # (reads only: a worker learns meanwhile)
        popular = np.argpartition(-raw, POPULAR - 1)[:POPULAR] if n > POPULAR else np.arange(n)
        return cls(n, lists, col_sum, gram, popular.astype(np.int64), events, time.perf_counter() - t,
                   weakref.ref(online))

    def due(self, online: OnlineRecommender, cfg: RetrievalConfig) -> bool:
        """Whether the catalogue or what was learned since the build calls for a new one."""
        n = online.n_items
        if self.source() is not online or n < self.n:
            return True
        return (n - self.n > max(0.02 * self.n, 1000)  # every request scores the new rows: keep them few
                or learned_events(online) - self.built_at_events >= cfg.rebuild_events_per_item * n)

    def dense_moments(self, query: np.ndarray) -> tuple[float, float]:
        """Sum and sum of squares of `query`'s inner products with the snapshot's augmented rows."""
        return float(self.col_sum @ query), float(query @ self.gram @ query)


class Retrieval:
    """The index a recipe serves from: `index_for` gives the current one (None: score every item), starting a
    rebuild when one is due, in a thread or in the caller (`RetrievalConfig.background`)."""

    def __init__(self, cfg: RetrievalConfig | None = None, seed: int | None = 0) -> None:
        self.cfg = cfg or RetrievalConfig()
        self._rng = np.random.default_rng(seed)
        self._index: ItemIndex | None = None
        self._building: threading.Thread | None = None
        self.builds = 0

    def index_for(self, online: OnlineRecommender) -> ItemIndex | None:
        if online.n_items < max(self.cfg.exact_below, 1):
            return None
        index = self._index
        if index is None or index.due(online, self.cfg):
            if not self.cfg.background:
                self._build(online)
                return self._index
            if self._building is None or not self._building.is_alive():
                self._building = threading.Thread(target=self._build, args=(online,), name="retrieval-index",
                                                  daemon=True)
                self._building.start()
            if index is not None and index.source() is not online:
                return None  # another model's rows: score in full until its own index is ready
        return index  # the previous one (or None: score in full) until the new one is ready

    def _build(self, online: OnlineRecommender) -> None:
        self._index = ItemIndex.build(online, self.cfg, self._rng)
        self.builds += 1

    def state(self) -> dict:
        """For /healthz: whether requests score candidates, and the index they come from."""
        index = self._index
        return {"exact_below_items": self.cfg.exact_below, "builds": self.builds,
                "building": self._building is not None and self._building.is_alive(),
                "index": None if index is None else {"items": index.n, "cells": len(index.lists.centroids),
                                                     "build_s": round(index.build_s, 2),
                                                     "built_at_events": index.built_at_events}}

    def wait(self) -> None:
        """Until a build under way has finished (benches, tests)."""
        if self._building is not None:
            self._building.join()
