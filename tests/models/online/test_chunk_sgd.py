"""The chunk learner must change River's model exactly as River's own learn_one loop would."""

import copy
import random

import numpy as np
import pytest
from river import optim, reco

from recstream.models.online.chunk_sgd import ChunkLearner


def model(algorithm: str, loss: str):
    loss_fn = optim.losses.Log() if loss == "log" else optim.losses.Squared()
    init = optim.initializers.Normal(mu=0.0, sigma=0.1, seed=7)
    if algorithm == "biased_mf":
        return reco.BiasedMF(n_factors=5, bias_optimizer=optim.SGD(0.05), latent_optimizer=optim.SGD(0.05),
                             loss=loss_fn, l2_bias=0.01, l2_latent=0.01, latent_initializer=init, seed=7)
    return reco.FunkMF(n_factors=5, optimizer=optim.SGD(0.05), loss=loss_fn, l2=0.01, initializer=init, seed=7)


def learn_one(river, learner: ChunkLearner, u: str, i: str, y: float) -> None:
    """River's learn_one, a new item starting from the factors its name gives it (as the learner's items do)."""
    if i not in river.i_latents:
        river.i_latents[i] = learner.items.first_factors(i)
    river.learn_one(u, i, y)


def assert_same_state(a, b, learner: ChunkLearner | None = None) -> None:
    if learner is not None:
        learner.sync()
    assert list(a.u_latents) == list(b.u_latents) and list(a.i_latents) == list(b.i_latents)  # same keys, order
    for key in a.u_latents:
        np.testing.assert_allclose(a.u_latents[key], b.u_latents[key], rtol=1e-10, atol=1e-13)
    for key in a.i_latents:
        np.testing.assert_allclose(a.i_latents[key], b.i_latents[key], rtol=1e-10, atol=1e-13)
    if isinstance(a, reco.BiasedMF):
        assert a.u_biases.keys() == b.u_biases.keys() and a.i_biases.keys() == b.i_biases.keys()
        for key in a.u_biases:
            assert a.u_biases[key] == pytest.approx(b.u_biases[key], rel=1e-10, abs=1e-13)
        for key in a.i_biases:
            assert a.i_biases[key] == pytest.approx(b.i_biases[key], rel=1e-10, abs=1e-13)
        assert a.global_mean.n == b.global_mean.n
        assert a.global_mean.get() == pytest.approx(b.global_mean.get(), rel=1e-12)


@pytest.mark.parametrize("algorithm", ["biased_mf", "funk_mf"])
@pytest.mark.parametrize("loss", ["log", "squared"])
def test_equals_rivers_learn_one_in_order(algorithm, loss):
    rng = random.Random(3)
    # Few users and items: most events share a user or an item with an earlier one (many waves), and new keys
    # keep appearing (their initial factors must be drawn in learn_one's order).
    chunks = [[(f"u{rng.randrange(6 + 3 * c)}", f"i{rng.randrange(8 + 4 * c)}", float(rng.random() < 0.6))
               for _ in range(40)] for c in range(5)]
    ours, river = model(algorithm, loss), model(algorithm, loss)
    learner = ChunkLearner(ours)
    for chunk in chunks:
        users, items, ys = zip(*chunk)
        learner.learn(users, items, ys)
        for u, i, y in chunk:
            learn_one(river, learner, u, i, y)
        assert_same_state(ours, river, learner)
    assert river.predict_one("u1", "i2") == pytest.approx(ours.predict_one("u1", "i2"), rel=1e-10)


@pytest.mark.parametrize("algorithm", ["biased_mf", "funk_mf"])
@pytest.mark.parametrize("loss", ["log", "squared"])
def test_a_single_negative_step_equals_learn_one(algorithm, loss):
    ours = model(algorithm, loss)
    learner = ChunkLearner(ours)
    learner.learn([f"u{i % 3}" for i in range(30)], [f"i{i % 4}" for i in range(30)], [1.0] * 30)
    learner.sync()
    river = copy.deepcopy(ours)
    learner.learn_negatives(np.array([learner.users.row["u1"]]), np.array([learner.items.row["i2"]]))
    river.learn_one("u1", "i2", 0.0)
    assert_same_state(ours, river, learner)


