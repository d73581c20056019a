"""The online recommender: a River matrix-factorisation model learned per event, ranked with NumPy.

River keeps factors in dicts of small arrays, and its `rank()` costs ~26 ms a user. Here every item's factors
are a row of one contiguous matrix that River's dicts view (chunk_sgd.py), so top-K is a single mat-vec +
argpartition (~0.1 ms over 10k items) and reflects events as soon as they are learned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from river import optim, reco

from recstream.models.data.interaction import Feedback, Interaction, InteractionColumns
from recstream.models.online.arrays import values_at
from recstream.models.online.chunk_sgd import ChunkLearner, FactorRows, without_factors
from recstream.models.online.config import OnlineConfig
from recstream.models.online.cooccurrence import cooccurrence_for
from recstream.models.online.feedback import FeedbackMemory, feedback_memory_for
from recstream.models.online.item_deltas import ItemSideLog
from recstream.models.online.legacy import upgrade_state, upgrade_users
from recstream.models.online.negatives import NegativeSampler
from recstream.models.online.popularity import DecayedPopularity
from recstream.models.online.prequential import Prequential
from recstream.models.online.ranking import best_rows
from recstream.models.online.seen import SeenItems
from recstream.models.online.targets import EventTargets


class Recommendation(NamedTuple):
    items: list[str]
    scores: list[float]
    #: "personal" (factors + popularity) or "popular" (cold user)
    source: str


class OnlineRecommender:
    """Learns from `Interaction`s in order; serves top-K for any user.

    >>> from recstream.models.data.interaction import Interaction
    >>> rec = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0))
    >>> rec.learn([Interaction("e1", "u1", "i1", "click", None, 1.0), Interaction("e2", "u2", "i2", "view", None, 2.0)])
    >>> rec.recommend("u1", k=5).items  # i1 is already seen by u1
    ['i2']
    """

    #: most scores held at once while probing (64 MB of float64)
    PROBE_CELLS = 8_000_000

    def __init__(self, config: OnlineConfig | None = None) -> None:
        self.config = cfg = config or OnlineConfig()
        init = optim.initializers.Normal(mu=0.0, sigma=0.1, seed=cfg.seed)
        loss = optim.losses.Log() if cfg.loss == "log" else optim.losses.Squared()
        if cfg.algorithm == "biased_mf":
            self._model: reco.base.Ranker = reco.BiasedMF(
                n_factors=cfg.n_factors, bias_optimizer=optim.SGD(cfg.learning_rate),
                latent_optimizer=optim.SGD(cfg.learning_rate), loss=loss, l2_bias=cfg.l2, l2_latent=cfg.l2,
                latent_initializer=init, seed=cfg.seed)
        else:
            self._model = reco.FunkMF(
                n_factors=cfg.n_factors, optimizer=optim.SGD(cfg.learning_rate), loss=loss, l2=cfg.l2,
                initializer=init, seed=cfg.seed)
        self._rng = np.random.default_rng(cfg.seed)
        self.seen = SeenItems(cfg.max_seen_per_user)
        self._link(ChunkLearner(self._model))
        self.popularity = DecayedPopularity(cfg.popularity_half_life_s)
        self.cooccurrence = cooccurrence_for(cfg)
        self.events_learned = 0
        #: events of other workers' users learned item-side only (item_deltas.apply_delta)
        self.peer_events_learned = 0
        self.negatives = NegativeSampler(self._rng, cfg.negatives, cfg.negative_sampling)
        self.prequential = Prequential(cfg.prequential_sample, cfg.prequential_max_per_s)
        self._targets = EventTargets(cfg)
        self.feedback: FeedbackMemory = feedback_memory_for(cfg)

    @property
    def model(self) -> reco.base.Ranker:
        """The River model, its dicts filled from the learner's rows (views of the factor rows; see chunk_sgd.py)."""
        self._learner.sync()
        return self._model

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # The learner's rows, not River's dicts (a pickle of a million small arrays took 15 s and twice the
        # bytes); the target cache is derived from the config.
        del state["_targets"], state["_learner"]  # (with the item log: unsent counts are the running worker's)
        state["factor_rows"] = {"users": self._learner.users.__getstate__(), "items": self._learner.items.__getstate__()}
        state["_model"] = without_factors(self._model)
        return state

    def __setstate__(self, state: dict) -> None:
        rows = state.pop("factor_rows", None)
        self.__dict__.update(upgrade_state(state))  # checkpoints written by older versions, brought up to date
        self._targets = EventTargets(self.config)
        if rows is not None:
            learner = ChunkLearner(self._model)
            learner.users.load(rows["users"])
            learner.items.load(rows["items"])
        else:  # before: River's dicts held the factors, users numbered in the order River's dict kept them
            learner = ChunkLearner(self._model, item_keys=state["item_ids"], user_keys=state.get("user_ids", ()))
        self._link(learner)
        upgrade_users(self)

    # ---- bookkeeping -------------------------------------------------------------------------------------
    n_items = property(lambda self: len(self.item_ids))
    n_users = property(lambda self: self.seen.n_users)

    @property
    def user_factors(self) -> FactorRows:
        """Each user's row: factors and bias (users.py evicts and readmits users through it)."""
        return self._learner.users

    @property
    def item_factors(self) -> FactorRows:
        """Each item's row: factors and bias (peers' changes are added to them, item_deltas.py)."""
        return self._learner.items

    @property
    def item_log(self) -> ItemSideLog | None:
        """Where this worker's own item-side counts and factor changes are kept for its peers (None: nobody)."""
        return self._learner.item_log

    @item_log.setter
    def item_log(self, log: ItemSideLog | None) -> None:
        self._learner.item_log = log

    def holds(self, user_id: str) -> bool:
        """Whether this learner holds the user (learned, or readmitted, and not evicted since)."""
        return user_id in self._learner.users.row

    @property
    def item_rows(self) -> dict[str, int]:
        """Each known item's row (read-only by contract: the learner numbers new items in it)."""
        return self._item_row

    def item_row(self, item_id: str) -> int | None:
        """The item's row in this model's score vectors (None for an item it has not seen)."""
        return self._item_row.get(item_id)

    def _row(self, item_id: str) -> int:
        return self._learner.items.reserve(item_id)

    def rows_of(self, item_ids: Sequence[str]) -> list[int]:
        """Each item's row, numbering new ones (known ones looked up directly: this is the hot path)."""
        row_of = self._item_row
        return [row_of[i] if i in row_of else self._row(i) for i in item_ids]

    def _link(self, learner: ChunkLearner) -> None:
        # One numbering of items for the learner and for ranking: the learner's item matrix IS the ranking
        # matrix, so what a chunk learns is served from the next request on, with nothing to copy.
        self._learner = learner
        self.item_ids: list[str] = learner.items.keys  # type: ignore[assignment]
        self._item_row: dict[str, int] = learner.items.row  # type: ignore[assignment]
        self.user_ids: list[str] = learner.users.keys  # type: ignore[assignment]
        self.seen.link(learner.users.row)  # type: ignore[arg-type]

    @property
    def _factors(self) -> np.ndarray:
        return self._learner.items.matrix

    @property
    def _biases(self) -> np.ndarray:
        """Item biases (zeros for FunkMF)."""
        return self._learner.items.bias

    def target(self, event: Interaction) -> float:
        """The value the factor model learns for one event (0 = negative)."""
        return self._targets.one(event.type, event.value)

    # ---- learning ----------------------------------------------------------------------------------------
    def learn(self, events: Sequence[Interaction] | InteractionColumns, evaluate: bool = True) -> None:
        """Test-then-learn on `events` (in order): score a sample of positives, then update from all of them.

        The factor update equals River's `learn_one` per event, in order (compiled, see chunk_sgd.py); each
        positive's sampled negatives are learned after the chunk's events, in one step.
        """
        cols = events if isinstance(events, InteractionColumns) else InteractionColumns.of(events)
        if not len(cols):
            return
        cfg = self.config
        if cfg.negatives:
            self.negatives.refresh(self.events_learned, lambda: self.popularity.scores(self.n_items))
        users, rows = cols.user_ids, self.rows_of(cols.item_ids)
        targets = self._targets.of(cols.types, cols.values)
        if evaluate and self.prequential.sample > 0:
            self._evaluate(cols, rows, targets)
        neg_rows = self.negatives.sample(len(cols), self.n_items) if cfg.negatives else None
        learner = self._learner
        learner.learn(users, cols.item_ids, targets)
        user_rows = learner.last_user_rows
        neg_events, neg_items = self.seen.learn(user_rows, np.array(rows, dtype=np.int64), np.array(cols.ts), neg_rows,
                                                np.array(targets) > 0)
        if len(neg_events):
            learner.learn_negatives(user_rows[neg_events], neg_items)
        self._learn_item_side(cols, rows, targets)
        self.events_learned += len(cols)

    def _learn_item_side(self, cols: InteractionColumns, rows: list[int], targets: list[float]) -> None:
        # Popularity counts what users liked (measured on the MovieLens replay: counting low ratings too lost
        # 0.3 pt of Recall@10).
        weights, log = np.maximum(np.array(targets, dtype=np.float64), 0.0), self.item_log
        item_rows, ts = np.array(rows, dtype=np.int64), np.array(cols.ts, dtype=np.float64)
        self.popularity.add(item_rows, weights, ts)
        co = self.cooccurrence
        counted = co.learn(cols.user_ids, rows, weights > 0, record=log is not None) if co is not None else None
        if log is not None:
            log.add(item_rows, weights, ts, counted, time.time())

    def learn_feedback(self, feedback: Sequence[Feedback]) -> None:
        """Learn reactions to served lists (see feedback.py): clicks and purchases as positives (once, however
        many times they are reported), ignored impressions and skips as exposure negatives."""
        positives, negatives = self.feedback.sort(feedback, self._has)
        if positives:
            self.learn(positives, evaluate=False)
            for e in positives:
                self.feedback.clicked(e.user_id, self._item_row[e.item_id])
        if negatives:
            users, items, ts = zip(*negatives)
            for user, row, t in zip(users, self.rows_of(items), ts):
                self.feedback.ignore(user, row, t)
            self._learner.learn(users, items, [0.0] * len(users))

    def _has(self, user_id: str, item_id: str) -> bool:
        row = self._item_row.get(item_id)
        return row is not None and self.seen.contains(user_id, row)

    def _evaluate(self, events: InteractionColumns, rows: list[int], targets: list[float]) -> None:
        """Score a sample of this chunk's novel positive events against the state before the chunk."""
        n = self.n_items
        users = events.user_ids
        picks = self.prequential.pick(self._rng.random(len(events)), [t > 0 for t in targets],
                                      lambda i: not self.seen.contains(users[i], rows[i]), n,
                                      self.config.probe_cells_per_event)
        if not picks or n == 0:
            return
        base = self._popularity_term(n)  # fresh, as served: the metric must judge what users get
        popular = self.prequential.popular_mask(base, self.events_learned)
        from recstream.models.online import kernels  # loaded with the learner (see chunk_sgd._loss_code)

        # A few thousand probes at a time: one huge batch (a backfill) at a million items must not need a
        # probes x items matrix of tens of GB.
        step = max(1, self.PROBE_CELLS // n)
        for start in range(0, len(picks), step):
            part = picks[start:start + step]
            scores = self._score_rows([users[i] for i in part], n, base)
            target = scores[np.arange(len(part)), [rows[i] for i in part]]
            # Rank of the target = how many items score at least as high (itself included: ties count against it).
            rank, z, share = kernels.probe_stats(scores, target, popular)
            self.prequential.record([events.ts[i] for i in part], target, rank, z, share)

    def _score_rows(self, users: list[str], n: int, pop_term: np.ndarray) -> np.ndarray:
        """`_scores` for several users at once: one row each (a matrix product instead of one mat-vec each)."""
        out = np.empty((len(users), n), dtype=np.float64)
        vecs = [self._user_vector(u) for u in users]
        personal = [k for k, v in enumerate(vecs) if v is not None]
        cold = [k for k, v in enumerate(vecs) if v is None]
        if personal:
            out[personal] = self._personal(np.stack([vecs[k] for k in personal]) @ self._factors[:n].T, n, pop_term)
            for k in personal:
                self._add_cooccurrence(out[k], users[k])
                self.feedback.demote(out[k], users[k])
        if cold:
            out[cold] = pop_term
        for k, user in enumerate(users):
            self.seen.mask(out[k], user)
        return out

    # ---- serving -----------------------------------------------------------------------------------------
    def _popularity_term(self, n: int) -> np.ndarray:
        return np.log1p(self.popularity.scores(n))

    def _scores(self, user_id: str, n: int, pop_term: np.ndarray, exclude_seen: bool = True) -> np.ndarray:
        """Scores over the first `n` items for `user_id` (a fresh array), seen items at -inf."""
        vec = self._user_vector(user_id)
        if vec is None:
            scores = pop_term.copy()
        else:
            scores = self._personal(self._factors[:n] @ vec, n, pop_term)
            self._add_cooccurrence(scores, user_id)
            self.feedback.demote(scores, user_id)
        if exclude_seen:
            self.seen.mask(scores, user_id)
        return scores

    def _personal(self, dots: np.ndarray, n: int, pop_term: np.ndarray) -> np.ndarray:
        """Factor dot products (one row per user, or one user's vector) -> personal scores, in place."""
        dots += self._biases[:n]
        dots += self.config.popularity_blend * pop_term
        return dots

    def _add_cooccurrence(self, scores: np.ndarray, user_id: str) -> None:
        """Add the user's co-occurrence scores (one user's row; nothing when the signal is off)."""
        if self.cooccurrence is not None:
            self.cooccurrence.add_scores(scores, user_id, self.config.cooccurrence_weight)

    def _user_vector(self, user_id: str) -> np.ndarray | None:
        """The user's factors, or None while they get popular items (unknown, or too few events)."""
        if self.seen.events_of(user_id) < self.config.min_user_events:
            return None
        return self._learner.users.matrix[self._learner.users.row[user_id]]

    def is_personal(self, user_id: str) -> bool:
        return self._user_vector(user_id) is not None

    def recommend(self, user_id: str, k: int = 10, exclude_seen: bool = True) -> Recommendation:
        """Top-`k` items for `user_id`; unknown users get the most popular items."""
        n = self.n_items
        if n == 0 or k <= 0:
            return Recommendation([], [], "popular")
        scores = self.scores(user_id, exclude_seen)
        source = "personal" if self.is_personal(user_id) else "popular"
        return self.top_k(scores, k, source)

    def scores(self, user_id: str, exclude_seen: bool = True) -> np.ndarray:
        """This model's scores over every known item (row order = `item_ids`), seen items at -inf."""
        n = self.n_items
        return self._scores(user_id, n, self._popularity_term(n), exclude_seen)

    # ---- serving candidates (serving/candidates.py): the same scores at some rows, without a full pass ----
    def dense_query(self, user_id: str) -> np.ndarray | None:
        """`[u, 1]` for a personal user (None for a cold one): its inner product with `dense_rows` is the dense
        part of the user's scores."""
        vec = self._user_vector(user_id)
        return None if vec is None else np.append(vec, 1.0)

    def dense_rows(self, rows: np.ndarray) -> np.ndarray:
        """`[factors, bias + popularity_blend·log1p(popularity)]` of item `rows`, one row each."""
        extra = self._biases[rows] + self.config.popularity_blend * np.log1p(self.popularity.scores_at(rows))
        return np.hstack([self._factors[rows], extra[:, None]])

    def sparse_scores(self, user_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values) of what a personal user's scores add to the dense part where it is not zero:
        co-occurrence with the user's recent items, less the demotion of items shown and ignored."""
        n, parts = self.n_items, []
        if self.cooccurrence is not None:
            rows, values = self.cooccurrence.support(user_id, n)
            parts.append((rows, self.config.cooccurrence_weight * values))
        ignored = [(row, count) for row, count in self.feedback.recently_ignored(user_id) if row < n]
        if ignored:
            rows, counts = (np.array(c) for c in zip(*ignored, strict=True))
            parts.append((rows.astype(np.int64), -self.feedback.ignored_penalty * counts.astype(np.float64)))
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        rows, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
        return rows, np.bincount(inverse, np.concatenate([p[1] for p in parts]), len(rows))

    def scores_at(self, user_id: str, rows: np.ndarray, exclude_seen: bool = True) -> np.ndarray:
        """`scores(user_id, exclude_seen)[rows]`, for `rows` without repeats, scoring those rows only."""
        query = self.dense_query(user_id)
        if query is None:
            out = np.log1p(self.popularity.scores_at(rows))
        else:
            out = self.dense_rows(rows) @ query + values_at(rows, *self.sparse_scores(user_id))
        if exclude_seen:
            out[np.isin(rows, self.seen.rows(user_id))] = -np.inf
        return out

    def top_k(self, scores: np.ndarray, k: int, source: str) -> Recommendation:
        """The `k` best finite entries of `scores` (one per item row) as a Recommendation."""
        top = best_rows(scores, k).tolist()
        return Recommendation([self.item_ids[r] for r in top], scores[top].tolist(), source)

    def score_parts(self, user_id: str, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The parts of this model's score of item `rows` for `user_id` (their sum is what `scores` ranks by):
        factors (dot product and item bias), popularity, co-occurrence, feedback (ignored showings)."""
        n, vec = self.n_items, self._user_vector(user_id)
        pop = self._popularity_term(n)[rows]
        if vec is None:
            return {"popularity": pop}  # a cold user is ranked by popularity alone
        parts = {"factors": self._factors[rows] @ vec + self._biases[rows],
                 "popularity": self.config.popularity_blend * pop}
        for name, add in (("cooccurrence", self._add_cooccurrence), ("feedback", self.feedback.demote)):
            full = np.zeros(n)
            add(full, user_id)
            parts[name] = full[rows]
        return parts

    def similar_by_factors(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosine similarities) of the `k` items whose factors point most like item `row`'s."""
        f = self._factors[:self.n_items]
        norms = np.linalg.norm(f, axis=1) * max(float(np.linalg.norm(f[row])), 1e-12)
        sims = (f @ f[row]) / np.maximum(norms, 1e-12)
        sims[row] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        return top, sims[top]

    def recent_items(self, user_id: str, n: int) -> list[str]:
        """The user's `n` most recent distinct items, oldest first (what sequence models read)."""
        return [self.item_ids[r] for r in self.seen.recent(user_id, n)]

