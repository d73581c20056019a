"""Hyper-parameter search inside a retrain: within its time budget, every trial recorded, the best one trained."""

import time

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.training import Positives, temporal_split
from recstream.models.errors import ConfigError
from recstream.models.retrain.config import RetrainConfig, SearchSpace, TuneConfig
from recstream.models.retrain.run import retrain
from recstream.models.retrain.tuning import tune
from recstream.models.store.events import EventStore

BASE = DeepConfig(dim=16, history=8, batch_size=512, learning_rate=5e-3)
SPACE = SearchSpace(dim=(8, 16), batch_size=(256, 512))


@pytest.fixture(scope="module")
def data():
    events = list(generate(SyntheticSpec(users=300, items=400, events=20_000)))
    cols = list(zip(*[(e.user_id, e.item_id, e.type, e.value, e.ts) for e in events]))
    d = Positives.from_columns(*cols)
    return d, temporal_split(d, BASE.history)


def test_the_search_stays_within_its_budget_and_records_every_trial(data):
    d, split = data
    started = time.monotonic()
    result = tune(d, split, BASE, TuneConfig(budget_s=8, max_trials=50, epochs=1, space=SPACE))
    wall = time.monotonic() - started
    assert wall < 8 + 2.0  # a running trial is cut at its next batch, then one evaluation at most
    assert result.trials and all({"number", "params", "seconds", "state"} <= set(t) for t in result.trials)
    assert sorted(t["number"] for t in result.trials) == list(range(len(result.trials)))  # none missing
    assert result.trials[0]["params"]["dim"] == BASE.dim  # the current configuration went first
    complete = [t for t in result.trials if t["state"] == "complete"]
    assert result.best_score == max(t["ndcg_at_10"] for t in complete) >= result.default_score
    assert result.best["dim"] in SPACE.dim and result.best["batch_size"] in SPACE.batch_size


def test_a_budget_too_small_for_any_trial_says_so(data):
    d, split = data
    with pytest.raises(ConfigError, match="no tuning trial finished"):
        tune(d, split, BASE, TuneConfig(budget_s=0.01, epochs=50, space=SPACE))


def test_a_retrain_with_search_trains_the_best_trial_and_keeps_the_trials(engine, tmp_path):
    EventStore(engine).add_interactions(list(generate(SyntheticSpec(users=300, items=400, events=20_000))))
    cfg = RetrainConfig(deep=BASE, artefact_dir=tmp_path, quantize_tolerance=None,
                        tune=TuneConfig(budget_s=10, epochs=1, space=SPACE))
    r = retrain(engine, cfg, trigger="manual", requested_by="test")
    tuning = r.version.metrics["tuning"]
    assert tuning["budget_s"] == 10 and tuning["wall_s"] < 12 and tuning["trials"]
    assert {k: r.version.params[k] for k in tuning["best"]} == tuning["best"]  # the candidate uses the best


def test_a_bad_search_space_is_refused_with_what_to_write():
    with pytest.raises(ConfigError, match="unknown parameters"):
        SearchSpace.from_json('{"dims": [1]}')
    with pytest.raises(ConfigError, match="low, high"):
        SearchSpace.from_json('{"learning_rate": [0.1, 0.01]}')


def test_the_online_search_replays_recent_events_within_budget_and_says_what_to_apply(engine, tmp_path):
    EventStore(engine).add_interactions(list(generate(SyntheticSpec(users=300, items=400, events=20_000))))
    cfg = RetrainConfig(deep=BASE, artefact_dir=tmp_path, quantize_tolerance=None,
                        tune=TuneConfig(budget_s=8, epochs=1, space=SPACE, online_budget_s=6, online_events=4_000))
    r = retrain(engine, cfg, trigger="manual", requested_by="test")
    online = r.version.metrics["online_tuning"]
    assert online["replayed_events"] == 4_000 and online["wall_s"] < 6 + 2.0
    assert online["metric"] == "prequential_recall_at_10" and online["trials"]
    assert online["trials"][0]["params"]["n_factors"] == 32  # the workers' current configuration first
    best = online["best"]
    assert online["apply"] == (f"RECSTREAM_ONLINE_LEARNING_RATE={best['learning_rate']:.4g} "
                               f"RECSTREAM_ONLINE_FACTORS={best['n_factors']}")
    assert online["best_score"] >= online["default_score"]
