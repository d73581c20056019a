"""Which online checkpoint a worker follows: each worker promotes its own, so two promotions landing out of order
leave an older checkpoint live with nobody rolling back; only an operator's rollback makes a worker restore one."""

from pathlib import Path

from recstream.models.online.checkpoint import OnlineCheckpoint
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.registry import Registry
from recstream.stream.settings import Settings
from recstream.stream.worker.checkpoints import CheckpointKeeper


def keeper(registry: Registry, tmp_path: Path, source: str) -> CheckpointKeeper:
    s = Settings.build(artefact_dir=str(tmp_path / "artefacts"))
    return CheckpointKeeper(registry, s.ingest, s.artefacts, source)


def checkpoint(k: CheckpointKeeper, learned: int) -> int:
    rec = OnlineRecommender(OnlineConfig(n_factors=4))
    rec.events_learned = learned
    k._write(OnlineCheckpoint(rec, {"t:0": learned}).dumps(), {"t:0": learned}, learned, None)  # what the thread does
    assert k.current is not None
    return k.current.id


def test_a_peer_checkpoint_promoted_late_is_not_taken_for_a_rollback(engine, tmp_path):
    registry = Registry(engine)
    a, b = keeper(registry, tmp_path, "a"), keeper(registry, tmp_path, "b")
    first = checkpoint(a, 10)
    checkpoint(b, 20)
    # a's promotion of its checkpoint lands after b's: a's older checkpoint is live again, nobody rolled back
    registry.promote(first, actor="worker:a", reason="checkpoint")
    assert registry.live("online").id == first < b.current.id
    assert b.rollback() is None  # b keeps its own state

    # an operator's rollback is one: b's newer checkpoint goes, the previous live one comes back
    checkpoint(b, 30)
    registry.rollback(kind="online", actor="operator", reason="bad online model")
    assert registry.live("online").id == first
    found = b.rollback()
    assert found is not None and found[0].id == first and found[1].recommender.events_learned == 10
