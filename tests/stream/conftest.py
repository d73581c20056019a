"""Shared by the view tests: a worker state on a fresh SQLite database."""

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.registry import Registry
from recstream.stream.settings import Settings
from recstream.stream.web.views import WorkerViews
from recstream.stream.worker.state import WorkerState

TOKEN = "s3cret-operator-token"


@pytest.fixture
def views(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSTREAM_OPERATOR_TOKEN", TOKEN)
    settings = Settings.build(database_url=f"sqlite:///{tmp_path / 'v.db'}", forward_timeout_s=0.5)
    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    registry = Registry(engine)
    online = OnlineRecommender(settings.online.config())
    online.learn(list(generate(SyntheticSpec(users=50, items=80, events=3_000, seed=2))))
    state = WorkerState.of(settings, online, DeepSlot(registry), "me")
    yield WorkerViews(state)
    engine.dispose()
