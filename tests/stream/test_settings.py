"""Settings: one class per component, the same RECSTREAM_* names, each default written once, cheap to import."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from recstream.models.deep.config import DeepConfig
from recstream.models.errors import ConfigError
from recstream.models.online.config import OnlineConfig
from recstream.monitors.drift.config import DriftConfig
from recstream.stream.settings import Component, Settings
from recstream.stream.settings.reference import markdown


def test_an_empty_operator_token_means_none_configured(monkeypatch):
    monkeypatch.setenv("RECSTREAM_OPERATOR_TOKEN", "")
    monkeypatch.setenv("RECSTREAM_ARTEFACT_KEY", " ")
    s = Settings()
    assert s.serving.operator_token is None and s.artefacts.keys.sign is None
    # Empty means "off" for the optional ones that have a default too.
    monkeypatch.setenv("RECSTREAM_CHECKPOINT_INTERVAL_S", "")
    monkeypatch.setenv("RECSTREAM_QUANTIZE_TOLERANCE", " ")
    monkeypatch.setenv("RECSTREAM_DRIFT_INTERVAL_S", "")
    s = Settings()
    assert s.ingest.checkpoint_interval_s is None and s.quantize.tolerance is None and s.drift.interval_s is None
    monkeypatch.setenv("RECSTREAM_RETRAIN_CRON", "every day")
    with pytest.raises(ValidationError, match="crontab"):
        Settings()


def test_cooccurrence_settings_reach_the_online_learner_and_bad_ones_are_named(monkeypatch):
    monkeypatch.setenv("RECSTREAM_ONLINE_COOCCURRENCE_WEIGHT", "0")
    monkeypatch.setenv("RECSTREAM_ONLINE_COOCCURRENCE_WINDOW", "4")
    cfg = Settings().online.config()
    assert cfg.cooccurrence_weight == 0 and cfg.cooccurrence_window == 4
    monkeypatch.setenv("RECSTREAM_ONLINE_COOCCURRENCE_WINDOW", "0")
    with pytest.raises(ConfigError, match="RECSTREAM_ONLINE_COOCCURRENCE_WINDOW"):
        Settings.build()


def test_components_read_their_own_variables_and_overrides_use_the_same_names(monkeypatch):
    monkeypatch.setenv("RECSTREAM_BOOTSTRAP", "kafka:9093")
    monkeypatch.setenv("RECSTREAM_DRIFT_WINDOW_EVENTS", "77")
    monkeypatch.setenv("RECSTREAM_METRICS_TOKEN_REQUIRED", "true")  # the older name still guards reads
    s = Settings.build(web_port=1234, deep_dim=16, canary_share=0.2)
    assert (s.kafka.bootstrap, s.drift.config().window_events, s.serving.web_port) == ("kafka:9093", 77, 1234)
    assert s.serving.read_token_required and s.retrain_config().deep.dim == 16
    assert s.retrain_config().canary_share == 0.2
    with pytest.raises(ConfigError, match="unknown setting RECSTREAM_NO_SUCH_THING"):
        Settings.build(no_such_thing=1)
    with pytest.raises(ConfigError, match="RECSTREAM_BOOTSTRAP: .*host:port"):
        Settings.build(bootstrap="no-port")


def test_a_location_given_as_a_path_is_taken_as_its_text(tmp_path):
    s = Settings.build(artefact_dir=tmp_path / "artefacts", drift_report_dir=tmp_path / "drift")
    assert s.artefacts.dir == str(tmp_path / "artefacts") and s.drift.report_dir == str(tmp_path / "drift")
    with pytest.raises(ConfigError, match="RECSTREAM_ARTEFACT_DIR"):  # not a location at all: still named
        Settings.build(artefact_dir=3.5)


def test_model_defaults_are_the_model_configs_own(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("RECSTREAM_"):
            monkeypatch.delenv(name)
    s = Settings()
    online = s.online.config()
    # Every field but the worker's probe cap (replays leave it off) is OnlineConfig's default.
    differs = [f.name for f in dataclasses.fields(OnlineConfig)
               if getattr(online, f.name) != getattr(OnlineConfig(), f.name)]
    assert differs == ["prequential_max_per_s"]
    assert s.deep.config() == DeepConfig()
    assert s.drift.config() == DriftConfig()


def test_importing_settings_loads_no_heavy_library():
    code = ("import sys, recstream.stream.settings, recstream.stream.cli; "
            "print(sorted(m for m in ('torch', 'pandas', 'evidently', 'numba', 'river', 'faust', 'sqlalchemy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_worker_starts_without_torch_until_it_loads_a_deep_version():
    """torch is a second of every worker's start-up: it is imported with the first deep version, not before."""
    code = ("import sys, recstream.stream.app.faust_app, recstream.models.serving.hotswap; "
            "print(sorted(m for m in ('torch', 'pandas', 'evidently') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_settings_reference_is_generated_from_the_classes_and_current():
    written = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    assert written == markdown(), "docs/settings.md is stale: python -m recstream.stream.settings.reference > docs/settings.md"
    for component in (Settings, *(f.annotation for f in Settings.model_fields.values()
                                  if isinstance(f.annotation, type) and issubclass(f.annotation, Component))):
        for name, field in component.model_fields.items():
            if not (isinstance(field.annotation, type) and issubclass(field.annotation, Component)):
                assert field.description, f"{component.env_name(name)} has no description"
                assert f"`{component.env_name(name)}`" in written
