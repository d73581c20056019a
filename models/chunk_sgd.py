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


def _rate(optimizer: optim.base.Optimizer) -> float:
    if not isinstance(optimizer, optim.SGD) or not isinstance(optimizer.lr, optim.schedulers.Constant):
        raise TypeError(f"chunk learning needs plain SGD with a constant learning rate, got {optimizer!r}")
    return float(optimizer.learning_rate)


def learn_chunk(model: reco.BiasedMF | reco.FunkMF, users: Sequence[Hashable], items: Sequence[Hashable],
                ys: Sequence[float], neg_users: Sequence[Hashable] = (),
                neg_items: Sequence[Hashable] = ()) -> ChunkUpdate:
    """Learn (users[j], items[j], ys[j]) in order, as `model.learn_one` would; then one step towards 0 for
    every (neg_users[k], neg_items[k])."""
    biased = isinstance(model, reco.BiasedMF)
    if biased:
        lr_u, lr_i = _rate(model.u_latent_optimizer), _rate(model.i_latent_optimizer)
        lr_bu, lr_bi = _rate(model.u_bias_optimizer), _rate(model.i_bias_optimizer)
        l2, l2b = model.l2_latent, model.l2_bias
    else:
        lr_u, lr_i = _rate(model.u_optimizer), _rate(model.i_optimizer)
        lr_bu = lr_bi = l2b = 0.0
        l2 = model.l2
    u_lat, i_lat = model.u_latents, model.i_latents

    # Index the chunk's users and items, touching each in learn_one's order (user, then item, per event): a new
    # key's defaultdict draws its initial factors from the initializer's RNG exactly when learn_one would.
    u_idx: dict[Hashable, int] = {}
    i_idx: dict[Hashable, int] = {}
    u_arrs: list[np.ndarray] = []
    i_arrs: list[np.ndarray] = []
    u_wave: list[int] = []
    i_wave: list[int] = []
    ux: list[int] = []
    ix: list[int] = []
    wave: list[int] = []
    for u, i in zip(users, items, strict=True):
        a = u_idx.get(u)
        if a is None:
            a = u_idx[u] = len(u_arrs)
            u_arrs.append(u_lat[u])
            u_wave.append(-1)
        b = i_idx.get(i)
        if b is None:
            b = i_idx[i] = len(i_arrs)
            i_arrs.append(i_lat[i])
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
            a = u_idx[u] = len(u_arrs)
            u_arrs.append(u_lat[u])
        b = i_idx.get(i)
        if b is None:
            b = i_idx[i] = len(i_arrs)
            i_arrs.append(i_lat[i])
        nux.append(a)
        nix.append(b)

    U = np.array(u_arrs, dtype=np.float64).reshape(len(u_arrs), model.n_factors)
    V = np.array(i_arrs, dtype=np.float64).reshape(len(i_arrs), model.n_factors)
    if biased:
        u_b, i_b = model.u_biases, model.i_biases
        bu = np.array([u_b[u] for u in u_idx], dtype=np.float64)
        bi = np.array([i_b[i] for i in i_idx], dtype=np.float64)

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
        _negative_step(model, U, V, bu if biased else None, bi if biased else None, np.array(nux), np.array(nix),
                       (lr_u, lr_i, lr_bu, lr_bi), l2, l2b)

    # Write back in place: rows of U/V handed to the dicts would each keep the whole chunk matrix alive.
    for arr, row in zip(u_arrs, U):
        arr[:] = row
    for arr, row in zip(i_arrs, V):
        arr[:] = row
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
    np.add.at(dU, ux, g[:, None] * Vi)
    dV = l2 * ci[:, None] * V
    np.add.at(dV, ix, g[:, None] * Uu)
    if bu is not None and bi is not None:
        bu -= lr_bu * (np.bincount(ux, weights=g, minlength=len(U)) + l2b * cu * bu)
        bi -= lr_bi * (np.bincount(ix, weights=g, minlength=len(V)) + l2b * ci * bi)
    U -= lr_u * dU
    V -= lr_i * dV
