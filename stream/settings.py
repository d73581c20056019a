"""Every knob of recstream in one typed object, read from RECSTREAM_* environment variables (or a .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recstream.models.artefacts import ArtefactKeys
from recstream.models.db import normalise_url
from recstream.models.deep import DeepConfig
from recstream.models.encryption import parse_key
from recstream.models.errors import ConfigError
from recstream.models.online import OnlineConfig
from recstream.models.retrain import RetrainConfig
from recstream.models.tuning import SearchSpace, TuneConfig
from recstream.monitors.drift import DriftConfig


class Settings(BaseSettings):
    """recstream settings. Each field is read from `RECSTREAM_<FIELD>` (upper case), e.g. RECSTREAM_BOOTSTRAP."""

    model_config = SettingsConfigDict(env_prefix="RECSTREAM_", env_file=".env", extra="ignore", frozen=True)

    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    database_url: str = Field("sqlite:///var/recstream.db", description="SQLAlchemy URL of the event store")
    topic_behaviour: str = Field("recstream.behaviour", description="topic of user-behaviour events")
    topic_feedback: str = Field("recstream.feedback", description="topic of feedback on served recommendations")
    topic_dead_letter: str = Field("recstream.dead-letter", description="where invalid input goes, with reasons")
    topic_partitions: int = Field(4, ge=1, description="partitions when recstream creates the topics")
    group_id: str = Field("recstream-worker", description="consumer group of the stream workers")
    #: The embedded broker's group join waits about half of this: keep it low in dev and tests.
    session_timeout_s: float = Field(10.0, gt=0, description="Kafka consumer session timeout, seconds")
    batch_max: int = Field(2000, ge=1, description="most events handled in one batch")
    batch_within_s: float = Field(0.2, gt=0, description="longest wait to fill a batch, seconds")
    # ~3.5 ms of learning at a time (measured 17.5 us an event at 200, 26 us at 30: per-chunk NumPy overhead).
    learn_chunk: int = Field(200, ge=1, description="events learned between yields to the HTTP server")
    prepare_in_process: bool = Field(True, description="validate and store in helper processes (other cores)")
    # Two: with one, the helper (~20 us an event validating and storing) was the bottleneck once learning got
    # cheaper than it, and the learner's core idled (bench/ingest.py, 2 cores: 39-40k -> 42-47k events/s).
    prepare_processes: int = Field(2, ge=1, le=32, description="helper processes validating and storing batches")
    dedupe_window: int = Field(1_000_000, ge=1, description="recent event ids remembered so none is learned twice")
    web_host: str = Field("127.0.0.1", description="address the HTTP API binds")
    web_port: int = Field(6066, ge=0, le=65535, description="port of the HTTP API")
    # Scale-out: several workers in one group forward each request to the worker owning the user's partition.
    advertised_url: str | None = Field(None, description="base URL other workers reach this worker's API at "
                                                         "(default http://<host>:<web_port>)")
    worker_heartbeat_s: float = Field(2.0, gt=0, description="how often a worker refreshes the worker directory")
    worker_stale_s: float = Field(10.0, gt=0, description="a worker silent this long is taken as gone")
    forward_timeout_s: float = Field(2.0, gt=0, description="longest wait for the owning worker to answer a "
                                                            "forwarded request; after it, this worker answers")
    max_event_bytes: int = Field(16 * 1024, ge=256, description="larger messages are dead-lettered")
    max_future_skew_s: float = Field(24 * 3600.0, ge=0, description="how far in the future an event ts may be")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # The online learner (see recstream.models.online.OnlineConfig for what each does).
    online_algorithm: Literal["biased_mf", "funk_mf"] = "biased_mf"
    online_loss: Literal["squared", "log"] = "log"
    online_factors: int = Field(32, ge=1)
    online_learning_rate: float = Field(0.05, gt=0)
    online_negatives: int = Field(2, ge=0)
    online_negative_sampling: Literal["uniform", "popularity"] = "popularity"
    online_popularity_blend: float = Field(1.0, ge=0)
    online_cooccurrence_weight: float = Field(2.0, ge=0, description="weight of co-occurrence with the user's "
                                                                      "latest positives (0 = off)")
    online_cooccurrence_window: int = Field(10, ge=1, description="latest positive items a user's score looks at")
    online_cooccurrence_neighbours: int = Field(64, ge=1, le=4096, description="companions kept per item")
    online_popularity_half_life_s: float = Field(365 * 24 * 3600.0, gt=0)
    online_prequential_sample: float = Field(0.05, ge=0, le=1)
    online_prequential_max_per_s: float = Field(200.0, gt=0, description="most prequential probes a second")

    # The deep model, its retraining and how workers serve it.
    artefact_dir: Path = Field(Path("var/artefacts"), description="where model artefacts are written")
    artefact_key: SecretStr | None = Field(None, description="HMAC key: artefacts are signed and verified with it")
    artefact_encryption_key: SecretStr | None = Field(
        None, description="AES-256-GCM key (URL-safe base64 of 32 bytes): artefacts are written encrypted")
    artefact_decryption_keys: SecretStr | None = Field(
        None, description="older encryption keys still accepted when reading, comma-separated (key rotation)")
    operator_token: SecretStr | None = Field(
        None, description="bearer token for mutating HTTP endpoints (promote, rollback, retrain); unset = refused")
    deep_weight: float = Field(0.5, ge=0, le=1, description="share of the deep model in the served blend")
    canary_share: float = Field(0.0, ge=0, le=1, description="share of users (sticky) served the canary version")
    canary_auto: bool = Field(False, description="the scheduler promotes/rolls back the canary on click rates")
    canary_min_impressions: int = Field(1000, ge=1, description="impressions per version before a canary decision")
    model_poll_s: float = Field(0.25, gt=0, description="how often workers check the registry for a new version")
    deep_dim: int = Field(64, ge=1)
    deep_history: int = Field(20, ge=1, description="recent items that make up a user for the deep model")
    deep_epochs: int = Field(6, ge=0, description="epochs of a cold-start training")
    deep_learning_rate: float = Field(3e-3, gt=0)
    retrain_warm_epochs: int = Field(2, ge=0, description="epochs when warm-starting from the live version")
    retrain_window_s: float | None = Field(None, gt=0, description="train on this much event time (unset = all)")
    retrain_margin: float = Field(0.0, ge=0, description="NDCG@10 a candidate must add over live to be promoted")
    retrain_auto_promote: bool = Field(True, description="promote (or canary) a candidate that passes the gate")
    retrain_min_interactions: int = Field(200, ge=1)
    quantize_tolerance: float | None = Field(
        0.02, ge=0, lt=1, description="serve an int8 variant when its holdout metrics are at most this much "
        "(relative) below the float model's (unset = no int8 variant)")
    tune_budget_s: float | None = Field(None, gt=0, description="seconds of hyper-parameter search per retrain "
                                        "(unset = no search)")
    tune_max_trials: int = Field(30, ge=1, description="most trials per search")
    tune_epochs: int = Field(2, ge=1, description="epochs per trial")
    tune_online_budget_s: float | None = Field(None, gt=0, description="seconds of online-learner search (learning "
                                               "rate, factors) on a replay of recent events per retrain (unset = off)")
    tune_online_events: int = Field(50_000, ge=100, description="recent events the online search replays")
    tune_space: str | None = Field(None, description="search space as JSON, e.g. "
                                   '{"dim": [32, 64, 128], "learning_rate": [0.001, 0.02]}')
    quantize_require_faster: bool = Field(True, description="serve int8 only when its top-10 is also faster")
    retrain_interval_s: float | None = Field(None, gt=0, description="scheduled retraining period (unset = off)")
    retrain_cron: str | None = Field(None, description="crontab schedule for retraining, e.g. '0 3 * * *'")
    scheduler_poll_s: float = Field(2.0, gt=0, description="how often the scheduler looks for retrain requests")

    checkpoint_interval_s: float | None = Field(
        300.0, gt=0, description="how often a worker checkpoints its online model with its offsets (unset = off)")
    checkpoint_keep: int = Field(5, ge=1, description="retired online checkpoints whose files are kept")

    # Drift monitoring (recstream.monitors.drift.DriftConfig says what each does).
    drift_interval_s: float | None = Field(600.0, gt=0, description="how often the scheduler runs a drift report (unset = off)")
    drift_window_events: int = Field(10_000, ge=1, description="events in the current (and reference) window")
    drift_window_s: float | None = Field(None, gt=0, description="a time window of event time instead (seconds)")
    drift_max_rows: int = Field(1_000_000, ge=1, description="most rows a window loads (bounds memory)")
    drift_min_events: int = Field(1_000, ge=1, description="fewest new events worth a report")
    drift_reference_start: float | None = Field(None, description="pinned reference period start (unix seconds)")
    drift_reference_end: float | None = Field(None, description="pinned reference period end (unix seconds)")
    drift_num_method: str | None = Field(None, description="Evidently method for numerical columns (unset = auto)")
    drift_cat_method: str | None = Field(None, description="Evidently method for categorical columns (unset = auto)")
    drift_column_threshold: float | None = Field(None, gt=0, description="per-column threshold (unset = auto)")
    drift_share: float = Field(0.25, gt=0, le=1, description="share of drifted columns that makes a report drift")
    drift_consecutive: int = Field(2, ge=1, description="drifted reports in a row before a retrain is requested")
    drift_cooldown_s: float = Field(3600.0, ge=0, description="at most one drift-requested retrain per this long")
    drift_trigger_retrain: bool = Field(True, description="request a retrain when drift persists")
    drift_report_dir: Path = Field(Path("var/drift"), description="where drift reports (HTML + JSON) are kept")
    drift_probe_flush_s: float = Field(2.0, gt=0, description="how often workers store model-output probes")
    # RECSTREAM_METRICS_TOKEN_REQUIRED is the older name (it guarded /metrics and /drift/* only).
    read_token_required: bool = Field(
        False, validation_alias=AliasChoices("read_token_required", "RECSTREAM_READ_TOKEN_REQUIRED",
                                             "RECSTREAM_METRICS_TOKEN_REQUIRED"),
        description="operator read endpoints (GET /metrics, /drift/*, /models*) need the operator token too")

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        return normalise_url(v)

    @field_validator("artefact_encryption_key", "artefact_decryption_keys")
    @classmethod
    def _check_encryption_keys(cls, v: SecretStr | None, info: Any) -> SecretStr | None:
        if v is not None:
            for part in v.get_secret_value().split(","):
                try:
                    parse_key(part, f"RECSTREAM_{info.field_name.upper()}")
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
        return v

    @field_validator("operator_token", "artefact_key", "retrain_cron", "artefact_encryption_key",
                     "artefact_decryption_keys", "drift_num_method", "drift_cat_method",
                     "drift_interval_s", "drift_window_s", "drift_reference_start", "drift_reference_end",
                     "drift_column_threshold", "checkpoint_interval_s", "quantize_tolerance", "tune_budget_s",
                     "tune_space", "tune_online_budget_s", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        # Compose passes `${VAR:-}` as an empty string: that must mean "not configured", never "the empty token".
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("tune_space")
    @classmethod
    def _check_space(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                SearchSpace.from_json(v)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("retrain_cron")
    @classmethod
    def _check_cron(cls, v: str | None) -> str | None:
        if v is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(v)
            except ValueError as exc:
                raise ValueError(f"RECSTREAM_RETRAIN_CRON must be a crontab line like '0 3 * * *': {exc}") from None
        return v

    @field_validator("bootstrap")
    @classmethod
    def _check_bootstrap(cls, v: str) -> str:
        for server in v.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"RECSTREAM_BOOTSTRAP must be host:port[,host:port], got {v!r}")
        return v

    def online_config(self) -> OnlineConfig:
        return OnlineConfig(algorithm=self.online_algorithm, loss=self.online_loss, n_factors=self.online_factors,
                            learning_rate=self.online_learning_rate, negatives=self.online_negatives,
                            negative_sampling=self.online_negative_sampling,
                            popularity_blend=self.online_popularity_blend,
                            cooccurrence_weight=self.online_cooccurrence_weight,
                            cooccurrence_window=self.online_cooccurrence_window,
                            cooccurrence_neighbours=self.online_cooccurrence_neighbours,
                            popularity_half_life_s=self.online_popularity_half_life_s,
                            prequential_sample=self.online_prequential_sample,
                            prequential_max_per_s=self.online_prequential_max_per_s)

    def retrain_config(self) -> RetrainConfig:
        return RetrainConfig(
            deep=DeepConfig(dim=self.deep_dim, history=self.deep_history, epochs=self.deep_epochs,
                            learning_rate=self.deep_learning_rate),
            artefact_dir=self.artefact_dir, artefact_key=self.artefact_keys, window_s=self.retrain_window_s,
            min_interactions=self.retrain_min_interactions, warm_epochs=self.retrain_warm_epochs,
            promote_margin=self.retrain_margin, auto_promote=self.retrain_auto_promote,
            canary_share=self.canary_share, quantize_tolerance=self.quantize_tolerance,
            quantize_require_faster=self.quantize_require_faster,
            online=self.online_config(),
            tune=TuneConfig(budget_s=self.tune_budget_s, max_trials=self.tune_max_trials, epochs=self.tune_epochs,
                            space=SearchSpace.from_json(self.tune_space) if self.tune_space else SearchSpace(),
                            online_budget_s=self.tune_online_budget_s, online_events=self.tune_online_events)
            if self.tune_budget_s else None)

    def drift_config(self) -> DriftConfig:
        return DriftConfig(
            window_events=self.drift_window_events, window_s=self.drift_window_s, max_rows=self.drift_max_rows,
            min_events=self.drift_min_events, reference_start=self.drift_reference_start,
            reference_end=self.drift_reference_end, num_method=self.drift_num_method,
            cat_method=self.drift_cat_method, column_threshold=self.drift_column_threshold,
            drift_share=self.drift_share, consecutive=self.drift_consecutive, cooldown_s=self.drift_cooldown_s,
            trigger_retrain=self.drift_trigger_retrain, report_dir=self.drift_report_dir)

    @property
    def artefact_keys(self) -> ArtefactKeys:
        """Signing, encryption and decryption keys, as every artefact reader and writer takes them."""
        enc = self.artefact_encryption_key
        old = self.artefact_decryption_keys
        return ArtefactKeys(sign=self.artefact_key_bytes,
                            encrypt=parse_key(enc.get_secret_value()) if enc else None,
                            decrypt=tuple(parse_key(k) for k in old.get_secret_value().split(",")) if old else ())

    @property
    def artefact_key_bytes(self) -> bytes | None:
        return self.artefact_key.get_secret_value().encode() if self.artefact_key else None
