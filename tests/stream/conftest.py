"""Shared by the view tests: a worker state on a fresh SQLite database."""

import re

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.registry import Registry
from recstream.stream.settings import Settings
from recstream.stream.web.auth import Access
from recstream.stream.web.dispatch import answer
from recstream.stream.web.operator import OperatorViews
from recstream.stream.web.serving import ServingViews
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
    access = Access(settings.serving)
    yield Routed(ServingViews(state, access), OperatorViews(state, access))
    engine.dispose()


class Routed:
    """A worker's view sets (serving, operator) as one object whose views are called through their routes
    (`dispatch.answer`: the access rule first), as `bind()` serves them; other attributes are the first set's,
    and setting one sets it on every set (a test changing `serving` or `access` changes it for all)."""

    def __init__(self, *view_sets) -> None:
        object.__setattr__(self, "_sets", view_sets)

    def __getattr__(self, name: str):
        found = [(views, r) for views in self._sets for r in views.ROUTES if r.view == name]
        if not found:
            return getattr(self._sets[0], name)

        async def through_route(request, *args, **params):
            method = getattr(request, "method", "GET")
            views, route = next(((v, r) for v, r in found if r.method == method), found[0])
            params.update(zip(re.findall(r"{(\w+)}", route.path), args))  # path parameters, in order
            return await answer(views, route, request, **params)
        return through_route

    def __setattr__(self, name: str, value) -> None:
        for views in self._sets:
            setattr(views, name, value)
