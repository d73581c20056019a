"""Artefacts encrypted at rest, in a directory and in a bucket: round trips, refusals (wrong key, flipped byte, no
key), key rotation."""

import pytest

from recstream.models.artefacts import storage
from recstream.models.artefacts.encryption import MAGIC
from recstream.models.artefacts.files import read_verified, write_artefact
from recstream.models.artefacts.keys import ArtefactKeys, new_key, parse_key
from recstream.models.artefacts.rotation import rotate_keys
from recstream.models.errors import ArtefactError, ConfigError
from recstream.models.online.checkpoint import load_checkpoint
from recstream.models.store.registry import Registry

OLD, NEW = parse_key(new_key()), parse_key(new_key())
SIGN = b"s" * 32


def test_encrypted_artefacts_round_trip_and_hide_their_content(artefact_dir):
    data = b"model weights " * 1000
    path, digest, sig = write_artefact(data, artefact_dir, "m.pt", ArtefactKeys(sign=SIGN, encrypt=OLD))
    on_disk = storage.get(path)
    assert on_disk.startswith(MAGIC) and b"model weights" not in on_disk
    assert read_verified(path, digest, sig, ArtefactKeys(sign=SIGN, encrypt=OLD)) == data
    # Readable during a rotation: the old key listed as a decryption key.
    assert read_verified(path, digest, sig, ArtefactKeys(sign=SIGN, encrypt=NEW, decrypt=(OLD,))) == data


def test_a_wrong_key_a_flipped_byte_or_no_key_is_refused_with_a_clear_error(artefact_dir):
    path, digest, _ = write_artefact(b"weights" * 100, artefact_dir, "m.pt", ArtefactKeys(encrypt=OLD))
    with pytest.raises(ArtefactError, match="not configured"):
        read_verified(path, digest, None, ArtefactKeys(encrypt=NEW))
    with pytest.raises(ArtefactError, match="encrypted and no key is configured"):
        read_verified(path, digest, None, None)
    # A byte flipped by someone who also updated the registry's digest: the cipher's tag still catches it.
    data = bytearray(storage.get(path))
    data[-5] ^= 0x01
    storage.put(path, bytes(data))
    from recstream.models.artefacts.files import sha256_hex

    with pytest.raises(ArtefactError, match="fails authentication"):
        read_verified(path, sha256_hex(bytes(data)), None, ArtefactKeys(encrypt=OLD))
    with pytest.raises(ArtefactError, match="sha256"):  # and with the registry's digest, earlier still
        read_verified(path, digest, None, ArtefactKeys(encrypt=OLD))


def test_keys_must_be_32_bytes_of_base64():
    with pytest.raises(ConfigError, match="32 bytes"):
        parse_key("too-short")


def test_rotation_reencrypts_every_artefact_and_records_it(engine, artefact_dir):
    reg = Registry(engine)
    old_keys = ArtefactKeys(sign=SIGN, encrypt=OLD)
    plain = {}
    for i in range(3):
        data = f"model {i}".encode() * 50
        path, digest, sig = write_artefact(data, artefact_dir, f"m{i}.pt", old_keys if i else ArtefactKeys(sign=SIGN))
        v = reg.register("deep", artefact=str(path), sha256=digest, signature=sig)
        plain[v.id] = data
    new_keys = ArtefactKeys(sign=SIGN, encrypt=NEW, decrypt=(OLD,))
    report = rotate_keys(reg, new_keys, actor="op")
    assert len(report.rewritten) == 3 and not report.failed  # 2 re-encrypted, 1 encrypted for the first time
    assert rotate_keys(reg, new_keys, actor="op").unchanged and not rotate_keys(reg, new_keys, actor="op").rewritten
    only_new = ArtefactKeys(sign=SIGN, encrypt=NEW)  # the old key can now be dropped
    for vid, data in plain.items():
        v = reg.get(vid)
        assert read_verified(v.artefact, v.sha256, v.signature, only_new) == data
        assert reg.audit(vid)[0]["reason"].startswith("artefact rewritten")
    with pytest.raises(ArtefactError, match="not configured"):
        v = reg.get(next(iter(plain)))
        read_verified(v.artefact, v.sha256, v.signature, old_keys)


def test_rotation_reports_a_missing_file_and_leaves_the_rest_done(engine, artefact_dir):
    reg = Registry(engine)
    path, digest, _ = write_artefact(b"x" * 100, artefact_dir, "gone.pt")
    gone = reg.register("deep", artefact=str(path), sha256=digest)
    storage.delete(path)
    path2, digest2, _ = write_artefact(b"y" * 100, artefact_dir, "here.pt")
    reg.register("deep", artefact=str(path2), sha256=digest2)
    report = rotate_keys(reg, ArtefactKeys(encrypt=NEW), actor="op")
    assert list(report.failed) == [gone.name] and len(report.rewritten) == 1


def test_checkpoints_are_encrypted_too(engine, artefact_dir):
    from recstream.models.data.synthetic import SyntheticSpec, generate
    from recstream.models.online.checkpoint import OnlineCheckpoint, register_checkpoint
    from recstream.models.online.config import OnlineConfig
    from recstream.models.online.recommender import OnlineRecommender

    rec = OnlineRecommender(OnlineConfig(n_factors=4))
    rec.learn(list(generate(SyntheticSpec(users=50, items=80, events=500))))
    keys = ArtefactKeys(encrypt=NEW)
    v = register_checkpoint(Registry(engine), OnlineCheckpoint(rec, {}).dumps(), offsets={}, events_learned=500,
                            directory=artefact_dir, key=keys, source="test")
    assert storage.get(v.artefact).startswith(MAGIC)
    assert load_checkpoint(v, keys).recommender.events_learned == 500
