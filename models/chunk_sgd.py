"""River's matrix-factorisation SGD applied to a whole chunk of events with NumPy, on River's own state.

`learn_one` costs ~16 us a call, nearly all of it Python overhead around a 32-float update; the worker learned
~18k events/s with one call per event. Here a chunk is split into *waves*: an event goes one wave after the
last earlier event that shares its user or its item. Inside a wave no two events touch the same user or item,
so updating a wave at once with array operations changes exactly what calling `learn_one` on its events in
order would (the global mean, the one shared term, is known per event in advance). The result equals River's
`learn_one` loop up to float rounding (tests/models/test_chunk_sgd.py), and new users and items draw their
initial factors from River's initializer in the same order.

The factors live in one matrix per side (`FactorRows`), River's dicts holding views of its rows, and the
biases in one array per side that River's dicts get on `sync()` (pickling the recommender syncs): a wave reads
and writes its rows with a fancy index, never with a loop over keys.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from river import optim, reco


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
        self._changed: list[np.ndarray] = []
        capacity = max(1024, 2 * max(len(keys), len(latents)))
        self.matrix = np.zeros((capacity, n_factors), dtype=np.float64)
        self.bias = np.zeros(capacity, dtype=np.float64)
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
        old = len(self.matrix)
        self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
        self.bias = np.concatenate([self.bias, np.zeros(old)])
        latents = self.latents
        for key, r in self.row.items():  # re-point every view at the new matrix (amortised O(1) a key)
            if key in latents:
                latents[key] = self.matrix[r]

    def changed(self, rows: np.ndarray) -> None:
        """Note that the biases of `rows` changed: River's dict gets them at the next `sync`."""
        if self.biases is not None and len(rows):
            self._changed.append(rows)

    def sync(self) -> None:
        """Copy the changed biases into River's dict. Deferred because copying after every chunk cost ~2 us an
        event; the factors need nothing (the dict holds views of the matrix)."""
        if self.biases is None or not self._changed:
            return
        rows = np.unique(np.concatenate(self._changed))
        self._changed.clear()
        keys = self.keys
        self.biases.update(zip([keys[r] for r in rows.tolist()], self.bias[rows].tolist()))


