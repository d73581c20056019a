"""Reading checkpoints written by older versions of recstream: the module paths their classes were pickled under
(before the redesign into sub-packages), and the learner's older attribute layouts."""

from __future__ import annotations

import io
import pickle
from collections import deque
from typing import Any

from recstream.models.online.cooccurrence import cooccurrence_for
from recstream.models.online.feedback import feedback_memory_for
from recstream.models.online.negatives import NegativeSampler
from recstream.models.online.prequential import Prequential
from recstream.models.online.seen import SeenItems

#: where classes that checkpoints pickle lived before the sub-packages, and where they live now
MOVED = {
    "recstream.models.online": "recstream.models.online.recommender",
    "recstream.models.popularity": "recstream.models.online.popularity",
    "recstream.models.cooccurrence": "recstream.models.online.cooccurrence",
    "recstream.models.chunk_sgd": "recstream.models.online.chunk_sgd",
    "recstream.models.interaction": "recstream.models.data.interaction",
    "recstream.stream.dedupe": "recstream.stream.ingest.dedupe",
}
#: classes that moved out of their module as well
RENAMED = {("recstream.models.online", "OnlineConfig"): ("recstream.models.online.config", "OnlineConfig")}


class Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = RENAMED.get((module, name), (MOVED.get(module, module), name))
        return super().find_class(module, name)


def loads(data: bytes) -> Any:
    """`pickle.loads` that also reads checkpoints of older versions."""
    return Unpickler(io.BytesIO(data)).load()


def upgrade_state(state: dict) -> dict:
    """An OnlineRecommender's pickled state, brought to the current attribute layout."""
    cfg = state["config"]
    state.pop("_factors", None), state.pop("_biases", None)  # copies of the model's, kept by early versions
    state.pop("_popular", None)
    if "model" in state:
        state["_model"] = state.pop("model")
    if "_seen" in state:
        seen = SeenItems(cfg.max_seen_per_user)
        seen.by_user = state.pop("_seen")
        state["seen"] = seen
    if "prequential_hits" in state:
        p = Prequential(cfg.prequential_sample, cfg.prequential_max_per_s)
        p.hits, p.trials = state.pop("prequential_hits"), state.pop("prequential_trials")
        p.probes = deque(state.pop("probes", ()), maxlen=Prequential.MAX_PROBES)
        state.pop("_probe_tokens", None), state.pop("_probe_clock_at", None)
        state["prequential"] = p
    if "_neg_cdf" in state:
        sampler = NegativeSampler(state["_rng"], cfg.negatives, cfg.negative_sampling)
        sampler.cdf, sampler.refreshed_at = state.pop("_neg_cdf"), state.pop("_neg_cdf_at")
        state["negatives"] = sampler
    state.setdefault("peer_events_learned", 0)  # before item-side sharing (learn_items)
    if "feedback" not in state:  # before learning from feedback
        state["feedback"] = feedback_memory_for(cfg)
    if "cooccurrence" not in state:  # before co-occurrence: count from here on (the pickled config lacks its
        state["cooccurrence"] = cooccurrence_for(cfg)  # fields: it reads the defaults)
    return state
