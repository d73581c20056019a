"""Online checkpoints: a restored learner ranks exactly as the saved one; tampered files are refused before
anything is unpickled; old files are pruned, serving ones never."""

from pathlib import Path

import pytest

from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.errors import ArtefactError
from recstream.models.online.checkpoint import OnlineCheckpoint, load_checkpoint, register_checkpoint
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.registry import Registry

KEY = b"k" * 32


def learner(events: int = 3_000) -> OnlineRecommender:
    rec = OnlineRecommender(OnlineConfig(n_factors=8))
    stream = list(generate(SyntheticSpec(users=100, items=200, events=events)))
    for i in range(0, len(stream), 50):
        rec.learn(stream[i:i + 50])
    return rec


def save(reg: Registry, rec: OnlineRecommender, tmp_path: Path, **kw):
    data = OnlineCheckpoint(rec, {"behaviour:0": rec.events_learned}, {"note": "extra"}).dumps()
    return register_checkpoint(reg, data, offsets={"behaviour:0": rec.events_learned},
                               events_learned=rec.events_learned, directory=tmp_path, key=KEY, source="test", **kw)


def test_a_restored_learner_ranks_and_learns_exactly_like_the_saved_one(engine, tmp_path):
    reg, rec = Registry(engine), learner()
    v = save(reg, rec, tmp_path)
    assert v.status == "live" and v.kind == "online" and v.n_interactions == 3_000 and v.signature
    back = load_checkpoint(reg.live("online"), KEY)
    assert back.offsets == {"behaviour:0": 3_000} and back.extra == {"note": "extra"}
    for user in ("u1", "u7", "nobody"):
        a, b = rec.recommend(user, k=10), back.recommender.recommend(user, k=10)
        assert a.items == b.items and a.scores == pytest.approx(b.scores)
    more = list(generate(SyntheticSpec(users=100, items=200, events=500, seed=9)))
    rec.learn(more)
    back.recommender.learn(more)
    assert rec.recommend("u1", k=10).items == back.recommender.recommend("u1", k=10).items


def test_a_tampered_or_unsigned_checkpoint_is_refused_before_unpickling(engine, tmp_path):
    reg = Registry(engine)
    v = save(reg, learner(500), tmp_path)
    with pytest.raises(ArtefactError, match="HMAC"):
        load_checkpoint(v, b"another key")
    data = bytearray(Path(v.artefact).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(v.artefact).write_bytes(bytes(data))
    with pytest.raises(ArtefactError, match="sha256"):
        load_checkpoint(v, KEY)


def test_each_checkpoint_becomes_live_and_only_old_retired_files_are_pruned(engine, tmp_path):
    reg, rec = Registry(engine), learner(500)
    versions = [save(reg, rec, tmp_path, keep=2) for _ in range(5)]
    assert [v.status for v in reg.list(kind="online")] == ["live"] + ["retired"] * 4
    assert reg.get(versions[-1].id).status == "live"
    kept = {Path(v.artefact).name for v in versions if Path(v.artefact).exists()}
    assert kept == {Path(v.artefact).name for v in versions[-3:]}  # live + the 2 newest retired
    reg.rollback(actor="op", reason="back", to=versions[-2].name, kind="online")
    assert load_checkpoint(reg.live("online"), KEY).recommender.events_learned == 500


def test_a_checkpoint_written_before_the_sub_packages_restores_and_learns_on():
    """Written by recstream 5018b05 (flat models/, the learner's probes and seen items in its own fields): module
    paths and attribute layout are upgraded on load, and it ranks and learns exactly as the old code did."""
    import json
    from pathlib import Path

    from recstream.models.data.synthetic import SyntheticSpec, generate
    from recstream.stream.ingest.dedupe import RecentIds

    data_dir = Path(__file__).parent / "data"
    expected = json.loads((data_dir / "online-checkpoint-format1-flat-layout.json").read_text())
    ckpt = OnlineCheckpoint.loads((data_dir / "online-checkpoint-format1-flat-layout.pkl").read_bytes(), "fixture")
    rec = ckpt.recommender
    assert isinstance(ckpt.extra["recent_ids"], RecentIds) and ckpt.offsets == {"behaviour:0": 1500}
    assert (rec.events_learned, rec.prequential.trials, len(rec.prequential.probes), rec.n_items) == (
        expected["events_learned"], expected["trials"], expected["probes"], expected["n_items"])
    assert {u: rec.recommend(u, k=5).items for u in expected["recommendations"]} == expected["recommendations"]
    rec.learn(list(generate(SyntheticSpec(users=40, items=60, events=1700, seed=3)))[1500:])
    assert {u: rec.recommend(u, k=5).items for u in expected["after_200_more"]} == expected["after_200_more"]


class _Forged:
    """What an attacker who can write the database and the artefact store would register: a pickle that runs a
    command when it is loaded."""

    def __reduce__(self):
        import os

        return os.system, ("touch /tmp/recstream-forged-checkpoint-ran",)


def test_a_checkpoint_row_pointing_at_forged_bytes_is_refused_without_the_key(engine, tmp_path):
    import pickle

    reg, ran = Registry(engine), Path("/tmp/recstream-forged-checkpoint-ran")
    ran.unlink(missing_ok=True)
    forged = pickle.dumps({"format": 1, "recommender": _Forged(), "offsets": {}, "extra": {}})
    # No artefact key: the registry row's digest is the forged file's own, so the digest check passes.
    v = register_checkpoint(reg, forged, offsets={}, events_learned=0, directory=tmp_path, key=None, source="x")
    with pytest.raises(ArtefactError, match=r"names posix\.system|names os\.system"):
        load_checkpoint(v, None)
    assert not ran.exists()
    real = OnlineCheckpoint(learner(500), {}, {}).dumps()  # the classes a learner is made of still load
    v = register_checkpoint(reg, real, offsets={}, events_learned=500, directory=tmp_path, key=None, source="x")
    assert load_checkpoint(v, None).recommender.events_learned == 500


def test_a_checkpoint_with_a_dict_of_seen_items_per_user_restores_and_learns_on():
    """Written by recstream a71ab83 (seen items as a dict per user, events per user in a dict, the factors in
    River's dicts): the users move into the pooled arrays on load, and it ranks and learns exactly as that code."""
    import json
    from pathlib import Path

    from recstream.models.data.synthetic import SyntheticSpec, generate

    data_dir = Path(__file__).parent / "data"
    expected = json.loads((data_dir / "online-checkpoint-format2-seen-dicts.json").read_text())
    rec = OnlineCheckpoint.loads((data_dir / "online-checkpoint-format2-seen-dicts.pkl").read_bytes(),
                                 "fixture").recommender
    assert (rec.events_learned, rec.n_items, rec.n_users, rec.prequential.trials) == (
        expected["events_learned"], expected["n_items"], expected["n_users"], expected["trials"])
    assert rec.recent_items("u1", 2000) == expected["seen_u1"]
    assert {u: rec.recommend(u, k=5).items for u in expected["recommendations"]} == expected["recommendations"]
    rec.learn(list(generate(SyntheticSpec(users=40, items=60, events=1700, seed=3)))[1500:])
    assert {u: rec.recommend(u, k=5).items for u in expected["after_200_more"]} == expected["after_200_more"]
    assert rec.model.u_latents and "u1" in rec.model.u_latents  # River's model, filled from the rows when read
