"""River's matrix-factorisation SGD applied to a whole chunk of events with NumPy, on River's own state.

`learn_one` costs ~16 us a call, nearly all of it Python overhead around a 32-float update; the worker learned
~18k events/s with one call per event. Here a chunk is split into *waves*: an event goes one wave after the
last earlier event that shares its user or its item. Inside a wave no two events touch the same user or item,
so updating a wave at once with array operations changes exactly what calling `learn_one` on its events in
order would (the global mean, the one shared term, is known per event in advance). The result equals River's
`learn_one` loop up to float rounding (tests/models/test_chunk_sgd.py), and new users and items draw their
initial factors from River's initializer in the same order.

Sampled negatives are then learned in one summed step (see `OnlineRecommender` for why).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from river import optim, reco


@dataclass(frozen=True)
class ChunkUpdate:
    """The items a chunk changed, with their factors and biases after it (to mirror into the ranking matrix)."""

    items: list[Hashable]
    factors: np.ndarray
    #: None for FunkMF (no biases)
    biases: np.ndarray | None


class FactorRows:
    """Every key's factors of one River latent dict as a row of one matrix, the dict's values being views of
    those rows: a chunk reads and writes its rows with one fancy index each instead of a loop over keys (the
    loop cost ~0.7 us a key), and whatever River's own learn_one changes lands in the matrix too.

    Not pickled: a pickle turns the views into separate arrays, so the owner builds a new one after loading.
    """

    def __init__(self, latents: dict[Hashable, np.ndarray], n_factors: int) -> None:
        self.latents = latents
        self.row: dict[Hashable, int] = {}
        self.matrix = np.zeros((max(1024, 2 * len(latents)), n_factors), dtype=np.float64)
        for key in list(latents):
            self._adopt(key, latents[key])

    def _adopt(self, key: Hashable, vec: np.ndarray) -> int:
        r = len(self.row)
        if r == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
            for k, kr in self.row.items():  # re-point every view at the new matrix (amortised O(1) a key)
                self.latents[k] = self.matrix[kr]
        self.matrix[r] = vec
        self.row[key] = r
        self.latents[key] = self.matrix[r]
        return r

    def index(self, key: Hashable) -> int:
        """The key's row; a new key's factors are drawn by River's initializer (the defaultdict) first."""
        r = self.row.get(key)
        return self._adopt(key, self.latents[key]) if r is None else r


def _rate(optimizer: optim.base.Optimizer) -> float:
    if not isinstance(optimizer, optim.SGD) or not isinstance(optimizer.lr, optim.schedulers.Constant):
        raise TypeError(f"chunk learning needs plain SGD with a constant learning rate, got {optimizer!r}")
    return float(optimizer.learning_rate)


