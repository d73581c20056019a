"""The served-quality replay: what users would have been served, judged on a stream, test-then-learn.

The stream is learned in chunks (as a worker learns a batch); before each chunk, every positive event whose item
is new to its user is a probe: the user's lists are asked for *before* the event is learned, from the same code
a worker serves with — the online learner, the deep version the registry made live (trained by `retrain()` on
the events so far, warm-started and gated like any retrain) and the same `ServedRecipe` (its mix tuned by the
same judge, fed before each chunk is learned). On the same probes: online alone, deep alone, and the simple
references (references.py: popularity, EASE, sequential rules, session k-NN); the report names the best. With `workers > 1` users are split over that many
learners the way Kafka's default partitioner spreads keys over `partitions`, exactly as that many workers would,
each also adding the others' item-side deltas (item_deltas.py) as a worker's item feed does (`share_items`),
here after every chunk.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from recstream.models.data.interaction import Interaction, InteractionColumns
from recstream.models.data.keys import user_partition
from recstream.models.data.positive import is_positive
from recstream.models.evaluation.recovery import recovery
from recstream.models.evaluation.references import References
from recstream.models.evaluation.topn import TopN
from recstream.models.online.config import OnlineConfig
from recstream.models.online.item_deltas import ItemSideLog, apply_delta
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.retrain.config import RetrainConfig
from recstream.models.retrain.run import retrain
from recstream.models.serving.ask import Ask
from recstream.models.serving.blend import blend
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.serving.mix import RecipeConfig, ServedMix
from recstream.models.serving.recipe import ServedRecipe
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.events import EventStore
from recstream.models.store.registry import Registry

K = 10


@dataclass(frozen=True)
class ServedConfig:
    online: OnlineConfig = field(default_factory=lambda: OnlineConfig(prequential_sample=0.0))
    #: the deep model's retraining; artefacts go to a temporary folder unless one is set
    retrain: RetrainConfig | None = field(default_factory=RetrainConfig)
    #: the served recipe, as a worker's (every probe judged: a replay has no rate to keep up with)
    recipe: RecipeConfig = field(default_factory=lambda: RecipeConfig(judge_sample=1.0, judge_max_per_s=None))
    #: events learned together (a worker learns ~a batch a second)
    chunk: int = 10
    #: a deep version is trained every this many events (None: every 10% of the stream)
    retrain_every: int | None = None
    workers: int = 1
    partitions: int = 12
    #: every learner also adds the other workers' item-side deltas (popularity, co-occurrence), as workers do
    #: through their item feed (RECSTREAM_SHARE_ITEMS); False: each knows its own partitions only
    share_items: bool = True
    ease_lambdas: tuple[float, ...] = (100.0, 300.0, 1000.0)
    ease_refit_every: int = 2_000


def worker_of(user: str, workers: int, partitions: int) -> int:
    """The worker that owns `user`: their partition (Kafka's default partitioner), assigned in ranges."""
    return user_partition(user, partitions) * workers // partitions


class ServedReplay:
    def __init__(self, cfg: ServedConfig, workdir: Path) -> None:
        self.cfg = cfg
        self.learners = [OnlineRecommender(cfg.online) for _ in range(cfg.workers)]
        if cfg.share_items and cfg.workers > 1:
            for learner in self.learners:
                learner.item_log = ItemSideLog(cfg.online.popularity_half_life_s)
        #: what each worker serves with (new-item slots: each item enters the catalogue at its first event)
        self.recipes = [ServedRecipe(cfg.recipe, seed=w) for w in range(cfg.workers)]
        self.engine = create_db_engine(f"sqlite:///{workdir / 'served.db'}")
        upgrade(self.engine)
        self.store = EventStore(self.engine)
        self.retrain_cfg = replace(cfg.retrain, artefact_dir=workdir / "artefacts") if cfg.retrain else None
        key = self.retrain_cfg.artefact_key if self.retrain_cfg else None
        self.slot = DeepSlot(Registry(self.engine), key)
        self.references = References(cfg.ease_lambdas, cfg.ease_refit_every)
        self.judges = {name: TopN(K) for name in ("served", "online", "deep", *self.references.names)}
        self.interacted: dict[str, set[str]] = {}
        #: (event index, served hit, online hit) per probe, for recovery after a shift
        self.curve: list[tuple[int, bool, bool]] = []
        self.retrains: list[dict] = []
        self._pending: list[Interaction] = []
        self._owner: dict[str, int] = {}
        #: item -> when it entered the catalogue (its first event); items in served lists (coverage)
        self.created_at: dict[str, float] = {}
        self.served_items: set[str] = set()

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

    def served(self, user: str) -> list[str]:
        """What a worker serves `user` now: its recipe (new-item slots from each item's first event)."""
        online, w = self.learner(user), self.worker(user)
        rec, _ = self.recipes[w].serve(online, self.slot.choose(user), Ask(user, K),
                                       new_key=(online.events_learned, online.n_items),
                                       created_at=lambda: self.created_at)
        self.served_items.update(rec.items)
        return rec.items

    def lists(self, user: str) -> dict[str, list[str]]:
        """What each source would serve `user` now (seen items excluded)."""
        online = self.learner(user)
        return {"served": self.served(user), "online": online.recommend(user, K).items,
                "deep": blend(online, self.slot.choose(user), Ask(user, K), ServedMix(0.0, 1.0))[0].items,
                **self.references.top(user, self.interacted.get(user, set()))}

    def probe(self, index: int, chunk: Sequence[Interaction]) -> None:
        """Judge every novel positive of `chunk` against the state before it (`index`: its first event's), then
        let each worker's judge see its part of the chunk, as a worker's does before learning it."""
        for j, e in enumerate(chunk):
            if not self.positive(e) or e.item_id in self.interacted.get(e.user_id, ()):
                continue
            lists = self.lists(e.user_id)
            hits = {name: judge.add(lists[name], e.item_id) for name, judge in self.judges.items()}
            self.curve.append((index + j, hits["served"], hits["online"]))
        for w, events in self._by_worker(chunk).items():
            self.recipes[w].before_learning(self.learners[w], self.slot.choose, InteractionColumns.of(events))

    def _by_worker(self, chunk: Sequence[Interaction]) -> dict[int, list[Interaction]]:
        by_worker: dict[int, list[Interaction]] = {}
        for e in chunk:
            by_worker.setdefault(self.worker(e.user_id), []).append(e)
        return by_worker

    def learn(self, chunk: Sequence[Interaction]) -> None:
        by_worker = self._by_worker(chunk)
        for e in chunk:
            self.interacted.setdefault(e.user_id, set()).add(e.item_id)
            if self.positive(e):
                self.references.learn(e.user_id, e.item_id)
        for w, events in by_worker.items():
            self.learners[w].learn(events, evaluate=False)
        if self.cfg.share_items and self.cfg.workers > 1:  # each worker's deltas, applied by the others
            deltas = [learner.item_log.take(learner.item_ids, {}) for learner in self.learners]  # type: ignore[union-attr]
            for w, learner in enumerate(self.learners):
                for delta in (d for v, d in enumerate(deltas) if v != w and d is not None):
                    apply_delta(learner, delta)
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
        figures = {n: j.as_dict() for n, j in self.judges.items()}
        best = max(self.references.names, key=lambda n: self.judges[n].recall)  # the strongest reference
        served, ref = figures["served"], figures[best]
        out = {
            "trials": served["trials"],
            "recall_at_10": {n: {"value": f["recall_at_10"], "ci95": f["recall_ci95"]}
                             for n, f in figures.items()},
            "ndcg_at_10": {n: {"value": f["ndcg_at_10"], "ci95": f["ndcg_ci95"]} for n, f in figures.items()},
            "best_reference": best,
            "served_over_best_reference": round(served["recall_at_10"] / ref["recall_at_10"], 3)
            if ref["recall_at_10"] else None,
            "served_ci95_above_best_reference": served["recall_ci95"][0] > ref["recall_ci95"][1],
            "ease_refits": self.references.fits,
            #: the mix each worker's judge settled on
            "mix": [vars(r.mix) for r in self.recipes],
            "retrains": {**{o: sum(r["outcome"] == o for r in self.retrains)
                            for o in ("promoted", "rejected", "failed")}, "runs": self.retrains},
            "workers": self.cfg.workers,
            "catalogue_coverage": round(len(self.served_items) / max(len(self.created_at), 1), 4),
            "new_item_share": self.cfg.recipe.new_items.share,
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

