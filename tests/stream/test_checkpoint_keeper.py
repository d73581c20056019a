"""Which online checkpoint a worker follows: each worker promotes its own, so two promotions landing out of order
leave an older checkpoint live with nobody rolling back; only an operator's rollback makes a worker restore one."""

from pathlib import Path

from recstream.models.online.checkpoint import OnlineCheckpoint
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.db import create_db_engine, upgrade
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


def test_the_event_loop_runs_while_a_checkpoint_is_serialised_and_the_learner_stays_still(tmp_path):
    """A worker's requests are answered on its event loop: serialising a large state there held them for the
    whole dump. Now it runs in a thread that shares the GIL, with `learning` held so nothing changes the state."""
    import asyncio
    import time

    from recstream.models.data.interaction import Interaction
    from recstream.stream.ingest.dedupe import RecentIds

    rec = OnlineRecommender(OnlineConfig(n_factors=4, prequential_sample=0.0, cooccurrence_weight=0.0))
    rec.learn([Interaction(f"e{n}", f"u{n % 20_000}", f"i{n % 997}", "click", None, 0.0) for n in range(200_000)],
              evaluate=False)
    recent = RecentIds(400_000)
    recent.add_new([f"id-{n}" for n in range(300_000)])
    engine = create_db_engine(f"sqlite:///{tmp_path / 'k.db'}")  # about the event loop: one database is enough
    upgrade(engine)
    k = keeper(Registry(engine), tmp_path, "a")
    k._due = 0.0  # due now
    learning = asyncio.Lock()

    async def run() -> tuple[int, float, bool]:
        ticks, tried_to_learn = 0, False
        save = asyncio.create_task(k.maybe_save(rec, recent, {"t:0": 1}, learning=learning))
        started = time.perf_counter()
        while not save.done():  # a request every millisecond or so
            await asyncio.sleep(0.001)
            ticks += 1
            tried_to_learn = tried_to_learn or learning.locked()
        took = time.perf_counter() - started
        await save
        await k._writing  # the write, in its own thread, after the serialisation
        return ticks, took, tried_to_learn

    ticks, took, locked = asyncio.run(run())
    assert took > 0.05, "the state is too small to show anything"
    assert locked  # the learner was held still
    # the loop ran every 50 ms or less on average throughout (it stood still for all of it before: 1 tick);
    # every 1 ms asked, 20 ms seen on a loaded 2-core machine (the suite runs two tests at a time)
    assert ticks >= took / 0.05
    assert k.current is not None and k.current.kind == "online"  # and the checkpoint was written