class ChunkLearner:
    """Learns chunks of events into a River BiasedMF or FunkMF (see the module docstring)."""

    def __init__(self, model: reco.BiasedMF | reco.FunkMF) -> None:
        self.model = model
        self.biased = isinstance(model, reco.BiasedMF)
        if self.biased:
            self.rates = (_rate(model.u_latent_optimizer), _rate(model.i_latent_optimizer),
                          _rate(model.u_bias_optimizer), _rate(model.i_bias_optimizer))
            self.l2, self.l2b = model.l2_latent, model.l2_bias
        else:
            self.rates = (_rate(model.u_optimizer), _rate(model.i_optimizer), 0.0, 0.0)
            self.l2, self.l2b = model.l2, 0.0
        self.users = FactorRows(model.u_latents, model.n_factors)
        self.items = FactorRows(model.i_latents, model.n_factors)

    def learn(self, users: Sequence[Hashable], items: Sequence[Hashable], ys: Sequence[float],
              neg_users: Sequence[Hashable] = (), neg_items: Sequence[Hashable] = ()) -> ChunkUpdate:
        """Learn (users[j], items[j], ys[j]) in order, as `model.learn_one` would; then one step towards 0 for
        every (neg_users[k], neg_items[k])."""
        model, biased, l2, l2b = self.model, self.biased, self.l2, self.l2b
        lr_u, lr_i, lr_bu, lr_bi = self.rates
        u_rows, i_rows = self.users.row, self.items.row
        u_index, i_index = self.users.index, self.items.index

        # Index the chunk's users and items, touching each in learn_one's order (user, then item, per event): a
        # new key's defaultdict draws its initial factors from the initializer's RNG exactly when learn_one would.
        u_idx: dict[Hashable, int] = {}
        i_idx: dict[Hashable, int] = {}
        u_at: list[int] = []  # chunk index -> matrix row
        i_at: list[int] = []
        u_wave: list[int] = []
        i_wave: list[int] = []
        ux: list[int] = []
        ix: list[int] = []
        wave: list[int] = []
        for u, i in zip(users, items, strict=True):
            a = u_idx.get(u)
            if a is None:
                a = u_idx[u] = len(u_at)
                r = u_rows.get(u)
                u_at.append(u_index(u) if r is None else r)
                u_wave.append(-1)
            b = i_idx.get(i)
            if b is None:
                b = i_idx[i] = len(i_at)
                r = i_rows.get(i)
                i_at.append(i_index(i) if r is None else r)
                i_wave.append(-1)
            w = (u_wave[a] if u_wave[a] > i_wave[b] else i_wave[b]) + 1
            u_wave[a] = i_wave[b] = w
            ux.append(a)
            ix.append(b)
            wave.append(w)
        nux, nix = [], []
        for u, i in zip(neg_users, neg_items, strict=True):
            a = u_idx.get(u)
            if a is None:
                a = u_idx[u] = len(u_at)
                u_at.append(u_index(u))
            b = i_idx.get(i)
            if b is None:
                b = i_idx[i] = len(i_at)
                i_at.append(i_index(i))
            nux.append(a)
            nix.append(b)

        U = self.users.matrix[u_at]
        V = self.items.matrix[i_at]
        if biased:
            u_b, i_b = model.u_biases, model.i_biases
            bu = np.fromiter((u_b[u] for u in u_idx), dtype=np.float64, count=len(u_idx))
            bi = np.fromiter((i_b[i] for i in i_idx), dtype=np.float64, count=len(i_idx))

        if ux:
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
                Ua, Vb = U[a], V[b]
                dot = np.einsum("ij,ij->i", Ua, Vb)
                if biased:
                    ba, bb = bu[a], bi[b]
                    pred = means[sel] + ba  # River's order of additions: mean + user bias + item bias + dot
                    pred += bb
                    pred += dot
                else:
                    pred = dot
                g = np.clip(model.loss.gradient(y[sel], pred), -model.clip_gradient, model.clip_gradient)
                gc = g[:, None]
                U[a] = Ua - lr_u * (gc * Vb + l2 * Ua)
                V[b] = Vb - lr_i * (gc * Ua + l2 * Vb)
                if biased:
                    bu[a] = ba - lr_bu * (g + l2b * ba)
                    bi[b] = bb - lr_bi * (g + l2b * bb)

        if nux:
            _negative_step(model, U, V, bu if biased else None, bi if biased else None, np.array(nux),
                           np.array(nix), self.rates, l2, l2b)

        self.users.matrix[u_at] = U  # the dicts' views see the new values
        self.items.matrix[i_at] = V
        if biased:
            u_b.update(zip(u_idx, bu.tolist()))
            i_b.update(zip(i_idx, bi.tolist()))
            return ChunkUpdate(list(i_idx), V, bi)
        return ChunkUpdate(list(i_idx), V, None)


def _negative_step(model: reco.BiasedMF | reco.FunkMF, U: np.ndarray, V: np.ndarray, bu: np.ndarray | None,
                   bi: np.ndarray | None, ux: np.ndarray, ix: np.ndarray, rates: tuple[float, float, float, float],
                   l2: float, l2b: float) -> None:
    """One SGD step towards target 0 for every (ux[k], ix[k]), all from the same state: a user or item drawn
    twice gets the sum of its updates. Same gradient as learn_one; only the per-call overhead goes."""
    lr_u, lr_i, lr_bu, lr_bi = rates
    n = len(ux)
    Uu, Vi = U[ux], V[ix]
    pred = np.einsum("ij,ij->i", Uu, Vi)
    if bu is not None and bi is not None:
        model.global_mean.update(0.0, w=n)  # learn_one updates the mean with y before it predicts
        pred += model.global_mean.get() + bu[ux] + bi[ix]
    g = np.clip(model.loss.gradient(np.zeros(n), pred), -model.clip_gradient, model.clip_gradient)
    cu = np.bincount(ux, minlength=len(U))
    ci = np.bincount(ix, minlength=len(V))
    dU = l2 * cu[:, None] * U
    dU += _sum_rows(ux, g[:, None] * Vi, len(U))
    dV = l2 * ci[:, None] * V
    dV += _sum_rows(ix, g[:, None] * Uu, len(V))
    if bu is not None and bi is not None:
        bu -= lr_bu * (np.bincount(ux, weights=g, minlength=len(U)) + l2b * cu * bu)
        bi -= lr_bi * (np.bincount(ix, weights=g, minlength=len(V)) + l2b * ci * bi)
    U -= lr_u * dU
    V -= lr_i * dV


def _sum_rows(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """out[r] = sum of values[k] where index[k] == r (np.add.at, ~2x faster: one sort and one reduceat)."""
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    out = np.zeros((n, values.shape[1]), dtype=values.dtype)
    out[ordered[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out
