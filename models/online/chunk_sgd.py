"""River's matrix-factorisation SGD applied to a whole chunk of events, on River's own state.

`learn_one` costs ~16 us a call, nearly all of it Python overhead around a 32-float update; the worker learned
~18k events/s with one call per event. Here a chunk's keys are turned into matrix rows in Python (one dict
lookup each) and the updates run as one compiled loop over the rows, in order (kernels.py): the result
equals River's `learn_one` loop up to float rounding (tests/models/online/test_chunk_sgd.py), and new users and items
draw their initial factors from River's initializer in the same order. (The version before this one updated
"waves" of events sharing no user or item with NumPy array operations: ~20 waves a 200-event chunk, ~15 NumPy
calls each, cost ~4 us an event; the compiled loop ~0.1 us.)

The factors live in one matrix per side (`FactorRows`), River's dicts holding views of its rows, and the
biases in one array per side that River's dicts get on `sync()` (pickling the recommender syncs).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from river import optim, reco

from recstream.models.online.arrays import grown


class FactorRows:
    """Every key of one side (users or items) as a row: its factors in `matrix`, the River latent dict's value
    being a view of that row, and its bias in `bias`.

    A row can be reserved before the key has factors (the recommender numbers items as it first sees them);
    the factors are drawn from River's initializer when the key is first learned, as learn_one would.
    Not pickled: a pickle turns the views into separate arrays, so the owner builds a new one after loading.
    """

    def __init__(self, latents: dict[Hashable, np.ndarray], biases: dict[Hashable, float] | None, n_factors: int,
                 keys: Sequence[Hashable] = ()) -> None:
        self.latents = latents
        self.biases = biases
        self.row: dict[Hashable, int] = {}
        self.keys: list[Hashable] = []
        capacity = max(1024, 2 * max(len(keys), len(latents)))
        self.matrix = np.zeros((capacity, n_factors), dtype=np.float64)
        self.bias = np.zeros(capacity, dtype=np.float64)
        #: rows whose bias changed since the last `sync`: a flag per row, so what it holds is bounded by the
        #: keys, not by the events between two syncs (a list of each chunk's rows grew ~18 MB per million
        #: events, for ever where no checkpoint or explanation ever synced)
        self._changed = np.zeros(capacity, dtype=np.bool_)
        for key in keys:  # the owner's numbering first, then whatever else the model holds
            self.reserve(key)
        for key in list(latents):
            self.reserve(key)
        for key, r in self.row.items():
            vec = latents.get(key)
            if vec is not None:
                self.matrix[r] = vec
                latents[key] = self.matrix[r]
            if biases is not None:
                self.bias[r] = biases.get(key, 0.0)

    def reserve(self, key: Hashable) -> int:
        """The key's row, numbering it next if new (its factors stay zero until it is learned)."""
        r = self.row.get(key)
        if r is not None:
            return r
        r = len(self.keys)
        if r == len(self.matrix):
            self._grow()
        self.row[key] = r
        self.keys.append(key)
        return r

    def index(self, key: Hashable) -> int:
        """The key's row, its factors drawn by River's initializer (the defaultdict) if it has none yet."""
        r = self.row.get(key)
        if r is None:
            r = self.reserve(key)
        if key not in self.latents:
            self.matrix[r] = self.latents[key]
            self.latents[key] = self.matrix[r]
        return r

    def _grow(self) -> None:
        self.matrix, self.bias, self._changed = (grown(a, 2 * len(a)) for a in (self.matrix, self.bias, self._changed))
        latents = self.latents
        for key, r in self.row.items():  # re-point every view at the new matrix (amortised O(1) a key)
            if key in latents:
                latents[key] = self.matrix[r]

    def changed(self, rows: np.ndarray) -> None:
        """Note that the biases of `rows` changed: River's dict gets them at the next `sync`."""
        if self.biases is not None and len(rows):
            self._changed[rows] = True

    def sync(self) -> None:
        """Copy the changed biases into River's dict. Deferred because copying after every chunk cost ~2 us an
        event; the factors need nothing (the dict holds views of the matrix)."""
        if self.biases is None:
            return
        rows = np.flatnonzero(self._changed)
        self._changed[rows] = False
        keys = self.keys
        self.biases.update(zip([keys[r] for r in rows.tolist()], self.bias[rows].tolist()))


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

    def __init__(self, model: reco.BiasedMF | reco.FunkMF, item_keys: Sequence[Hashable] = ()) -> None:
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
        self.users = FactorRows(model.u_latents, getattr(model, "u_biases", None), model.n_factors)
        self.items = FactorRows(model.i_latents, getattr(model, "i_biases", None), model.n_factors, item_keys)
        #: the user row of each event of the last `learn` call (what `learn_negatives` takes)
        self.last_user_rows = np.zeros(0, dtype=np.int64)

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
        u_rows, i_rows, i_lat = U_side.row, I_side.row, I_side.latents
        # Rows per event, touching keys in learn_one's order (user, then item): a new key's factors are drawn
        # from the initializer's RNG exactly when learn_one would draw them.
        ux: list[int] = []
        ix: list[int] = []
        for u, i in zip(users, items, strict=True):
            a = u_rows.get(u)
            ux.append(U_side.index(u) if a is None else a)
            b = i_rows.get(i)
            ix.append(I_side.index(i) if b is None or i not in i_lat else b)
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

        kernels.learn_in_order(U_side.matrix, I_side.matrix, U_side.bias, I_side.bias, uxa, ixa, y, means,
                               *self._step_args())
        self.last_user_rows = uxa
        U_side.changed(uxa)
        I_side.changed(ixa)

    def learn_negatives(self, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        """One SGD step towards target 0 for every (user_rows[k], item_rows[k]), all from the same state: a user
        or item drawn twice gets the sum of its updates. Same gradient as learn_one; no per-call overhead."""
        if len(user_rows) == 0:
            return
        U_side, I_side = self.users, self.items
        for side, rows in ((U_side, user_rows), (I_side, item_rows)):
            if len(side.latents) < len(side.keys):  # some reserved row was never learned: give it factors first
                for key in [side.keys[r] for r in np.unique(rows).tolist() if side.keys[r] not in side.latents]:
                    side.index(key)
        mean = 0.0
        if self.biased:
            gm = self.model.global_mean
            gm.update(0.0, w=len(user_rows))  # learn_one updates the mean with y before it predicts
            mean = gm.get()
        users, items = np.asarray(user_rows, dtype=np.int64), np.asarray(item_rows, dtype=np.int64)
        from recstream.models.online import kernels

        kernels.learn_summed_negatives(U_side.matrix, I_side.matrix, U_side.bias, I_side.bias, users, items,
                                       mean, *self._step_args())
        U_side.changed(users)
        I_side.changed(items)
