"""River's matrix-factorisation SGD applied to a whole chunk of events, on River's own state.

`learn_one` costs ~16 us a call, nearly all of it Python overhead around a 32-float update; the worker learned
~18k events/s with one call per event. Here a chunk's keys are turned into matrix rows in Python (one dict
lookup each) and the updates run as one compiled loop over the rows, in order (kernels.py): the result
equals River's `learn_one` loop up to float rounding (tests/models/online/test_chunk_sgd.py). New users draw their
initial factors from River's initializer in the same order; a new item draws from River's normal seeded by the
item's name, so every worker starts an item alike and can add the others' changes to it (item_deltas.py). (The version before this one updated
"waves" of events sharing no user or item with NumPy array operations: ~20 waves a 200-event chunk, ~15 NumPy
calls each, cost ~4 us an event; the compiled loop ~0.1 us.)

The factors live in one matrix per side (`FactorRows`) and the biases in one array per side; River's dicts get
views of the rows and the biases on `sync()`, for whoever reads River's model.
"""

from __future__ import annotations

import collections
import copy
import zlib
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from river import optim, reco

from recstream.models.online.arrays import grown


class FactorRows:
    """Every key of one side (users or items) as a row: its factors in `matrix` and its bias in `bias`. These
    arrays are the only copy: River's dicts are filled by `sync()` (views of the rows, and the biases), for a
    caller that reads River's model (the owner's `model` property); a million views cost ~150 MB.

    A row can be reserved before the key has factors (the recommender numbers items as it first sees them);
    the factors are drawn from River's initializer when the key is first learned, as learn_one would. A
    released row (an evicted user) is reused by the next new key.
    """

    def __init__(self, latents: dict[Hashable, np.ndarray], biases: dict[Hashable, float] | None, n_factors: int,
                 keys: Sequence[Hashable] = (), keyed: bool = False) -> None:
        self.latents = latents
        self.biases = biases
        #: River's initializer: drawing from it directly draws what `latents[new_key]` would, in the same order
        self.draw = latents.default_factory  # type: ignore[attr-defined]
        #: `keyed`: a key's first factors come from its name (River's normal, seeded by it), the same on every
        #: worker, wherever the key comes first (item rows: peers add each other's changes to them)
        init = getattr(self.draw, "func", None)
        self._keyed = (init.mu, init.sigma, (init.seed or 0) & 0xFFFFFFFF) if keyed and hasattr(init, "sigma") else None
        self.row: dict[Hashable, int] = {}
        #: each row's key (None: a released row, reused next)
        self.keys: list[Hashable] = []
        self._free: list[int] = []
        capacity = max(1024, 2 * max(len(keys), len(latents)))
        self.matrix = np.zeros((capacity, n_factors), dtype=np.float64)
        self.bias = np.zeros(capacity, dtype=np.float64)
        #: whether each row's factors were drawn (a reserved row has none until its key is learned)
        self.has = np.zeros(capacity, dtype=np.bool_)
        self._number(keys)  # the owner's numbering first (holes included), then whatever else the model holds
        for key in list(latents):
            self.reserve(key)
        for key, r in self.row.items():  # a model that holds factors in its dicts (River's own, older checkpoints)
            vec = latents.get(key)
            if vec is not None:
                self.matrix[r], self.has[r] = vec, True
            if biases is not None:
                self.bias[r] = biases.get(key, 0.0)
        latents.clear()
        if biases is not None:
            biases.clear()

    def _number(self, keys: Sequence[Hashable]) -> None:
        """Rows for `keys` in order after the ones numbered so far (the arrays hold them), a None key a free row."""
        for key in keys:
            if key is None:
                self._free.append(len(self.keys))
            else:
                self.row[key] = len(self.keys)
            self.keys.append(key)

    def reserve(self, key: Hashable) -> int:
        """The key's row, numbering it next if new (its factors stay zero until it is learned)."""
        r = self.row.get(key)
        if r is not None:
            return r
        if self._free:
            r = self._free.pop()
            self.keys[r] = key
        else:
            r = len(self.keys)
            if r == len(self.matrix):
                self.matrix, self.bias, self.has = (grown(a, 2 * len(a)) for a in (self.matrix, self.bias, self.has))
            self.keys.append(key)
        self.row[key] = r
        return r

    def index(self, key: Hashable) -> int:
        """The key's row, its factors drawn by River's initializer if it has none yet."""
        r = self.reserve(key)
        if not self.has[r]:
            self.matrix[r], self.has[r] = self.first_factors(key), True
        return r

    def first_factors(self, key: Hashable) -> np.ndarray:
        """A new key's factors: River's initializer's next draw, or (keyed rows) a draw seeded by the key."""
        if self._keyed is None:
            return self.draw()
        from recstream.models.online import kernels

        mu, sigma, seed = self._keyed
        name = np.uint64((zlib.crc32(str(key).encode()) << 32) | seed)
        return kernels.hashed_normals(name, self.matrix.shape[1], mu, sigma)

    def release(self, key: Hashable) -> int:
        """Forget `key` (its factors, bias and row, which the next new key reuses); its former row."""
        r = self.row.pop(key)
        self.keys[r] = None
        self.matrix[r], self.bias[r], self.has[r] = 0.0, 0.0, False
        self._free.append(r)
        return r

    def put(self, key: Hashable, factors: np.ndarray, bias: float) -> int:
        """`key` with these factors and bias (as learned elsewhere, or before it was released); its row."""
        r = self.reserve(key)
        self.matrix[r], self.bias[r], self.has[r] = factors, bias, True
        return r

    def sync(self) -> None:
        """River's dicts as the rows are now: a view of each learned key's factor row, and every bias."""
        self.latents.clear()
        learned = [(k, r) for k, r in self.row.items() if self.has[r]]
        self.latents.update((k, self.matrix[r]) for k, r in learned)
        if self.biases is not None:
            self.biases.clear()
            self.biases.update(zip([k for k, _ in learned], self.bias[[r for _, r in learned]].tolist()))

    def __getstate__(self) -> dict:
        # Only the rows in use; not River's dicts (the owner pickles its River model without factors).
        n = len(self.keys)
        return {"keys": self.keys, "matrix": self.matrix[:n].copy(), "bias": self.bias[:n].copy(),
                "has": self.has[:n].copy()}

    def load(self, state: dict) -> None:
        """The rows of a pickled FactorRows (`__getstate__`), over this one's (built for the same model)."""
        size = max(1024, 2 * len(state["keys"]))
        self.matrix, self.bias, self.has = (grown(state[k], size) for k in ("matrix", "bias", "has"))
        self.keys, self.row, self._free = [], {}, []
        self._number(state["keys"])


