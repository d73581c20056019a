"""The served list's one recipe: the mix of its parts (tuned from what users pick, or fixed), the blend, filters,
exploration and new-item slots, in that order.

The worker (`WorkerState.recommend`) and the served-quality replay (`models/evaluation/served.py`) both serve
through `ServedRecipe.serve`, and both feed its judge before they learn a chunk: what the bench judges is what a
worker serves, by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator

import numpy as np

from recstream.models.data.interaction import InteractionColumns
from recstream.models.online.recommender import OnlineRecommender, Recommendation
from recstream.models.serving.ask import Ask
from recstream.models.serving.blend_tuner import MixTuner, ServedJudge
from recstream.models.serving.candidates import served_blend
from recstream.models.serving.explore import POOL, explore
from recstream.models.serving.hotswap import LoadedModel
from recstream.models.serving.mix import RecipeConfig, ServedMix
from recstream.models.serving.new_items import NewItemSlots
from recstream.models.serving.retrieval import Retrieval


class ServedRecipe:
    def __init__(self, cfg: RecipeConfig | None = None, seed: int | None = None) -> None:
        self.cfg = cfg = cfg or RecipeConfig()
        self.judge = ServedJudge(MixTuner(cfg.start), cfg.judge_sample, cfg.judge_max_per_s)
        self._rng = np.random.default_rng(seed)
        self._new_items = NewItemSlots()
        self.retrieval = Retrieval(cfg.retrieval, seed)

    @property
    def mix(self) -> ServedMix:
        """The mix served now."""
        return self.judge.tuner.weight if self.cfg.tuned else self.cfg.start

    def serve(self, online: OnlineRecommender, deep: LoadedModel | None, ask: Ask, *, new_key: Hashable = None,
              created_at: Callable[[], dict[str, float]] = dict) -> tuple[Recommendation, bool]:
        """The user's list, and whether the deep model took part: blend, exploration, new-item slots.
        `created_at` gives items' catalogue times for the new-item slots, worked out again when `new_key` changes."""
        mix, share = self.mix, self.cfg.explore_share
        exploring = share > 0 and online.is_personal(ask.user_id)
        index, n_probe = self.retrieval.index_for(online), self.cfg.retrieval.probe

        def rank(a: Ask) -> tuple[Recommendation, bool]:
            return served_blend(online, deep, a, mix, index, n_probe)

        rec, used_deep = rank(ask.but(k=ask.k * POOL) if exploring else ask)
        if exploring:
            rec = explore(rec, ask.k, share, self._rng)
        rec = self._new_items.serve(rec, self.cfg.new_items, ask, key=new_key, created_at=created_at, online=online,
                                    rank=rank)
        return rec, used_deep

    def before_learning(self, online: OnlineRecommender, choose: Callable[[str], LoadedModel | None],
                        chunk: InteractionColumns) -> None:
        """Judge a sample of the chunk's novel positives against what is served now, before it is learned."""
        self.judge.before_learning(online, choose, chunk, lambda: self.mix)

    def judgements(self, online: OnlineRecommender, choose: Callable[[str], LoadedModel | None],
                   chunk: InteractionColumns) -> Iterator[None]:
        """`before_learning`, one judged event a step (the worker serves requests between steps)."""
        return self.judge.judgements(online, choose, chunk, lambda: self.mix)
