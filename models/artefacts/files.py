"""Model files at rest (storage.py: a directory or object storage): written atomically, identified by sha256,
optionally signed with HMAC-SHA256 and encrypted with AES-256-GCM (encryption.py).

A worker only ever loads bytes whose digest (and signature, when a key is configured) match the registry, so a
file changed on disk after registration is refused rather than served. Digest and signature cover the bytes on
disk (ciphertext when encrypted); decryption then authenticates again with the key.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from recstream.models.artefacts import storage
from recstream.models.artefacts.encryption import decrypt, encrypt, is_encrypted
from recstream.models.artefacts.keys import ArtefactKeys
from recstream.models.errors import ArtefactError


def _keys(key: bytes | ArtefactKeys | None) -> ArtefactKeys:
    return key if isinstance(key, ArtefactKeys) else ArtefactKeys(sign=key)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign(data: bytes, key: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def write_artefact(data: bytes, directory: str | Path, name: str,
                   key: bytes | ArtefactKeys | None = None) -> tuple[str, str, str | None]:
    """Write `data` as `name` under `directory` (a local directory or an s3:// prefix) atomically, encrypted
    when an encryption key is configured; return (location, sha256, signature or None) of the stored bytes. A
    local location is absolute, so any process reads it back whatever its working directory."""
    location = storage.join(directory, name)
    if not storage.is_remote(location):
        location = str(Path(location).resolve())
    return rewrite(location, data, key)


def rewrite(location: str, data: bytes, key: bytes | ArtefactKeys | None = None) -> tuple[str, str, str | None]:
    """Write `data` at `location` exactly (see write_artefact): also how key rotation re-encrypts in place."""
    keys = _keys(key)
    if keys.encrypt is not None:
        data = encrypt(data, keys.encrypt)
    storage.put(location, data)
    return location, sha256_hex(data), sign(data, keys.sign) if keys.sign else None


def read_verified(path: str | Path, sha256: str, signature: str | None = None,
                  key: bytes | ArtefactKeys | None = None) -> bytes:
    """The (decrypted) bytes of an artefact, after checking them against the registry's digest and signature."""
    keys = _keys(key)
    try:
        data = storage.get(path)
    except OSError as exc:
        raise ArtefactError(f"model artefact {path} cannot be read ({exc.strerror or exc}); "
                            "restore it or roll back to another version") from None
    actual = sha256_hex(data)
    if not hmac.compare_digest(actual, sha256):
        raise ArtefactError(f"model artefact {path} has sha256 {actual[:12]}…, the registry expects {sha256[:12]}…: "
                            "the file was changed after registration; refusing to load it")
    if keys.sign is not None:
        if signature is None:
            raise ArtefactError(f"model artefact {path} has no signature but RECSTREAM_ARTEFACT_KEY is set: "
                                "re-register it with the key, or unset the key")
        if not hmac.compare_digest(sign(data, keys.sign), signature):
            raise ArtefactError(f"model artefact {path} fails its HMAC signature check: wrong "
                                "RECSTREAM_ARTEFACT_KEY, or the file and its registry row were both altered")
    if is_encrypted(data):
        if not keys.readable:
            raise ArtefactError(f"model artefact {path} is encrypted and no key is configured: set "
                                "RECSTREAM_ARTEFACT_ENCRYPTION_KEY (or RECSTREAM_ARTEFACT_DECRYPTION_KEYS)")
        return decrypt(data, keys.readable, str(path))
    return data
