"""Artefact locations: a directory or an S3 bucket (moto's server), read and written alike, failing clearly."""

import pytest

from recstream.models.artefacts import storage
from recstream.models.artefacts.files import read_verified, sha256_hex
from recstream.models.errors import ArtefactError


def test_put_get_exists_and_delete_behave_the_same_in_a_directory_and_a_bucket(artefact_dir):
    where = storage.join(artefact_dir, "online", "a.ckpt")
    assert not storage.exists(where)
    storage.put(where, b"first")
    storage.put(where, b"second")  # replaced whole
    assert storage.exists(where) and storage.get(where) == b"second"
    storage.delete(where)
    storage.delete(where)  # already gone: nothing to do
    with pytest.raises(FileNotFoundError):
        storage.get(where)
    with pytest.raises(ArtefactError, match="cannot be read.*restore it or roll back"):
        read_verified(where, sha256_hex(b"second"))


def test_a_missing_bucket_or_a_malformed_url_says_what_to_fix(s3_prefix):
    with pytest.raises(OSError, match="bucket does not exist"):
        storage.put("s3://no-such-bucket-here/x/m.pt", b"data")
    with pytest.raises(OSError, match="expected s3://bucket/prefix/name"):
        storage.get("s3://only-a-bucket")
