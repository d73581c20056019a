"""The deep model: it learns sequences, serves the same scores in NumPy, warm-starts, and round-trips."""

import numpy as np
import pytest

from recstream.models.artefacts import storage
from recstream.models.artefacts.files import read_verified, write_artefact
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.model import PAD, DeepModel
from recstream.models.deep.training import Positives, deep_scorer, evaluate, popularity_scorer, temporal_split
from recstream.models.errors import ArtefactError


def cyclic_positives(users=200, items=150, per_user=20, seed=0) -> Positives:
    """Each user walks a cycle i -> i+1 through the catalogue: the next item follows from the last one."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        start = int(rng.integers(items))
        for t in range(per_user):
            rows.append((f"u{u}", f"i{(start + t) % items}", "click", None, 1000.0 + t * 100 + u))
    rows.sort(key=lambda r: r[4])
    return Positives.from_columns(*zip(*rows))


def test_split_is_temporal_and_evaluates_only_new_items():
    data = cyclic_positives()
    split = temporal_split(data, history=5, holdout_share=0.2)
    assert len(split.train) and len(split.holdout)
    # Every held-out target is newer than the split and new to its user.
    for b in range(len(split.holdout)):
        assert split.holdout.target[b] not in split.holdout.seen[b]
    # Histories are left-padded and end with the item just before the target.
    h = split.train.hist
    assert (h[:, -1] != PAD).all()


@pytest.mark.parametrize("negatives", [0, 16])  # full softmax, and sampled against 16 of the 150 items
def test_model_learns_what_comes_next_and_beats_popularity(negatives):
    data = cyclic_positives()
    split = temporal_split(data, history=5, holdout_share=0.2)
    model = DeepModel.new(DeepConfig(dim=16, history=5, epochs=30, batch_size=128, learning_rate=1e-2,
                                     sampled_negatives=negatives), data.item_ids)
    lut = np.array([PAD, *model.rows(data.item_ids)])
    model.fit(lut[split.train.hist], lut[split.train.target])
    deep = evaluate(deep_scorer(model, data.item_ids), split.holdout)
    pop = evaluate(popularity_scorer(split.train_counts), split.holdout)
    assert deep["recall_at_10"] > 0.9 > pop["recall_at_10"] + 0.3
    assert model.history_log[-1]["loss"] < model.history_log[0]["loss"]


def test_numpy_serving_scores_equal_torch():
    model = DeepModel.new(DeepConfig(dim=8, history=4), [f"i{i}" for i in range(12)])
    hist = np.array([[PAD, PAD, 3, 5]])
    torch_scores = model.score_batch(hist)[0]
    np_scores = model.scorer.scores([3, 5])
    np.testing.assert_allclose(np_scores[1:], torch_scores[1:], rtol=1e-4, atol=1e-5)
    assert model.scorer.scores([PAD]) is None  # nothing known: the caller falls back


def test_warm_start_keeps_known_items_and_adds_new_ones():
    parent = DeepModel.new(DeepConfig(dim=8, history=4), ["a", "b", "c"])
    child = DeepModel.warm_start(parent, ["c", "d", "a"])
    pw, cw = parent.net.item_in.weight.detach(), child.net.item_in.weight.detach()
    assert np.allclose(cw[child.row_of["a"]], pw[parent.row_of["a"]])
    assert np.allclose(cw[child.row_of["c"]], pw[parent.row_of["c"]])
    assert not np.allclose(cw[child.row_of["d"]], 0.0)  # a fresh embedding, not a copy
    with pytest.raises(ValueError, match="cannot warm-start"):
        DeepModel.warm_start(parent, ["a"], DeepConfig(dim=16, history=4))


def test_artefact_round_trip_and_tampering_is_refused(artefact_dir):
    model = DeepModel.new(DeepConfig(dim=8, history=4), ["a", "b"])
    key = b"k" * 32
    path, sha, sig = write_artefact(model.to_bytes(), artefact_dir, "m.pt", key)
    back = DeepModel.from_bytes(read_verified(path, sha, sig, key))
    assert back.items == ["a", "b"]
    np.testing.assert_allclose(back.scorer.scores([1]), model.scorer.scores([1]))
    with pytest.raises(ArtefactError, match="HMAC"):
        read_verified(path, sha, sig, b"x" * 32)
    data = bytearray(storage.get(path))
    data[len(data) // 2] ^= 1
    storage.put(path, bytes(data))
    with pytest.raises(ArtefactError, match="changed after registration"):
        read_verified(path, sha, sig, key)
    with pytest.raises(ArtefactError, match="cannot be read"):
        read_verified(storage.join(artefact_dir, "gone.pt"), sha)


def test_sampled_training_touches_only_the_rows_a_batch_used_and_round_trips():
    model = DeepModel.new(DeepConfig(dim=8, history=4, epochs=1, batch_size=4, sampled_negatives=16),
                          [f"i{i}" for i in range(1000)])
    before = model.net.item_in.weight.detach().clone()
    hist = np.array([[PAD, PAD, 1, 2]] * 4, dtype=np.int32)
    model.fit(hist, np.array([3, 3, 3, 3], dtype=np.int32))
    changed = (model.net.item_in.weight.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [1, 2]  # a history's items, nothing else (Adam's dense state would move every row)
    again = DeepModel.from_bytes(model.to_bytes())
    assert again.config.sampled_negatives == 16
    assert np.allclose(again.score_batch(hist), model.score_batch(hist))
    with pytest.raises(ValueError, match="weight_decay"):
        DeepConfig(sampled_negatives=8, weight_decay=1e-4)
