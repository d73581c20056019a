"""The deep model and its retraining (RECSTREAM_DEEP_*, _RETRAIN_*, _QUANTIZE_*, _TUNE_*, _SCHEDULER_*).
Defaults are DeepConfig's, RetrainConfig's and TuneConfig's: each is written once, there."""

from __future__ import annotations

from pydantic import Field, field_validator

from recstream.models.deep.config import DeepConfig
from recstream.models.errors import ConfigError
from recstream.models.retrain.config import RetrainConfig, SearchSpace, TuneConfig
from recstream.stream.settings.base import Component


def _prefix(name: str) -> dict:
    return Component.model_config | {"env_prefix": f"RECSTREAM_{name}_"}


class DeepSettings(Component):
    model_config = _prefix("DEEP")

    dim: int = Field(DeepConfig.dim, ge=1, description="embedding size of the deep model")
    history: int = Field(DeepConfig.history, ge=1, description="recent items that make up a user for the deep model")
    epochs: int = Field(DeepConfig.epochs, ge=0, description="epochs of a cold-start training")
    learning_rate: float = Field(DeepConfig.learning_rate, gt=0, description="Adam step of the deep model")
    sampled_negatives: int = Field(DeepConfig.sampled_negatives, ge=0, description="0: train on a full softmax "
                                   "over every item; N: against N sampled negatives a batch, with sparse updates "
                                   "(large catalogues: an epoch's cost grows with interactions, not items)")

    def config(self) -> DeepConfig:
        return self.derive(DeepConfig)


class RetrainSettings(Component):
    model_config = _prefix("RETRAIN")

    warm_epochs: int = Field(RetrainConfig.warm_epochs, ge=0, description="epochs when warm-starting from live")
    window_s: float | None = Field(None, gt=0, description="train on this much event time (unset = all)")
    margin: float = Field(RetrainConfig.promote_margin, ge=0,
                          description="NDCG@10 a candidate must add over live to be promoted")
    auto_promote: bool = Field(RetrainConfig.auto_promote, description="promote (or canary) a candidate that "
                                                                         "passes the gate")
    min_interactions: int = Field(RetrainConfig.min_interactions, ge=1, description="a retraining with fewer "
                                  "interactions in its window is skipped")
    processes: int = Field(RetrainConfig.processes, ge=1, le=64, description="CPU processes that train the deep "
                           "model together (torch.distributed, gloo; the same steps as one process, each "
                           "computing a share of every batch; full softmax only)")
    interval_s: float | None = Field(None, gt=0, description="scheduled retraining period (unset = off)")
    cron: str | None = Field(None, description="crontab schedule for retraining, e.g. '0 3 * * *'")

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, v: str | None) -> str | None:
        if v is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(v)
            except ValueError as exc:
                raise ValueError(f"RECSTREAM_RETRAIN_CRON must be a crontab line like '0 3 * * *': {exc}") from None
        return v


class QuantizeSettings(Component):
    model_config = _prefix("QUANTIZE")

    tolerance: float | None = Field(
        RetrainConfig.quantize_tolerance, ge=0, lt=1, description="serve an int8 variant when its holdout metrics "
        "are at most this much (relative) below the float model's (unset = no int8 variant)")
    require_faster: bool = Field(RetrainConfig.quantize_require_faster,
                                 description="serve int8 only when its top-10 is also faster")


class TuneSettings(Component):
    model_config = _prefix("TUNE")

    budget_s: float | None = Field(None, gt=0, description="seconds of hyper-parameter search per retrain "
                                   "(unset = no search)")
    max_trials: int = Field(TuneConfig.max_trials, ge=1, description="most trials per search")
    epochs: int = Field(TuneConfig.epochs, ge=1, description="epochs per trial")
    online_budget_s: float | None = Field(None, gt=0, description="seconds of online-learner search (learning "
                                          "rate, factors) on a replay of recent events per retrain (unset = off)")
    online_events: int = Field(TuneConfig.online_events, ge=100, description="recent events the online search replays")
    space: str | None = Field(None, description="search space as JSON, e.g. "
                              '{"dim": [32, 64, 128], "learning_rate": [0.001, 0.02]}')

    @field_validator("space")
    @classmethod
    def _check_space(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                SearchSpace.from_json(v)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    def config(self) -> TuneConfig | None:
        if not self.budget_s:
            return None
        return self.derive(TuneConfig, space=SearchSpace.from_json(self.space) if self.space else SearchSpace())


class SchedulerSettings(Component):
    model_config = _prefix("SCHEDULER")

    poll_s: float = Field(2.0, gt=0, description="how often the scheduler looks for retrain requests")
    nice: int = Field(10, ge=0, le=19, description="CPU priority the scheduler lowers itself by (os.nice): its "
                      "trainings and reports yield the CPU to workers serving on the same host")
    threads: int | None = Field(None, ge=1, description="torch threads a training uses (unset = torch's default, "
                                "one per core)")
