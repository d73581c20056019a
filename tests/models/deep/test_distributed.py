"""Training on two processes (torch.distributed, gloo): the same steps as one process, so the same model."""

import numpy as np
import pytest
import torch

from recstream.models.deep.config import DeepConfig
from recstream.models.deep.distributed import fit_on_processes
from recstream.models.deep.model import PAD, DeepModel
from recstream.models.deep.training import deep_scorer, evaluate, temporal_split

from .test_deep import cyclic_positives


def test_two_processes_train_the_model_one_process_trains():
    data = cyclic_positives()
    split = temporal_split(data, history=5, holdout_share=0.2)
    cfg = DeepConfig(dim=16, history=5, epochs=8, batch_size=128, learning_rate=1e-2)
    one = DeepModel.new(cfg, data.item_ids)
    lut = np.array([PAD, *one.rows(data.item_ids)])
    hist, target = lut[split.train.hist], lut[split.train.target]
    one.fit(hist, target)
    two = fit_on_processes(DeepModel.new(cfg, data.item_ids), hist, target, processes=2)
    ndcg = [evaluate(deep_scorer(m, data.item_ids), split.holdout)["ndcg_at_10"] for m in (one, two)]
    assert ndcg[0] > 0.5 and abs(ndcg[1] - ndcg[0]) <= 0.01 * ndcg[0]  # the bar: within 1%
    for a, b in zip(one.net.parameters(), two.net.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-4)  # and in fact the same steps, to float rounding
    assert two.history_log[-1]["loss"] == pytest.approx(one.history_log[-1]["loss"], rel=1e-4)
