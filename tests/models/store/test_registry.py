"""Model registry: lifecycle, audit log, one live per kind, training lock — on SQLite and PostgreSQL."""


import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from recstream.models.errors import RegistryError
from recstream.models.store.operations import Operations
from recstream.models.store.registry import Registry, parse_version
from recstream.models.store.schema import metadata


def _register(reg: Registry, status: str = "candidate", parent=None):
    return reg.register("deep", status=status, artefact="/nowhere.pt", sha256="0" * 64, parent_id=parent,
                        metrics={"candidate": {"ndcg_at_10": 0.1}})


def test_migrations_match_the_tables_the_code_describes(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_promote_retires_the_previous_live_and_audits_both(engine):
    reg = Registry(engine)
    v1, v2 = _register(reg), _register(reg)
    reg.promote(v1.id, actor="alice", reason="first")
    reg.promote(v2.name, actor="bob", reason="better")
    assert reg.get(v1.id).status == "retired"
    assert reg.live().id == v2.id
    trail = [(a["version_id"], a["from_status"], a["to_status"], a["actor"]) for a in reversed(reg.audit())]
    assert trail == [(v1.id, None, "candidate", "trainer"), (v2.id, None, "candidate", "trainer"),
                     (v1.id, "candidate", "live", "alice"), (v1.id, "live", "retired", "bob"),
                     (v2.id, "candidate", "live", "bob")]


def test_rollback_goes_to_the_previous_live_or_the_named_one(engine):
    reg = Registry(engine)
    v1, v2, v3 = _register(reg), _register(reg), _register(reg)
    for v in (v1, v2, v3):
        reg.promote(v.id, actor="ops", reason="release")
    back = reg.rollback(actor="ops", reason="bad clicks")
    assert back.id == v2.id and reg.get(v3.id).status == "rolled_back"
    back = reg.rollback(actor="ops", reason="further back", to=f"deep-{v1.id}")
    assert back.id == v1.id and reg.get(v2.id).status == "rolled_back"
    # v3 was rolled back, but an operator may still bring it back explicitly.
    assert reg.rollback(actor="ops", reason="it was fine", to=v3.id).id == v3.id


def test_rollback_without_an_earlier_version_says_so(engine):
    reg = Registry(engine)
    reg.promote(_register(reg).id, actor="ops", reason="first")
    with pytest.raises(RegistryError, match="no earlier deep version"):
        reg.rollback(actor="ops", reason="oops")


def test_transitions_need_a_reason_and_an_existing_servable_version(engine):
    reg = Registry(engine)
    v = _register(reg)
    with pytest.raises(RegistryError, match="reason"):
        reg.promote(v.id, actor="ops", reason=" ")
    with pytest.raises(RegistryError, match="no model version"):
        reg.promote(999, actor="ops", reason="x")
    with pytest.raises(RegistryError, match="not a model version"):
        parse_version("deep-latest")
    bare = reg.register("deep")  # no artefact
    with pytest.raises(RegistryError, match="no artefact"):
        reg.promote(bare.id, actor="ops", reason="x")
    reg.promote(v.id, actor="ops", reason="x")
    with pytest.raises(RegistryError, match="already live"):
        reg.promote(v.id, actor="ops", reason="x")


def test_the_database_refuses_a_second_live_version(engine):
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from recstream.models.store.schema import model_versions

    reg = Registry(engine)
    v1, v2 = _register(reg), _register(reg)
    reg.promote(v1.id, actor="ops", reason="x")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(model_versions).where(model_versions.c.id == v2.id).values(status="live"))


def test_canary_is_separate_from_live(engine):
    reg = Registry(engine)
    v1, v2 = _register(reg), _register(reg)
    reg.promote(v1.id, actor="ops", reason="x")
    reg.start_canary(v2.id, share=0.1, actor="ops", reason="try it")
    assert {k: v.id for k, v in reg.serving().items()} == {"live": v1.id, "canary": v2.id}
    reg.end_canary(actor="ops", reason="worse click rate")
    assert set(reg.serving()) == {"live"} and reg.get(v2.id).status == "rolled_back"


def test_feedback_outcomes_per_version_decide_the_canary(engine):
    from recstream.models.data.interaction import Feedback
    from recstream.models.serving.abtest import canary_decision, outcomes
    from recstream.models.store.events import EventStore

    rows = []
    for version, clicks in (("deep-1", 50), ("deep-2", 150)):
        for i in range(1000):
            rows.append(Feedback(f"{version}-imp-{i}", f"r{i}", f"u{i}", "i1", "impression", version, 1.7e9 + i))
            if i < clicks:
                rows.append(Feedback(f"{version}-clk-{i}", f"r{i}", f"u{i}", "i1", "click", version, 1.7e9 + i))
    EventStore(engine).add_feedback(rows)
    stats = outcomes(engine)
    assert (stats["deep-1"].impressions, stats["deep-1"].clicks) == (1000, 50)
    assert canary_decision(stats["deep-1"], stats["deep-2"])[0] == "promote"
    assert canary_decision(stats["deep-2"], stats["deep-1"])[0] == "rollback"
    assert canary_decision(stats["deep-1"], stats["deep-1"])[0] == "wait"
    assert canary_decision(stats["deep-1"], stats["deep-2"], min_impressions=5000)[0] == "wait"


def test_an_unknown_kind_is_named_as_the_problem(engine):
    reg = Registry(engine)
    for call in (lambda: reg.rollback(actor="a", reason="r", kind="dep"),
                 lambda: reg.end_canary(actor="a", reason="r", kind="dep")):
        with pytest.raises(RegistryError, match="model kind must be one of"):
            call()


def test_operator_actions_are_one_set_for_every_caller(engine):
    """models/store/operations.py: what the CLI, the HTTP API and the console call (one code path each)."""
    reg = Registry(engine)
    checked = []
    op = Operations(reg, "cli:alice", verify=lambda v: checked.append(v.name))
    v1, v2 = _register(reg), _register(reg)
    assert op.promote(v1.name, "first").status == "live"
    canary = op.promote(v2.name, "try it", canary=0.2)
    assert (canary.status, canary.canary_share) == ("canary", 0.2) and checked == [v1.name, v2.name]
    assert op.set_canary_share(0.5, "more").canary_share == 0.5
    assert op.end_canary("enough").status == "rolled_back"
    with pytest.raises(RegistryError, match=f"{v1.name} is a deep version, not online"):
        op.rollback("wrong kind", to=v1.name, kind="online")
    assert op.retrain("drifted", trigger="api")[1] and not op.retrain("again", trigger="api")[1]  # not doubled
    assert {a["actor"] for a in reg.audit()} >= {"cli:alice"}