def test_summed_negative_steps_and_reserved_rows():
    """A user or item drawn twice in one negative step gets the sum of both updates, from the same state; an
    item row reserved but never learned gets its factors drawn before its first update."""
    ours = model("funk_mf", "log")  # no global mean: each pair's own learn_one step is the reference
    learner = ChunkLearner(ours, item_keys=["reserved"])
    learner.learn(["u1", "u2"], ["i1", "i2"], [1.0, 1.0])
    learner.sync()  # (River's dicts mirror the learner's rows when synced)
    assert "reserved" not in ours.i_latents and learner.items.row["reserved"] == 0
    start = copy.deepcopy(ours)
    start.i_latents["reserved"] = learner.items.first_factors("reserved")  # what the step will draw
    rows, items = learner.users.row, learner.items.row
    learner.learn_negatives(np.array([rows["u1"], rows["u1"], rows["u2"]]),
                            np.array([items["i2"], items["reserved"], items["i2"]]))
    learner.sync()
    deltas = []
    for u, i in (("u1", "i2"), ("u1", "reserved"), ("u2", "i2")):
        one = copy.deepcopy(start)
        one.learn_one(u, i, 0.0)
        deltas.append((one.u_latents[u] - start.u_latents[u], one.i_latents[i] - start.i_latents[i]))
    np.testing.assert_allclose(ours.u_latents["u1"], start.u_latents["u1"] + deltas[0][0] + deltas[1][0],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.i_latents["i2"], start.i_latents["i2"] + deltas[0][1] + deltas[2][1],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.i_latents["reserved"], start.i_latents["reserved"] + deltas[1][1],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(learner.items.matrix[0], ours.i_latents["reserved"])


def test_rivers_bias_dicts_mirror_the_bias_arrays():
    ours = model("biased_mf", "log")
    learner = ChunkLearner(ours)
    learner.learn(["u1", "u2", "u1"], ["i1", "i2", "i2"], [1.0, 0.0, 1.0])
    learner.learn_negatives(learner.last_user_rows[[0]], np.array([learner.items.row["i1"]]))
    assert ours.u_biases == {} and ours.i_biases == {}  # not yet: deferred to sync()
    learner.sync()
    for side, biases in ((learner.users, ours.u_biases), (learner.items, ours.i_biases)):
        assert biases == {key: side.bias[r] for key, r in side.row.items()}


def test_refuses_an_optimiser_it_cannot_reproduce():
    m = reco.FunkMF(n_factors=3, optimizer=optim.Adam(0.01))
    with pytest.raises(TypeError, match="constant learning rate.*Adam"):
        ChunkLearner(m)


def test_rows_outgrow_their_matrix_and_the_dicts_keep_viewing_them():
    ours, river = model("biased_mf", "log"), model("biased_mf", "log")
    river.learn_one("u0", "i0", 1.0)
    ours.learn_one("u0", "i0", 1.0)
    learner = ChunkLearner(ours)  # adopts what the model already holds
    users, items = [f"u{k}" for k in range(3000)], [f"i{k % 50}" for k in range(3000)]
    for start in range(0, 3000, 500):  # past the initial 1024 rows: the matrix is reallocated twice
        learner.learn(users[start:start + 500], items[start:start + 500], [1.0] * 500)
    for u, i in zip(users, items):
        learn_one(river, learner, u, i, 1.0)
    assert_same_state(ours, river, learner)
    rows = learner.users
    assert all(np.shares_memory(ours.u_latents[u], rows.matrix) for u in ("u0", "u1", "u2999"))
    ours.learn_one("u1", "i1", 0.0)  # River's own update lands in the matrix too
    np.testing.assert_array_equal(rows.matrix[rows.row["u1"]], ours.u_latents["u1"])


def test_refuses_a_loss_it_cannot_reproduce():
    m = reco.FunkMF(n_factors=3, optimizer=optim.SGD(0.01), loss=optim.losses.Log(weight_pos=2.0))
    with pytest.raises(TypeError, match="unweighted Log"):
        ChunkLearner(m)
    with pytest.raises(TypeError, match="Squared and unweighted Log"):
        ChunkLearner(reco.FunkMF(n_factors=3, optimizer=optim.SGD(0.01), loss=optim.losses.Hinge()))


def test_memory_for_pending_bias_changes_does_not_grow_with_the_events_between_syncs():
    # The biases River's dict gets at the next sync are remembered per row: learning the same users and items
    # for 20x longer without a sync (no checkpoint, no explanation) must not hold more memory.
    import tracemalloc

    learner = ChunkLearner(model("biased_mf", "squared"))
    rng = random.Random(3)

    def chunks(n: int) -> None:
        for _ in range(n):
            users = [f"u{rng.randrange(50)}" for _ in range(50)]
            items = [f"i{rng.randrange(80)}" for _ in range(50)]
            learner.learn(users, items, [1.0] * 50)

    chunks(50)  # every key known
    tracemalloc.start()
    chunks(50)
    after_50 = tracemalloc.get_traced_memory()[0]
    chunks(1000)
    after_1050 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_1050 - after_50 < 50_000  # was ~1 MB: two arrays of rows kept for every chunk
    reference = model("biased_mf", "squared")
    rng = random.Random(3)
    for _ in range(1100):  # the same events, one at a time: the synced biases are River's own
        for u, i in zip([f"u{rng.randrange(50)}" for _ in range(50)], [f"i{rng.randrange(80)}" for _ in range(50)]):
            learn_one(reference, learner, u, i, 1.0)
    assert_same_state(learner.model, reference, learner)


def test_one_chunk_that_outgrows_the_rows_and_comes_back_to_a_new_row_equals_learn_one():
    ours, river = model("biased_mf", "log"), model("biased_mf", "log")
    learner = ChunkLearner(ours)
    items = [f"i{k}" for k in range(2100)] + ["i1500", "i2050"]  # rows past the first 1024, seen twice
    users = [f"u{k % 7}" for k in range(len(items))]
    learner.learn(users, items, [1.0] * len(items))
    for u, i in zip(users, items):
        learn_one(river, learner, u, i, 1.0)
    assert_same_state(ours, river, learner)
