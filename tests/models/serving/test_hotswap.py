"""Hot-swap: a worker's slot follows the registry, refuses bad artefacts, keeps serving, and blends."""

import subprocess
import sys

import numpy as np
import pytest

from recstream.models.artefacts.files import write_artefact
from recstream.models.data.interaction import Interaction
from recstream.models.deep.config import DeepConfig
from recstream.models.deep.model import DeepModel
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.ask import Ask
from recstream.models.serving.blend import blend
from recstream.models.serving.hotswap import DeepSlot, in_canary
from recstream.models.serving.mix import ServedMix
from recstream.models.store.registry import Registry

ITEMS = [f"i{i}" for i in range(20)]


def release(reg: Registry, tmp_path, name: str, key=None, seed=0):
    model = DeepModel.new(DeepConfig(dim=8, history=4, seed=seed), ITEMS)
    path, sha, sig = write_artefact(model.to_bytes(), tmp_path, f"{name}.pt", key)
    return reg.register("deep", artefact=str(path), sha256=sha, signature=sig)


@pytest.fixture
def reg(engine):
    return Registry(engine)


def test_slot_follows_promotions_and_rollbacks(reg, tmp_path):
    slot = DeepSlot(reg)
    assert not slot.poll() and slot.live is None
    v1, v2 = release(reg, tmp_path, "a"), release(reg, tmp_path, "b", seed=1)
    reg.promote(v1.id, actor="t", reason="x")
    assert slot.poll() and slot.live.version.id == v1.id
    held = slot.choose("u1")  # an in-flight request keeps its model across a swap
    reg.promote(v2.id, actor="t", reason="x")
    assert slot.poll() and slot.live.version.id == v2.id
    assert held.version.id == v1.id and held.scorer.scores([1]) is not None and held.precision == "float32"
    reg.rollback(actor="t", reason="x")
    assert slot.poll() and slot.live.version.id == v1.id and slot.live is held  # from cache: a pointer swap
    assert not slot.poll()  # nothing changed, nothing swapped


