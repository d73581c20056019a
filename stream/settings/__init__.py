"""recstream's settings: one typed class per component, composed into `Settings`.

Each component reads its own `RECSTREAM_*` environment variables (or `.env`) and is handed only to the code it
configures: `settings.kafka` to Kafka clients, `settings.online.config()` to the learner, and so on. Model
defaults are written once, in the model's own config dataclass, and read from there. Importing this package
imports no torch, pandas or Evidently, so every command starts fast.

    >>> Settings.build(bootstrap="kafka:9092", online_factors=16).online.factors
    16
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings

from recstream.models.errors import ConfigError
from recstream.models.retrain.config import RetrainConfig
from recstream.stream.settings.artefacts import ArtefactSettings
from recstream.stream.settings.base import Component, describe_errors
from recstream.stream.settings.drift import DriftSettings
from recstream.stream.settings.ingest import IngestSettings
from recstream.stream.settings.kafka import KafkaSettings
from recstream.stream.settings.online import OnlineSettings
from recstream.stream.settings.retrain import (
    DeepSettings,
    QuantizeSettings,
    RetrainSettings,
    SchedulerSettings,
    TuneSettings,
)
from recstream.stream.settings.serving import CanarySettings, ConsoleSettings, ServingSettings

#: the shortest artefact HMAC key production mode accepts (HMAC-SHA256's own block of strength)
MIN_ARTEFACT_KEY_BYTES = 32

__all__ = ["Settings", "Component", "KafkaSettings", "IngestSettings", "ServingSettings", "CanarySettings",
           "OnlineSettings", "DeepSettings", "RetrainSettings", "QuantizeSettings", "TuneSettings",
           "SchedulerSettings", "DriftSettings", "ArtefactSettings", "ConsoleSettings"]


class Settings(Component):
    """Every component's settings. `Settings()` reads the environment; `Settings.build(...)` overrides by
    environment name (`web_port=0` for RECSTREAM_WEB_PORT)."""

    # where the events come from and how a worker handles and answers them
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    canary: CanarySettings = Field(default_factory=CanarySettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    # where state is kept
    database_url: str = Field("sqlite:///var/recstream.db", description="SQLAlchemy URL of the event store")
    artefacts: ArtefactSettings = Field(default_factory=ArtefactSettings)
    # what learns, and when the deep model is retrained
    online: OnlineSettings = Field(default_factory=OnlineSettings)
    deep: DeepSettings = Field(default_factory=DeepSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    quantize: QuantizeSettings = Field(default_factory=QuantizeSettings)
    tune: TuneSettings = Field(default_factory=TuneSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    # what watches it
    drift: DriftSettings = Field(default_factory=DriftSettings)
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="how much a worker logs")
    mode: Literal["development", "production"] = Field(
        "development", description="production refuses to start without what a shared deployment needs: an "
                                   "artefact HMAC key of at least 32 bytes and read protection")

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        from recstream.models.store.db import normalise_url  # SQLAlchemy: only when a URL is given

        return normalise_url(v)

    @model_validator(mode="after")
    def _production_ready(self) -> Settings:
        if self.mode != "production":
            return self
        missing = []
        if self.artefacts.keys.sign is None or len(self.artefacts.keys.sign) < MIN_ARTEFACT_KEY_BYTES:
            missing.append(f"RECSTREAM_ARTEFACT_KEY of at least {MIN_ARTEFACT_KEY_BYTES} bytes (without it, whoever "
                           "can write the database or the artefact store chooses what every worker loads)")
        if not self.serving.read_token_required:
            missing.append("RECSTREAM_READ_TOKEN_REQUIRED=true (dead letters' payloads, users' recent items)")
        if missing:
            raise ValueError("RECSTREAM_MODE=production needs " + "; ".join(missing))
        return self

    @classmethod
    def components(cls) -> dict[str, type[Component]]:
        return {name: f.annotation for name, f in cls.model_fields.items()  # type: ignore[misc]
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseSettings)}

    @classmethod
    def variables(cls) -> dict[str, tuple[str | None, str]]:
        """Every environment variable recstream reads -> (component, or None for this class's own, field)."""
        out: dict[str, tuple[str | None, str]] = {
            cls.env_name(f): (None, f) for f in cls.model_fields if f not in cls.components()}
        for name, comp in cls.components().items():
            out.update({env: (name, field) for env, field in comp.env_names().items()})
        return out

    @classmethod
    def build(cls, **overrides: Any) -> Settings:
        """Settings from the environment, with `overrides` named like their environment variables less the
        RECSTREAM_ prefix (`bootstrap`, `web_port`, `online_factors`, `drift_window_events`). Raises
        ConfigError naming each variable that is unknown or invalid."""
        parts: dict[str | None, dict[str, Any]] = {name: {} for name in cls.components()}
        parts[None] = {}
        where = cls.variables()
        for key, value in overrides.items():
            env = f"RECSTREAM_{key.upper()}"
            if env not in where:
                raise ConfigError(f"unknown setting {env}")
            component, field = where[env]
            parts[component][field] = value
        problems: list[str] = []
        built: dict[str, Any] = {}
        for name, comp in cls.components().items():
            try:
                built[name] = comp(**parts[name])
            except ValidationError as exc:
                problems += describe_errors(exc, comp)
        if not problems:
            try:
                return cls(**parts[None], **built)
            except ValidationError as exc:
                problems += describe_errors(exc, cls)
        raise ConfigError("invalid settings:\n" + "\n".join(f"  {p}" for p in problems))

    def retrain_config(self) -> RetrainConfig:
        """What a retraining needs: the deep, retrain, quantize, tune, canary, online and artefact parts."""
        q = self.quantize
        return self.retrain.derive(
            RetrainConfig, {"margin": "promote_margin"}, deep=self.deep.config(), artefact_dir=self.artefacts.dir,
            artefact_key=self.artefacts.keys, canary_share=self.canary.share, quantize_tolerance=q.tolerance,
            quantize_require_faster=q.require_faster, online=self.online.config(), tune=self.tune.config())
