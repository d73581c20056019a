"""What one retraining is configured with (cheap to import: settings build it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from recstream.models.artefacts.keys import ArtefactKeys
from recstream.models.deep.config import DeepConfig
from recstream.models.errors import ConfigError
from recstream.models.online.config import OnlineConfig


@dataclass(frozen=True)
class SearchSpace:
    """Choices (tuples) and log-uniform ranges ([low, high] pairs) of the deep model's key parameters."""

    dim: tuple[int, ...] = (32, 64, 128)
    learning_rate: tuple[float, float] = (1e-3, 2e-2)
    weight_decay: tuple[float, float] = (1e-8, 1e-4)
    batch_size: tuple[int, ...] = (512, 1024, 2048)

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        """e.g. '{"dim": [32, 64], "learning_rate": [0.001, 0.01]}'; keys left out keep their defaults."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"RECSTREAM_TUNE_SPACE must be JSON, e.g. {{\"dim\": [32, 64]}}: {exc}") from None
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"RECSTREAM_TUNE_SPACE has unknown parameters {sorted(unknown)}; "
                              f"known: {sorted(cls.__dataclass_fields__)}")
        space = cls(**{k: tuple(v) for k, v in raw.items()})
        for name in ("learning_rate", "weight_decay"):
            lo, hi = getattr(space, name)
            if not 0 < lo <= hi:
                raise ConfigError(f"RECSTREAM_TUNE_SPACE {name} must be [low, high] with 0 < low <= high")
        return space


@dataclass(frozen=True)
class TuneConfig:
    budget_s: float
    max_trials: int = 30
    #: epochs per trial (short: the search compares configurations, the candidate then trains fully)
    epochs: int = 2
    space: SearchSpace = field(default_factory=SearchSpace)
    #: validation events per trial
    eval_max: int = 5_000
    seed: int = 0
    #: seconds for tuning the online learner on a replay of the newest `online_events` (None = not tuned)
    online_budget_s: float | None = None
    online_events: int = 50_000


@dataclass(frozen=True)
class RetrainConfig:
    deep: DeepConfig = field(default_factory=DeepConfig)
    artefact_dir: str | Path = "var/artefacts"  # or an s3:// prefix
    artefact_key: bytes | ArtefactKeys | None = None
    #: Train on the newest `window_s` seconds of event time (None = everything stored).
    window_s: float | None = None
    holdout_share: float = 0.1
    eval_max: int = 20_000
    #: Fewer positives than this and the run fails with a clear message rather than training on noise.
    min_interactions: int = 200
    warm_start: bool = True
    #: Epochs when warm-starting from the live version (the parent has done most of the work).
    warm_epochs: int = 2
    #: NDCG@10 the candidate must add over the live version to replace it (absolute).
    promote_margin: float = 0.0
    #: Promote a candidate that passes the gate (False: leave it as a candidate for an operator).
    auto_promote: bool = True
    #: > 0: a passing candidate goes to canary (served to this share of users) instead of straight to live.
    canary_share: float = 0.0
    rating_threshold: float = 4.0
    #: Also build an int8 variant and serve it when its holdout Recall@10 and NDCG@10 are both within this
    #: relative tolerance of the float model's (0.02 = at most 2% lower). None: no int8 variant.
    quantize_tolerance: float | None = 0.02
    #: ... and only when its top-10 is not slower than the float model's on this catalogue (measured: int8 wins
    #: at 100k items, loses at 10k, where the per-call overhead of the int8 kernel dominates).
    quantize_require_faster: bool = True
    #: Train on this many CPU processes (torch.distributed, gloo; models/deep/distributed.py): each computes its
    #: share of every batch, the steps are one process's. Full softmax only.
    processes: int = 1
    #: A time-budgeted hyper-parameter search before training (None = train with `deep` as configured).
    tune: TuneConfig | None = None
    #: The workers' online learner configuration (what an online search starts from).
    online: OnlineConfig = field(default_factory=OnlineConfig)
