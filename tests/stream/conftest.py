"""Shared by the view tests: a worker state on a fresh SQLite database."""

import re

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.registry import Registry
from recstream.stream.settings import Settings
from recstream.stream.web.dispatch import answer
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
    yield Routed(WorkerViews(state))
    engine.dispose()


class Routed:
    """A WorkerViews whose views are called through their routes (`dispatch.answer`: the access rule first), as
    `bind()` serves them; every other attribute is the views' own."""

    def __init__(self, views: WorkerViews) -> None:
        object.__setattr__(self, "_views", views)

    def __getattr__(self, name: str):
        views = self._views
        routes = [r for r in views.ROUTES if r.view == name]
        if not routes:
            return getattr(views, name)

        async def through_route(request, *args, **params):
            method = getattr(request, "method", "GET")
            route = next((r for r in routes if r.method == method), routes[0])
            params.update(zip(re.findall(r"{(\w+)}", route.path), args))  # path parameters, in order
            return await answer(views, route, request, **params)
        return through_route

    def __setattr__(self, name: str, value) -> None:
        setattr(self._views, name, value)