def test_tampered_artefact_is_refused_and_live_keeps_serving(reg, tmp_path):
    slot = DeepSlot(reg)
    v1, v2 = release(reg, tmp_path, "a"), release(reg, tmp_path, "b")
    reg.promote(v1.id, actor="t", reason="x")
    slot.poll()
    with open(v2.artefact, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    reg.promote(v2.id, actor="t", reason="x")
    assert not slot.poll()
    assert slot.live.version.id == v1.id
    assert "changed after registration" in slot.state()["last_error"]


def test_signature_is_required_when_a_key_is_configured(reg, tmp_path):
    unsigned = release(reg, tmp_path, "a")
    reg.promote(unsigned.id, actor="t", reason="x")
    slot = DeepSlot(reg, key=b"secret")
    slot.poll()
    assert slot.live is None and "no signature" in slot.last_error
    signed = release(reg, tmp_path, "b", key=b"secret")
    reg.promote(signed.id, actor="t", reason="x")
    slot.poll()
    assert slot.live.version.id == signed.id


def test_an_artefact_encrypted_with_another_key_is_refused_and_live_keeps_serving(reg, tmp_path):
    from recstream.models.artefacts.keys import ArtefactKeys, new_key, parse_key

    mine, theirs = ArtefactKeys(encrypt=parse_key(new_key())), ArtefactKeys(encrypt=parse_key(new_key()))
    slot = DeepSlot(reg, key=mine)
    v1, v2 = release(reg, tmp_path, "a", key=mine), release(reg, tmp_path, "b", key=theirs)
    reg.promote(v1.id, actor="t", reason="x")
    assert slot.poll() and slot.live.version.id == v1.id  # decrypted and serving
    reg.promote(v2.id, actor="t", reason="x")
    assert not slot.poll()
    assert slot.live.version.id == v1.id and "key that is not configured" in slot.state()["last_error"]


def test_canary_assignment_is_sticky_and_near_the_share():
    users = [f"user{i}" for i in range(20_000)]
    share = np.mean([in_canary(u, 0.2) for u in users])
    assert 0.18 < share < 0.22
    assert [in_canary(u, 0.2) for u in users[:50]] == [in_canary(u, 0.2) for u in users[:50]]
    assert not any(in_canary(u, 0.0) for u in users[:100])


def test_canary_users_get_the_canary(reg, tmp_path):
    v1, v2 = release(reg, tmp_path, "a"), release(reg, tmp_path, "b")
    reg.promote(v1.id, actor="t", reason="x")
    reg.start_canary(v2.id, share=0.5, actor="t", reason="x")
    slot = DeepSlot(reg, canary_share=0.5)
    slot.poll()
    for u in (f"u{i}" for i in range(50)):
        assert slot.choose(u).version.id == (v2.id if in_canary(u, 0.5) else v1.id)


def test_blend_uses_the_deep_model_only_for_users_with_known_history(reg, tmp_path):
    online = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0))
    # User k has items 5k..5k+4; each has 10 known items left to discover.
    online.learn([Interaction(f"e{i}", f"u{i % 3}", ITEMS[(i % 3) * 5 + (i // 3) % 5], "click", None, float(i))
                  for i in range(60)]
                 + [Interaction("new", "u0", "brand-new-item", "click", None, 99.0)])
    v = release(reg, tmp_path, "a")
    reg.promote(v.id, actor="t", reason="x")
    slot = DeepSlot(reg)
    slot.poll()
    rec, used = blend(online, slot.live, Ask("u1", 5), ServedMix(0.0, 0.5))
    assert used and rec.source == "personal" and len(rec.items) == 5
    seen = set(online.recent_items("u1", 1000))
    assert not seen & set(rec.items)
    rec, used = blend(online, slot.live, Ask("stranger", 5), ServedMix(0.0, 0.5))
    assert not used and rec.source == "popular"
    # An item newer than the deep version is still ranked (by the online model).
    assert "brand-new-item" in blend(online, slot.live, Ask("u1", 40), ServedMix(0.0, 0.5))[0].items


def test_deep_rows_follow_each_learner_s_own_item_numbering():
    """One loaded version serving two learners (a restored checkpoint, or the workers of a replay) maps each
    learner's item rows to its own items."""
    from recstream.models.data.interaction import Interaction
    from recstream.models.deep.model import PAD
    from recstream.models.online.config import OnlineConfig
    from recstream.models.online.recommender import OnlineRecommender
    from recstream.models.serving.hotswap import LoadedModel

    loaded = LoadedModel(None, None, {"a": 1, "b": 2, "c": 3}, history=5)
    first, second = (OnlineRecommender(OnlineConfig(n_factors=2, negatives=0)) for _ in range(2))
    first.learn([Interaction(f"e{i}", "u", item, "click", None, 1.0 + i) for i, item in enumerate("abz")])
    second.learn([Interaction(f"e{i}", "u", item, "click", None, 1.0 + i) for i, item in enumerate("cza")])
    assert loaded.rows_for(first).tolist() == [1, 2, PAD]
    assert loaded.rows_for(second).tolist() == [3, PAD, 1]
    first.learn([Interaction("e9", "v", "c", "click", None, 9.0)])  # the catalogue grows: the new row is mapped
    assert loaded.rows_for(first).tolist() == [1, 2, PAD, 3] and loaded.rows_for(second).tolist() == [3, PAD, 1]


def test_the_canary_share_is_the_operators_from_the_registry_changeable_and_never_zero(reg, tmp_path):
    import pytest

    from recstream.models.errors import RegistryError

    v1, v2 = release(reg, tmp_path, "a"), release(reg, tmp_path, "b")
    reg.promote(v1.id, actor="t", reason="x")
    with pytest.raises(RegistryError, match="with 0 it would serve nobody"):
        reg.start_canary(v2.id, share=0, actor="t", reason="x")
    reg.start_canary(v2.id, share=0.2, actor="alice", reason="try it")
    slot = DeepSlot(reg)  # started with the default share 0: the registry's share wins
    slot.poll()
    users = [f"u{i}" for i in range(5_000)]
    served = np.mean([slot.choose(u).version.id == v2.id for u in users])
    assert 0.17 < served < 0.23
    reg.set_canary_share(0.5, actor="alice", reason="looks fine")
    slot.poll()
    assert 0.46 < np.mean([slot.choose(u).version.id == v2.id for u in users]) < 0.54
    assert reg.audit(v2.id)[0]["reason"] == "canary share 0.2 -> 0.5: looks fine"
    reg.end_canary(actor="alice", reason="done")
    with pytest.raises(RegistryError, match="no deep version is in canary"):
        reg.set_canary_share(0.3, actor="alice", reason="x")


def test_the_first_poll_imports_torch_so_a_first_promotion_does_not_wait_for_it(tmp_path):
    code = f"""
import sys
from recstream.models.serving.hotswap import DeepSlot
from recstream.models.store.db import create_db_engine, upgrade
from recstream.models.store.registry import Registry
engine = create_db_engine("sqlite:///{tmp_path / 'r.db'}")
upgrade(engine)
before = "torch" in sys.modules
DeepSlot(Registry(engine)).poll()  # no version to load
print(before, "torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]  # not at import (a worker's start-up), but by the end of the first poll
