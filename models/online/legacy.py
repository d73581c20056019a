"""Reading checkpoints: only the classes a learner's state is made of (an allow-list: a pickle can name any
callable, and whoever can write the database or the artefact store must not get to run code on every worker),
the module paths older versions pickled them under (before the sub-packages), and older attribute layouts."""

from __future__ import annotations

import io
import pickle
from collections import deque
from typing import Any

import numpy as np

from recstream.models.errors import ArtefactError
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


#: the callables a checkpoint may name, by module: builtins' containers, numpy's array and generator rebuilders,
#: the standard library's RNG
ALLOWED = {
    "builtins": {"set", "frozenset", "bytearray", "complex", "slice", "range"},
    "collections": {"defaultdict", "deque", "OrderedDict", "Counter"},
    "functools": {"partial"},  # harmless alone: it can only wrap another allowed callable
    "random": {"Random"},
    "numpy": {"dtype", "ndarray"},
    "numpy._core.numeric": {"_frombuffer"}, "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"}, "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy.random._pickle": {"__bit_generator_ctor", "__generator_ctor", "__randomstate_ctor"},
    "numpy.random.bit_generator": {"SeedSequence", "__pyx_unpickle_SeedSequence"},
    "numpy.random._mt19937": {"MT19937"}, "numpy.random._pcg64": {"PCG64", "PCG64DXSM"},
    "numpy.random._philox": {"Philox"}, "numpy.random._sfc64": {"SFC64"},
    "river._river_rust.drift": {"AdaptiveWindowing"},
    "recstream.stream.ingest.dedupe": {"RecentIds"},
}
#: modules any of whose classes (never functions) a checkpoint may name: the learner's parts and River's
CLASS_MODULES = ("recstream.models.online.", "recstream.models.data.", "river.optim.", "river.reco.",
                 "river.stats.", "river.drift.", "river.utils.")


class Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = RENAMED.get((module, name), (MOVED.get(module, module), name))
        if name in ALLOWED.get(module, ()):
            return super().find_class(module, name)
        if module.startswith(CLASS_MODULES) and not name.startswith("_"):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise ArtefactError(f"checkpoint names {module}.{name}, which no learner's state holds: refusing to load "
                            "it (a forged or foreign pickle)")


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
    if "_seen" in state:  # the first layout: dicts of seen rows in the recommender itself
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


def upgrade_users(rec: Any) -> None:
    """Per-user state of checkpoints from before pooled seen lists (a dict of item rows and an event count per
    user id) moved into the recommender's `seen`, by the learner's user rows."""
    by_user = rec.seen.__dict__.pop("by_user", None)
    counts = rec.__dict__.pop("_user_events", None)
    if by_user is None and counts is None:
        return
    by_user, counts = by_user or {}, counts or {}
    reserve = rec._learner.users.reserve
    for user in list(by_user) + list(counts):
        reserve(user)
    rows = rec._learner.users.row
    n = len(rows)
    lengths, events = np.zeros(n, dtype=np.int32), np.zeros(n, dtype=np.int32)
    lists = sorted((rows[u], list(items)[-rec.seen.cap:]) for u, items in by_user.items())  # in row order
    for a, items in lists:
        lengths[a] = len(items)
    flat = np.array([r for _, items in lists for r in items], dtype=np.int32)
    for user, count in counts.items():
        events[rows[user]] = count
    rec.seen.load(lengths, flat, events, np.zeros(n))  # (times unknown: idle since ever)
