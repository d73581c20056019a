"""The served-quality replay: what users would have been served, judged on a stream, test-then-learn.

The stream is learned in chunks (as a worker learns a batch); before each chunk, every positive event whose item
is new to its user is a probe: the user's lists are asked for *before* the event is learned, from the same code
a worker serves with — the online learner, the deep version the registry made live (trained by `retrain()` on
the events so far, warm-started and gated like any retrain) and the same `blend()`. On the same probes: online
alone, deep alone, popularity, and the EASE reference. With `workers > 1` users are split over that many
learners the way Kafka's default partitioner spreads keys over `partitions`, exactly as that many workers would,
each also learning the others' events item-side as a worker's item feed does (`share_items`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from recstream.models.catalogue.policy import NewItemPolicy
from recstream.models.data.interaction import Interaction
from recstream.models.data.keys import user_partition
from recstream.models.data.positive import is_positive
from recstream.models.evaluation.ease import Ease
from recstream.models.evaluation.recovery import recovery
from recstream.models.evaluation.topn import TopN
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender, Recommendation
from recstream.models.retrain.config import RetrainConfig
from recstream.models.retrain.run import retrain
from recstream.models.serving.blend import blend
from recstream.models.serving.blend_tuner import BlendTuner, ServedJudge
from recstream.models.serving.hotswap import DeepSlot, LoadedModel
from recstream.models.serving.new_items import NewItemSlots
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.events import EventStore
from recstream.models.store.registry import Registry

K = 10


@dataclass(frozen=True)
class ServedConfig:
    online: OnlineConfig = field(default_factory=lambda: OnlineConfig(prequential_sample=0.0))
    #: the deep model's retraining; artefacts go to a temporary folder unless one is set
    retrain: RetrainConfig | None = field(default_factory=RetrainConfig)
    deep_weight: float = 0.5
    #: events learned together (a worker learns ~a batch a second)
    chunk: int = 10
    #: a deep version is trained every this many events (None: every 10% of the stream)
    retrain_every: int | None = None
    workers: int = 1
    partitions: int = 12
    #: choose the deep share from what users pick next (BlendTuner, as a worker does by default), starting at
    #: `deep_weight`; False: serve `deep_weight` throughout
    tune_deep_weight: bool = True
    #: every learner also learns the other workers' events item-side (popularity, co-occurrence), as workers do
    #: through their item feed (RECSTREAM_SHARE_ITEMS); False: each knows its own partitions only
    share_items: bool = True
    ease_lambdas: tuple[float, ...] = (100.0, 300.0, 1000.0)
    ease_refit_every: int = 2_000
    #: slots for new items (models/serving/new_items.py); each item enters the catalogue at its first event
    new_items: NewItemPolicy = field(default_factory=NewItemPolicy)


def worker_of(user: str, workers: int, partitions: int) -> int:
    """The worker that owns `user`: their partition (Kafka's default partitioner), assigned in ranges."""
    return user_partition(user, partitions) * workers // partitions


class ServedReplay:
    def __init__(self, cfg: ServedConfig, workdir: Path) -> None:
        self.cfg = cfg
        self.learners = [OnlineRecommender(cfg.online) for _ in range(cfg.workers)]
        # The worker's own judge, on every probe: it tunes the deep share as a worker does
        self.served_judges = [ServedJudge(BlendTuner(cfg.deep_weight), sample=1.0, max_per_s=None)
                              for _ in range(cfg.workers)] if cfg.tune_deep_weight else None
        self.engine = create_db_engine(f"sqlite:///{workdir / 'served.db'}")
        upgrade(self.engine)
        self.store = EventStore(self.engine)
        self.retrain_cfg = replace(cfg.retrain, artefact_dir=workdir / "artefacts") if cfg.retrain else None
        key = self.retrain_cfg.artefact_key if self.retrain_cfg else None
        self.slot = DeepSlot(Registry(self.engine), key)
        self.ease = Ease(cfg.ease_lambdas, cfg.ease_refit_every)
        self.judges = {name: TopN(K) for name in ("served", "online", "deep", "popularity")}
        self.ease_judges = {lam: TopN(K) for lam in cfg.ease_lambdas}
        self.interacted: dict[str, set[str]] = {}
        #: (event index, served hit, online hit) per probe, for recovery after a shift
        self.curve: list[tuple[int, bool, bool]] = []
        self.retrains: list[dict] = []
        self._pending: list[Interaction] = []
        self._owner: dict[str, int] = {}
        #: item -> when it entered the catalogue (its first event); items in served lists (coverage)
        self.created_at: dict[str, float] = {}
        self.served_items: set[str] = set()
        self._new_items = [NewItemSlots() for _ in range(cfg.workers)]

    def worker(self, user: str) -> int:
        w = self._owner.get(user)
        if w is None:
            w = self._owner[user] = worker_of(user, self.cfg.workers, self.cfg.partitions)
        return w

    def learner(self, user: str) -> OnlineRecommender:
        return self.learners[self.worker(user)]

    def positive(self, e: Interaction) -> bool:
        c = self.cfg.online
        return is_positive(e.type, e.value, c.event_weights, c.rating_threshold)

    def lists(self, user: str) -> dict[str, list[str]]:
        """What each source would serve `user` now (seen items excluded)."""
        online = self.learner(user)
        deep = self.slot.choose(user)
        pop = np.log1p(online.popularity.scores(online.n_items))
        online.seen.mask(pop, user)
        served = blend(online, deep, user, K, True, self.deep_weight(user))[0]
        out = {"served": self.with_new_items(served, online, deep, user).items,
               "online": online.recommend(user, K).items,
               "deep": blend(online, deep, user, K, True, 1.0)[0].items,
               "popularity": online.top_k(pop, K, "popular").items}
        for lam, items in self.ease.top(user, K, self.interacted.get(user, set())).items():
            out[f"ease_{lam:g}"] = items
        return out

    def with_new_items(self, served: Recommendation, online: OnlineRecommender, deep: LoadedModel | None,
                       user: str) -> Recommendation:
        served = self._new_items[self.worker(user)].serve(
            served, self.cfg.new_items, key=(online.events_learned, online.n_items), created_at=lambda: self.created_at, online=online,
            deep=deep, user_id=user, k=K, exclude_seen=True, deep_weight=self.deep_weight(user))
        self.served_items.update(served.items)
        return served

    def deep_weight(self, user: str) -> float:
        if self.served_judges is None:
            return self.cfg.deep_weight
        return self.served_judges[self.worker(user)].tuner.weight

    def tune(self, user: str, item: str) -> None:
        """Credit the candidate deep weights whose list held `item` (after the lists were judged)."""
        if self.served_judges is not None:
            self.served_judges[self.worker(user)].judge(self.learner(user), self.slot.choose, user, item)

    def probe(self, index: int, chunk: Sequence[Interaction]) -> None:
        """Judge every novel positive of `chunk` against the state before it (`index`: its first event's)."""
        for j, e in enumerate(chunk):
            if not self.positive(e) or e.item_id in self.interacted.get(e.user_id, ()):
                continue
            lists = self.lists(e.user_id)
            hits = {name: judge.add(lists[name], e.item_id) for name, judge in self.judges.items()}
            for lam, judge in self.ease_judges.items():
                judge.add(lists[f"ease_{lam:g}"], e.item_id)
            self.curve.append((index + j, hits["served"], hits["online"]))
            self.tune(e.user_id, e.item_id)

    def learn(self, chunk: Sequence[Interaction]) -> None:
        by_worker: dict[int, list[Interaction]] = {}
        for e in chunk:
            by_worker.setdefault(self.worker(e.user_id), []).append(e)
            self.interacted.setdefault(e.user_id, set()).add(e.item_id)
            if self.positive(e):
                self.ease.learn(e.user_id, e.item_id)
        for w, events in by_worker.items():
            self.learners[w].learn(events, evaluate=False)
        if self.cfg.share_items and self.cfg.workers > 1:
            for w, learner in enumerate(self.learners):
                learner.learn_items([e for v, events in by_worker.items() if v != w for e in events])
        self._pending.extend(chunk)

    def train_deep(self) -> None:
        """A retrain on every event so far, as the scheduler runs it; a promoted version is served next."""
        if self.retrain_cfg is None:
            return
        self.store.add_interactions(self._pending)
        self._pending = []
        t = time.perf_counter()
        r = retrain(self.engine, self.retrain_cfg, trigger="replay", requested_by="bench", progress=False)
        self.slot.poll()
        self.retrains.append({"outcome": r.outcome, "version": r.version.name if r.version else None,
                              "seconds": round(time.perf_counter() - t, 1), "error": r.error})

    def run(self, events: Sequence[Interaction], progress: Callable[[int], None] | None = None) -> None:
        for e in events:
            self.created_at.setdefault(e.item_id, e.ts)
        every = self.cfg.retrain_every or max(len(events) // 10, 1)
        next_retrain = every
        for start in range(0, len(events), self.cfg.chunk):
            chunk = events[start:start + self.cfg.chunk]
            self.probe(start, chunk)
            self.learn(chunk)
            if start + len(chunk) >= next_retrain and start + len(chunk) < len(events):
                self.train_deep()
                next_retrain += every
            if progress is not None:
                progress(len(chunk))

    def report(self, n_events: int, shift_at: int | None = None) -> dict:
        best = max(self.ease_judges, key=lambda lam: self.ease_judges[lam].recall)  # the strongest reference
        judges = {**self.judges, "ease_reference": self.ease_judges[best]}
        figures = {n: j.as_dict() for n, j in judges.items()}
        served, ref = figures["served"], figures["ease_reference"]
        out = {
            "trials": served["trials"],
            "recall_at_10": {n: {"value": f["recall_at_10"], "ci95": f["recall_ci95"]}
                             for n, f in figures.items()},
            "ndcg_at_10": {n: {"value": f["ndcg_at_10"], "ci95": f["ndcg_ci95"]} for n, f in figures.items()},
            "served_over_reference": round(served["recall_at_10"] / ref["recall_at_10"], 3)
            if ref["recall_at_10"] else None,
            "served_ci95_above_reference": served["recall_ci95"][0] > ref["recall_ci95"][1],
            "reference": {"lambda": best, "refits": self.ease.fits,
                          "recall_by_lambda": {f"{lam:g}": round(j.recall, 4)
                                               for lam, j in self.ease_judges.items()}},
            "retrains": {**{o: sum(r["outcome"] == o for r in self.retrains)
                            for o in ("promoted", "rejected", "failed")}, "runs": self.retrains},
            "workers": self.cfg.workers,
            "catalogue_coverage": round(len(self.served_items) / max(len(self.created_at), 1), 4),
            "new_item_share": self.cfg.new_items.share,
            #: taste shifts each learner noticed (each faded its co-occurrence counts once)
            "shifts_noticed": [learner.cooccurrence.shifts if learner.cooccurrence else 0 for learner in self.learners],
        }
        if shift_at is not None:
            out["recovery_after_shift"] = recovery(self.curve, shift_at, n_events)
        return out

def replay_served(events: Sequence[Interaction], cfg: ServedConfig, shift_at: int | None = None,
                  progress: Callable[[int], None] | None = None, workdir: Path | None = None) -> dict:
    """Run the served-quality replay over `events` (in order) and return its report."""
    with tempfile.TemporaryDirectory() as tmp:
        r = ServedReplay(cfg, Path(workdir or tmp))
        t = time.perf_counter()
        r.run(events, progress)
        report = r.report(len(events), shift_at)
        report["seconds"] = round(time.perf_counter() - t, 1)
        r.engine.dispose()
        return report