def _rate(optimizer: optim.base.Optimizer) -> float:
    if not isinstance(optimizer, optim.SGD) or not isinstance(optimizer.lr, optim.schedulers.Constant):
        raise TypeError(f"chunk learning needs plain SGD with a constant learning rate, got {optimizer!r}")
    return float(optimizer.learning_rate)


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
        self.users = FactorRows(model.u_latents, getattr(model, "u_biases", None), model.n_factors)
        self.items = FactorRows(model.i_latents, getattr(model, "i_biases", None), model.n_factors, item_keys)
        #: the user row of each event of the last `learn` call (what `learn_negatives` takes)
        self.last_user_rows = np.zeros(0, dtype=np.int64)

    def sync(self) -> None:
        """Bring River's bias dicts up to date (before anyone reads or pickles the River model)."""
        self.users.sync()
        self.items.sync()

    def learn(self, users: Sequence[Hashable], items: Sequence[Hashable], ys: Sequence[float]) -> None:
        """Learn (users[j], items[j], ys[j]) in order, as `model.learn_one` would."""
        if not users:
            self.last_user_rows = np.zeros(0, dtype=np.int64)
            return
        model, biased, l2, l2b = self.model, self.biased, self.l2, self.l2b
        lr_u, lr_i, lr_bu, lr_bi = self.rates
        U_side, I_side = self.users, self.items
        u_rows, i_rows, i_lat = U_side.row, I_side.row, I_side.latents
        # Rows per event, touching keys in learn_one's order (user, then item): a new key's factors are drawn
        # from the initializer's RNG exactly when learn_one would draw them. Waves: see the module docstring.
        u_wave: dict[int, int] = {}
        i_wave: dict[int, int] = {}
        ux: list[int] = []
        ix: list[int] = []
        wave: list[int] = []
        for u, i in zip(users, items, strict=True):
            a = u_rows.get(u)
            if a is None:
                a = U_side.index(u)
            b = i_rows.get(i)
            if b is None or i not in i_lat:
                b = I_side.index(i)
            wa, wb = u_wave.get(a, -1), i_wave.get(b, -1)
            w = (wa if wa > wb else wb) + 1
            u_wave[a] = i_wave[b] = w
            ux.append(a)
            ix.append(b)
            wave.append(w)
        MU, MV, BU, BI = U_side.matrix, I_side.matrix, U_side.bias, I_side.bias
        y = np.asarray(ys, dtype=np.float64)
        uxa, ixa, wv = np.array(ux), np.array(ix), np.array(wave)
        if biased:
            # learn_one updates the mean with y, then predicts: the mean each event sees, in order.
            gm = model.global_mean
            means = (gm.n * gm.get() + np.cumsum(y)) / (gm.n + np.arange(1, len(y) + 1))
            gm.update_many(y)
        n_waves = int(wv.max()) + 1
        order = np.argsort(wv, kind="stable") if n_waves > 1 else np.arange(len(wv))
        cuts = np.searchsorted(wv[order], np.arange(1, n_waves)) if n_waves > 1 else ()
        for sel in np.split(order, cuts):
            a, b = uxa[sel], ixa[sel]
            Ua, Vb = MU[a], MV[b]
            dot = np.einsum("ij,ij->i", Ua, Vb)
            if biased:
                ba, bb = BU[a], BI[b]
                pred = means[sel] + ba  # River's order of additions: mean + user bias + item bias + dot
                pred += bb
                pred += dot
            else:
                pred = dot
            g = np.clip(model.loss.gradient(y[sel], pred), -model.clip_gradient, model.clip_gradient)
            gc = g[:, None]
            MU[a] = Ua - lr_u * (gc * Vb + l2 * Ua)  # the dicts' views see the new values
            MV[b] = Vb - lr_i * (gc * Ua + l2 * Vb)
            if biased:
                BU[a] = ba - lr_bu * (g + l2b * ba)
                BI[b] = bb - lr_bi * (g + l2b * bb)
        self.last_user_rows = uxa
        U_side.changed(uxa)
        I_side.changed(ixa)

    def learn_negatives(self, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        """One SGD step towards target 0 for every (user_rows[k], item_rows[k]), all from the same state: a user
        or item drawn twice gets the sum of its updates. Same gradient as learn_one; no per-call overhead."""
        n = len(user_rows)
        if n == 0:
            return
        model, l2, l2b = self.model, self.l2, self.l2b
        lr_u, lr_i, lr_bu, lr_bi = self.rates
        U_side, I_side = self.users, self.items
        uq, ui = np.unique(user_rows, return_inverse=True)
        iq, ii = np.unique(item_rows, return_inverse=True)
        for side, rows in ((U_side, uq), (I_side, iq)):
            if len(side.latents) < len(side.keys):  # some reserved row was never learned: give it factors first
                for key in [side.keys[r] for r in rows.tolist() if side.keys[r] not in side.latents]:
                    side.index(key)
        U, V = U_side.matrix[uq], I_side.matrix[iq]
        Uu, Vi = U[ui], V[ii]
        pred = np.einsum("ij,ij->i", Uu, Vi)
        if self.biased:
            model.global_mean.update(0.0, w=n)  # learn_one updates the mean with y before it predicts
            bu, bi = U_side.bias[uq], I_side.bias[iq]
            pred += model.global_mean.get() + bu[ui] + bi[ii]
        g = np.clip(model.loss.gradient(np.zeros(n), pred), -model.clip_gradient, model.clip_gradient)
        cu = np.bincount(ui, minlength=len(uq))
        ci = np.bincount(ii, minlength=len(iq))
        dU = l2 * cu[:, None] * U
        dU += _sum_rows(ui, g[:, None] * Vi, len(uq))
        dV = l2 * ci[:, None] * V
        dV += _sum_rows(ii, g[:, None] * Uu, len(iq))
        U_side.matrix[uq] = U - lr_u * dU
        I_side.matrix[iq] = V - lr_i * dV
        if self.biased:
            U_side.bias[uq] = bu - lr_bu * (np.bincount(ui, weights=g, minlength=len(uq)) + l2b * cu * bu)
            I_side.bias[iq] = bi - lr_bi * (np.bincount(ii, weights=g, minlength=len(iq)) + l2b * ci * bi)
            U_side.changed(uq)
            I_side.changed(iq)


def _sum_rows(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """out[r] = sum of values[k] where index[k] == r (np.add.at, ~2x faster: one sort and one reduceat)."""
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    out = np.zeros((n, values.shape[1]), dtype=values.dtype)
    out[ordered[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out