def _rate(optimizer: optim.base.Optimizer) -> float:
    if not isinstance(optimizer, optim.SGD) or not isinstance(optimizer.lr, optim.schedulers.Constant):
        raise TypeError(f"chunk learning needs plain SGD with a constant learning rate, got {optimizer!r}")
    return float(optimizer.learning_rate)


def _loss_code(loss: optim.losses.Loss) -> int:
    # kernels (numba) is imported where it is first needed: `import numba` costs ~0.5-0.8 s, which CLI commands
    # that never learn should not pay.
    from recstream.models.online import kernels

    if type(loss) is optim.losses.Squared:
        return kernels.SQUARED
    if type(loss) is optim.losses.Log and loss.weight_pos == 1.0 and loss.weight_neg == 1.0:
        return kernels.LOG
    raise TypeError(f"chunk learning knows River's Squared and unweighted Log losses, got {loss!r}")


class ChunkLearner:
    """Learns chunks of events into a River BiasedMF or FunkMF (see the module docstring)."""

    def __init__(self, model: reco.BiasedMF | reco.FunkMF, item_keys: Sequence[Hashable] = (),
                 user_keys: Sequence[Hashable] = ()) -> None:
        self.model = model
        self.biased = isinstance(model, reco.BiasedMF)
        if self.biased:
            self.rates = (_rate(model.u_latent_optimizer), _rate(model.i_latent_optimizer),
                          _rate(model.u_bias_optimizer), _rate(model.i_bias_optimizer))
            self.l2, self.l2b = model.l2_latent, model.l2_bias
        else:
            self.rates = (_rate(model.u_optimizer), _rate(model.i_optimizer), 0.0, 0.0)
            self.l2, self.l2b = model.l2, 0.0
        self.loss = _loss_code(model.loss)
        self.users = FactorRows(model.u_latents, getattr(model, "u_biases", None), model.n_factors, user_keys)
        self.items = FactorRows(model.i_latents, getattr(model, "i_biases", None), model.n_factors, item_keys,
                                keyed=True)
        #: the user row of each event of the last `learn` call (what `learn_negatives` takes)
        self.last_user_rows = np.zeros(0, dtype=np.int64)
        #: where changes to item rows are kept for peers (item_deltas.ItemSideLog; None: nobody to tell)
        self.item_log: Any = None

    def _item_steps(self, rows: np.ndarray) -> tuple | None:
        """Before item `rows` are stepped: what they were, for `_item_stepped` (None when nobody is told)."""
        if self.item_log is None:
            return None
        rows = np.unique(rows)
        return rows, self.items.matrix[rows], self.items.bias[rows]  # (fancy indexing copies)

    def _item_stepped(self, before: tuple | None) -> None:
        if before is not None:
            rows, m, b = before
            self.item_log.stepped(rows, self.items.matrix[rows] - m, self.items.bias[rows] - b)

    def sync(self) -> None:
        """Bring River's bias dicts up to date (before anyone reads or pickles the River model)."""
        self.users.sync()
        self.items.sync()

    def _step_args(self) -> tuple:
        return (*self.rates, self.l2, self.l2b, float(self.model.clip_gradient), self.loss, self.biased)

    def learn(self, users: Sequence[Hashable], items: Sequence[Hashable], ys: Sequence[float]) -> None:
        """Learn (users[j], items[j], ys[j]) in order, as `model.learn_one` would."""
        if not users:
            self.last_user_rows = np.zeros(0, dtype=np.int64)
            return
        U_side, I_side = self.users, self.items
        u_rows, i_rows = U_side.row, I_side.row
        # Rows per event, touching keys in learn_one's order (user, then item): a new key's factors are drawn
        # from the initializer's RNG exactly when learn_one would draw them.
        ux: list[int] = []
        ix: list[int] = []
        for u, i in zip(users, items, strict=True):
            a = u_rows.get(u)
            ux.append(U_side.index(u) if a is None else a)  # (a user's row is only ever made by index or put)
            b = i_rows.get(i)
            ix.append(I_side.index(i) if b is None or not I_side.has[b] else b)  # (`has` may grow in the loop)
        y = np.asarray(ys, dtype=np.float64)
        uxa, ixa = np.array(ux, dtype=np.int64), np.array(ix, dtype=np.int64)
        if self.biased:
            # learn_one updates the mean with y, then predicts: the mean each event sees, in order.
            gm = self.model.global_mean
            means = (gm.n * gm.get() + np.cumsum(y)) / (gm.n + np.arange(1, len(y) + 1))
            gm.update_many(y)
        else:
            means = y  # unused
        from recstream.models.online import kernels  # loaded by __init__ already (see _loss_code)

        before = self._item_steps(ixa)
        kernels.learn_in_order(U_side.matrix, I_side.matrix, U_side.bias, I_side.bias, uxa, ixa, y, means,
                               *self._step_args())
        self._item_stepped(before)
        self.last_user_rows = uxa

    def learn_negatives(self, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        """One SGD step towards target 0 for every (user_rows[k], item_rows[k]), all from the same state: a user
        or item drawn twice gets the sum of its updates. Same gradient as learn_one; no per-call overhead."""
        if len(user_rows) == 0:
            return
        U_side, I_side = self.users, self.items
        for side, rows in ((U_side, user_rows), (I_side, item_rows)):
            for r in np.unique(rows[~side.has[rows]]).tolist():  # a reserved row never learned: factors first
                side.index(side.keys[r])
        mean = 0.0
        if self.biased:
            gm = self.model.global_mean
            gm.update(0.0, w=len(user_rows))  # learn_one updates the mean with y before it predicts
            mean = gm.get()
        users, items = np.asarray(user_rows, dtype=np.int64), np.asarray(item_rows, dtype=np.int64)
        from recstream.models.online import kernels

        before = self._item_steps(items)
        kernels.learn_summed_negatives(U_side.matrix, I_side.matrix, U_side.bias, I_side.bias, users, items,
                                       mean, *self._step_args())
        self._item_stepped(before)


def without_factors(model: reco.base.Ranker) -> reco.base.Ranker:
    """A shallow copy of a River MF model whose factor and bias dicts are empty (the learner's rows hold them)."""
    bare = copy.copy(model)
    for name in ("u_latents", "i_latents", "u_biases", "i_biases"):
        d = getattr(model, name, None)
        if d is not None:
            setattr(bare, name, collections.defaultdict(d.default_factory))
    return bare
