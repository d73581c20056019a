"""The online recommender: a River matrix-factorisation model learned per event, ranked with NumPy.

River keeps factors in dicts of small arrays, and its `rank()` costs ~26 ms a user. Here every item's factors
are a row of one contiguous matrix that River's dicts view (chunk_sgd.py), so top-K is a single mat-vec +
argpartition (~0.1 ms over 10k items) and reflects events as soon as they are learned.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Literal, NamedTuple

import numpy as np
from river import optim, reco

from .chunk_sgd import ChunkLearner
from .cooccurrence import CoOccurrence
from .cooccurrence import check_settings as check_cooccurrence
from .interaction import Interaction, InteractionColumns
from .popularity import DecayedPopularity

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {"view": 0.3, "click": 0.6, "add_to_cart": 0.8, "purchase": 1.0}


def implicit_weight(event_type: str, value: float | None, weights: dict[str, float]) -> float:
    """How much an implicit event says the user likes the item (its type's weight, times `value` when given)."""
    weight = weights.get(event_type, 0.0)
    return weight if value is None else weight * float(value)


def is_positive(event_type: str, value: float | None, weights: dict[str, float], rating_threshold: float) -> bool:
    """Whether an event says the user liked the item: the one rule the online and the deep model both learn."""
    if event_type == "rating":
        return (value or 0.0) >= rating_threshold
    return implicit_weight(event_type, value, weights) > 0


@dataclass(frozen=True)
class OnlineConfig:
    """Knobs of the online learner. `recstream worker` fills them from RECSTREAM_ONLINE_* settings."""

    algorithm: Literal["biased_mf", "funk_mf"] = "biased_mf"
    #: "squared" regresses the event weight; "log" is logistic MF (positive = 1, sampled negative = 0).
    loss: Literal["squared", "log"] = "log"
    n_factors: int = 32
    learning_rate: float = 0.05
    l2: float = 0.002
    #: Sampled negatives (target 0) learned after each positive event: implicit data has no explicit "no".
    #: Each costs one more learn_one. Measured (replay, chunk 10, vs popularity 0.1732 / 0.0788): 1 negative
    #: 0.1778 synthetic / 0.0793 MovieLens, 2: 0.1828 / 0.0791, 3: 0.1850 / 0.0795.
    negatives: int = 2
    #: "uniform" over known items, or "popularity" (in proportion to decayed popularity): the latter leaves
    #: popularity to the blend term and makes the factors learn what sets a user apart from the crowd.
    negative_sampling: Literal["uniform", "popularity"] = "popularity"
    #: Weight of log-popularity in the personal score: popularity is a strong prior the factors refine. 2 was
    #: best for the factors alone; 1 with co-occurrence (MovieLens replay 0.0915 at 2, 0.0963 at 1).
    popularity_blend: float = 1.0
    #: Weight of item co-occurrence with the user's recent positives in the personal score (0 = off; see
    #: cooccurrence.py). The factors alone only tie popularity on the MovieLens replay.
    cooccurrence_weight: float = 2.0
    #: How many of a user's latest positive items the co-occurrence score looks at (and each new one pairs with),
    #: the weight of each step back in that window, and how many companions each item keeps.
    cooccurrence_window: int = 10
    cooccurrence_decay: float = 0.8
    cooccurrence_neighbours: int = 64
    popularity_half_life_s: float = 365 * 24 * 3600.0
    #: Target learned for each implicit event type; ratings map to 1 (>= rating_threshold) or 0.
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    rating_threshold: float = 4.0
    #: Users with fewer learned events than this are served popular items.
    min_user_events: int = 1
    #: Share of positive events scored before learning for the live Recall@10 (1.0 = every one).
    prequential_sample: float = 0.05
    #: At most this many probes per second of wall-clock time (None: no cap). A probe scores the whole catalogue
    #: (~0.2 ms over 10k items): at 40k events/s a 5% share took a third of the worker's learning time, for far
    #: more probes than a live figure needs. The worker sets it (RECSTREAM_ONLINE_PREQUENTIAL_MAX_PER_S);
    #: replays leave it off, so they stay deterministic.
    prequential_max_per_s: float | None = None
    #: How many of a user's most recent items are remembered (and excluded from their recommendations).
    max_seen_per_user: int = 2000
    seed: int = 42

    def __post_init__(self) -> None:
        if self.algorithm not in ("biased_mf", "funk_mf"):
            raise ValueError(f"online algorithm must be 'biased_mf' or 'funk_mf', got {self.algorithm!r}")
        if self.negative_sampling not in ("uniform", "popularity"):
            raise ValueError(f"negative_sampling must be 'uniform' or 'popularity', got {self.negative_sampling!r}")
        if self.loss not in ("squared", "log"):
            raise ValueError(f"online loss must be 'squared' or 'log', got {self.loss!r}")
        if self.cooccurrence_weight < 0:
            raise ValueError(f"cooccurrence_weight must be >= 0 (0 = off), got {self.cooccurrence_weight}")
        check_cooccurrence(self.cooccurrence_window, self.cooccurrence_neighbours, self.cooccurrence_decay)
        if self.n_factors < 1:
            raise ValueError(f"n_factors must be >= 1, got {self.n_factors}")
        if self.prequential_max_per_s is not None and not self.prequential_max_per_s > 0:
            raise ValueError(f"prequential_max_per_s must be > 0 (or None: no cap), got {self.prequential_max_per_s}")
        if not 0.0 <= self.prequential_sample <= 1.0:
            raise ValueError(f"prequential_sample must be within [0, 1], got {self.prequential_sample}")


class Recommendation(NamedTuple):
    items: list[str]
    scores: list[float]
    #: "personal" (factors + popularity) or "popular" (cold user)
    source: str


class OnlineRecommender:
    """Learns from `Interaction`s in order; serves top-K for any user.

    >>> from recstream.models.interaction import Interaction
    >>> rec = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0))
    >>> rec.learn([Interaction("e1", "u1", "i1", "click", None, 1.0), Interaction("e2", "u2", "i2", "view", None, 2.0)])
    >>> rec.recommend("u1", k=5).items  # i1 is already seen by u1
    ['i2']
    """

    #: Learned events between refreshes of the negative-sampling distribution.
    REFRESH_EVERY = 1_000
    #: Prequential probes kept for the drift monitor between drains.
    MAX_PROBES = 100_000
    #: Seconds for the prequential_max_per_s budget (tests replace it).
    clock: Callable[[], float] = staticmethod(time.monotonic)
    #: "Popular" for a probe's popular_share: the catalogue's top 1% (at least 10 items) by popularity.
    POPULAR_SHARE = 0.01

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
        self._link(ChunkLearner(self._model))
        self.popularity = DecayedPopularity(cfg.popularity_half_life_s)
        self.cooccurrence = _cooccurrence_for(cfg)
        #: user -> recent item rows, insertion-ordered so the oldest can be forgotten
        self._seen: dict[str, dict[int, None]] = {}
        self._user_events: dict[str, int] = {}
        self.events_learned = 0
        # The popularity CDF that negatives are drawn from, refreshed every REFRESH_EVERY events: rebuilding it
        # over the whole catalogue for every small chunk cost more than the chunk's learning.
        self._neg_cdf: np.ndarray | None = None
        self._neg_cdf_at = -self.REFRESH_EVERY
        self.prequential_hits = 0
        self.prequential_trials = 0
        #: (event ts, hit, top-1 score z, popular share) per prequential probe, for drift monitoring; bounded,
        #: so a worker whose probes nobody drains keeps only the newest.
        self.probes: deque[tuple[float, int, float, float]] = deque(maxlen=self.MAX_PROBES)
        self._target_cache: dict[tuple[str, float | None], float] = {}
        #: probes the prequential_max_per_s budget allows now, and when it was last topped up (clock seconds)
        self._probe_tokens = 0.0
        self._probe_clock_at: float | None = None
        #: (events learned when computed, mask) of the items probes count as popular
        self._popular: tuple[int, np.ndarray] | None = None

    @property
    def model(self) -> reco.base.Ranker:
        """The River model, its bias dicts brought up to date (the learner defers them, see chunk_sgd.py)."""
        self._learner.sync()
        return self._model

    def __getstate__(self) -> dict:
        self._learner.sync()  # River's bias dicts are what a checkpoint keeps
        state = self.__dict__.copy()
        # Derived (and absent from older checkpoints): the target cache from the config, the learner's row
        # matrices from the model (a pickle would store each factor vector twice, and unlink the views).
        del state["_target_cache"], state["_learner"]
        return state

    def __setstate__(self, state: dict) -> None:
        state.pop("_factors", None), state.pop("_biases", None)  # older checkpoints' copies of the model's
        if "model" in state:  # older checkpoints' name for it
            state["_model"] = state.pop("model")
        self.__dict__.update(state)
        self._target_cache = {}
        self._link(ChunkLearner(self._model, item_keys=state["item_ids"]))
        self.__dict__.setdefault("_popular", None)  # older checkpoints have none
        if "cooccurrence" not in state:  # older checkpoints: count from here on (their pickled config lacks the
            self.cooccurrence = _cooccurrence_for(self.config)  # co-occurrence fields: it reads the defaults)
        self._probe_tokens, self._probe_clock_at = 0.0, None  # another process's clock

    # ---- bookkeeping -------------------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self._user_events)

    @property
    def recall_at_10(self) -> float | None:
        """Prequential Recall@10 so far: share of evaluated positive events whose item was in the top-10."""
        return self.prequential_hits / self.prequential_trials if self.prequential_trials else None

    def _row(self, item_id: str) -> int:
        return self._learner.items.reserve(item_id)

    def _link(self, learner: ChunkLearner) -> None:
        # One numbering of items for the learner and for ranking: the learner's item matrix IS the ranking
        # matrix, so what a chunk learns is served from the next request on, with nothing to copy.
        self._learner = learner
        self.item_ids: list[str] = learner.items.keys  # type: ignore[assignment]
        self._item_row: dict[str, int] = learner.items.row  # type: ignore[assignment]

    @property
    def _factors(self) -> np.ndarray:
        return self._learner.items.matrix

    @property
    def _biases(self) -> np.ndarray:
        """Item biases (zeros for FunkMF)."""
        return self._learner.items.bias

    def target(self, event: Interaction) -> float:
        """The value the factor model learns for one event (0 = negative)."""
        return self._target(event.type, event.value)

    def _target(self, type_: str, value: float | None) -> float:
        cfg = self.config
        if type_ == "rating" or cfg.loss == "log":  # a class label, not a magnitude
            return 1.0 if is_positive(type_, value, cfg.event_weights, cfg.rating_threshold) else 0.0
        return implicit_weight(type_, value, cfg.event_weights)

    # ---- learning ----------------------------------------------------------------------------------------
    def _targets(self, types: Sequence[str], values: Sequence[float | None]) -> list[float]:
        cache = self._target_cache  # (type, value) -> target: most streams use a handful of pairs
        out = []
        for key in zip(types, values):
            t = cache.get(key)
            if t is None:
                t = self._target(*key)
                if len(cache) < 4096:
                    cache[key] = t
            out.append(t)
        return out

    def learn(self, events: Sequence[Interaction] | InteractionColumns, evaluate: bool = True) -> None:
        """Test-then-learn on `events` (in order): score a sample of positives, then update from all of them.

        The factor update equals River's `learn_one` per event, in order (compiled, see chunk_sgd.py); each
        positive's sampled negatives are learned after the chunk's events, in one step.
        """
        cols = events if isinstance(events, InteractionColumns) else InteractionColumns.of(events)
        if not len(cols):
            return
        cfg = self.config
        if self.events_learned - self._neg_cdf_at >= self.REFRESH_EVERY:
            self._refresh_negative_cdf()
        users, row_of = cols.user_ids, self._item_row
        rows = [row_of[i] if i in row_of else self._row(i) for i in cols.item_ids]
        targets = self._targets(cols.types, cols.values)
        if evaluate and cfg.prequential_sample > 0:
            self._evaluate(cols, rows, targets)
        neg_rows = self._sample_negatives(len(cols)).tolist() if cfg.negatives else None
        neg_events: list[int] = []
        neg_items: list[int] = []
        seen_by_user, user_events, cap = self._seen, self._user_events, cfg.max_seen_per_user
        for i, (user, row) in enumerate(zip(users, rows)):
            seen = seen_by_user.get(user)
            if neg_rows is not None and targets[i] > 0:
                for r in neg_rows[i]:
                    if r != row and (seen is None or r not in seen):
                        neg_events.append(i)
                        neg_items.append(r)
            # Remember the item as seen (most recent last; the oldest is forgotten past the cap).
            if seen is None:
                seen = seen_by_user[user] = {}
            seen.pop(row, None)
            seen[row] = None
            if len(seen) > cap:
                del seen[next(iter(seen))]
            user_events[user] = user_events.get(user, 0) + 1
        learner = self._learner
        learner.learn(users, cols.item_ids, targets)
        if neg_events:
            learner.learn_negatives(learner.last_user_rows[neg_events], np.array(neg_items, dtype=np.int64))
        # Popularity counts what users liked (measured on the MovieLens replay: counting low ratings too lost
        # 0.3 pt of Recall@10).
        weights = np.maximum(np.array(targets, dtype=np.float64), 0.0)
        self.popularity.add(np.array(rows, dtype=np.int64), weights, np.array(cols.ts, dtype=np.float64))
        if self.cooccurrence is not None:
            self.cooccurrence.learn(users, rows, weights > 0)
        self.events_learned += len(cols)

    def _refresh_negative_cdf(self) -> None:
        n = self.n_items
        cdf = np.cumsum(self.popularity.scores(n) + 1e-9)
        self._neg_cdf = cdf / cdf[-1] if n else None
        self._neg_cdf_at = self.events_learned

    def _sample_negatives(self, n_events: int) -> np.ndarray:
        shape = (n_events, self.config.negatives)
        if self.config.negative_sampling == "popularity" and self._neg_cdf is not None:
            # Items newer than the last refresh are not drawn until the next one.
            return np.searchsorted(self._neg_cdf, self._rng.random(shape), side="right").clip(
                max=len(self._neg_cdf) - 1)
        return self._rng.integers(0, self.n_items, size=shape)

    def _evaluate(self, events: InteractionColumns, rows: list[int], targets: list[float]) -> None:
        """Score a sample of this chunk's novel positive events against the state before the chunk."""
        n = self.n_items
        draws = self._rng.random(len(events))
        picks = []
        for i in np.flatnonzero(draws < self.config.prequential_sample).tolist():
            if targets[i] <= 0:
                continue
            seen = self._seen.get(events.user_ids[i])
            if seen is not None and rows[i] in seen:
                continue  # a repeat interaction is no test of discovery
            picks.append(i)
        if not picks or n == 0:
            return
        if self.config.prequential_max_per_s is not None:
            picks = picks[:self._probe_budget(len(picks))]
            if not picks:
                return
        base = self._popularity_term(n)  # fresh, as served: the metric must judge what users get
        popular = self._popular_items(n, base)
        scores = self._score_rows([events.user_ids[i] for i in picks], n, base)
        target = scores[np.arange(len(picks)), [rows[i] for i in picks]]
        # Rank of the target = how many items score at least as high (itself included: ties count against it).
        from . import kernels  # loaded with the learner (see chunk_sgd._loss_code)

        rank, z, share = kernels.probe_stats(scores, target, popular)
        hits = np.isfinite(target) & (rank <= 10)
        self.prequential_hits += int(hits.sum())
        self.prequential_trials += len(picks)
        for i, hit, top_z, popular_share in zip(picks, hits.tolist(), z.tolist(), share.tolist()):
            self.probes.append((events.ts[i], int(hit), top_z, popular_share))

    def _probe_budget(self, wanted: int) -> int:
        """How many of `wanted` probes prequential_max_per_s allows now: all of them (up to one second's worth)
        once the bucket holds that many, else none, the tokens saved for a later chunk. Probes come in bursts
        so that a sustained flood pays a probe's fixed cost (the catalogue's popularity, the output statistics)
        once per burst rather than once per chunk; a burst after a quiet spell is scored whole."""
        cap = self.config.prequential_max_per_s
        assert cap is not None
        now = self.clock()
        burst = max(int(cap), 1)  # below one a second: one probe every 1/cap seconds
        refill = burst if self._probe_clock_at is None else max(now - self._probe_clock_at, 0.0) * cap
        self._probe_clock_at = now
        self._probe_tokens = min(burst, self._probe_tokens + refill)
        granted = min(wanted, burst)
        if granted > self._probe_tokens:
            return 0
        self._probe_tokens -= granted
        return granted

    def _popular_items(self, n: int, base: np.ndarray) -> np.ndarray:
        """Which of the first `n` items count as popular for a probe's popular share: the catalogue's top 1%
        (at least 10 items), recomputed every REFRESH_EVERY events (a full partition per chunk cost more)."""
        cached = self._popular
        if cached is None or self.events_learned - cached[0] >= self.REFRESH_EVERY or len(cached[1]) > n:
            mask = np.zeros(n, dtype=bool)
            top = max(10, int(n * self.POPULAR_SHARE))
            mask[np.argpartition(base, -top)[-top:] if n > top else slice(None)] = True
            self._popular = cached = (self.events_learned, mask)
        mask = cached[1]
        return mask if len(mask) == n else np.concatenate([mask, np.zeros(n - len(mask), dtype=bool)])

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
        if cold:
            out[cold] = pop_term
        for k, user in enumerate(users):
            self._mask_seen(out[k], user)
        return out

    def drain_probes(self) -> list[tuple[float, int, float, float]]:
        """Hand over (and forget) the probes recorded since the last drain."""
        out = list(self.probes)
        self.probes.clear()
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
        if exclude_seen:
            self._mask_seen(scores, user_id)
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

    def _mask_seen(self, scores: np.ndarray, user_id: str) -> None:
        """The user's seen items at -inf in `scores` (one user's row)."""
        seen = self._seen.get(user_id)
        if seen:
            scores[np.fromiter(seen, dtype=np.int64, count=len(seen))] = -np.inf

    def _user_vector(self, user_id: str) -> np.ndarray | None:
        """The user's factors, or None while they get popular items (unknown, or too few events)."""
        if self._user_events.get(user_id, 0) < self.config.min_user_events:
            return None
        return self._model.u_latents.get(user_id)  # .get: never insert unknown users on the serving path

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

    def top_k(self, scores: np.ndarray, k: int, source: str) -> Recommendation:
        """The `k` best finite entries of `scores` (one per item row) as a Recommendation."""
        k_eff = min(k, len(scores))
        if k_eff <= 0:
            return Recommendation([], [], source)
        top = np.argpartition(-scores, k_eff - 1)[:k_eff]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        return Recommendation([self.item_ids[r] for r in top], [float(scores[r]) for r in top], source)

    def recent_items(self, user_id: str, n: int) -> list[str]:
        """The user's `n` most recent distinct items, oldest first (what sequence models read)."""
        seen = self._seen.get(user_id)
        if not seen:
            return []
        rows = list(islice(reversed(seen), n))
        return [self.item_ids[r] for r in reversed(rows)]


def _cooccurrence_for(cfg: OnlineConfig) -> CoOccurrence | None:
    """The co-occurrence counts `cfg` asks for (None when its weight is 0: no counting, no cost)."""
    if cfg.cooccurrence_weight <= 0:
        return None
    return CoOccurrence(cfg.cooccurrence_window, cfg.cooccurrence_neighbours, cfg.cooccurrence_decay)


def recall_ci(hits: int, trials: int) -> tuple[float, float]:
    """Wilson 95% interval for a hit rate (used when reporting replay results)."""
    if trials == 0:
        return (0.0, 1.0)
    z, p = 1.96, hits / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (centre - half, centre + half)


def _output_stats(scores: np.ndarray, popular: np.ndarray) -> tuple[float, float]:
    """(top-1 score as a z-score over the rankable items, share of the top-10 that is popular, ties to the lower
    column) for one list: the definition `kernels.probe_stats` computes for many at once (the tests compare)."""
    finite = np.isfinite(scores)
    valid = scores[finite]
    if valid.size == 0:
        return 0.0, 0.0
    std = float(valid.std())
    z = (float(valid.max()) - float(valid.mean())) / std if std > 0 else 0.0
    top = np.flatnonzero(finite)[np.argsort(-valid, kind="stable")[:10]]
    return z, float(popular[top].mean())
