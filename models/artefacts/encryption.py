"""Artefacts encrypted at rest: AES-256-GCM (authenticated) from `cryptography`.

File layout: MAGIC (8 bytes) | key id (8 bytes: the first 8 of sha256(key)) | nonce (12 bytes) | ciphertext+tag.
The header is authenticated too (AAD), so no byte of the file can change unnoticed. The key id lets a reader
pick the right key while keys rotate (RECSTREAM_ARTEFACT_ENCRYPTION_KEY is the one new files use;
RECSTREAM_ARTEFACT_DECRYPTION_KEYS lists older ones still accepted) and say "wrong key" rather than
"corrupt file".

Keys are 32 random bytes, written as URL-safe base64 (`recstream models new-key` prints one).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from recstream.models.errors import ArtefactError

MAGIC = b"RSENC\x00\x01\x00"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def is_encrypted(data: bytes) -> bool:
    return data.startswith(MAGIC)


def written_with(data: bytes) -> bytes:
    """The key id in an encrypted artefact's header."""
    return data[len(MAGIC):len(MAGIC) + KEY_ID_BYTES]


def encrypt(data: bytes, key: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = MAGIC + key_id(key) + os.urandom(NONCE_BYTES)
    return header + AESGCM(key).encrypt(header[-NONCE_BYTES:], data, header)


def decrypt(data: bytes, keys: Iterable[bytes], where: str) -> bytes:
    """Plaintext of an encrypted artefact, with whichever of `keys` it was written with."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(data) < HEADER_BYTES + 16:
        raise ArtefactError(f"encrypted artefact {where} is truncated")
    header, wanted = data[:HEADER_BYTES], written_with(data)
    key = next((k for k in keys if key_id(k) == wanted), None)
    if key is None:
        raise ArtefactError(f"artefact {where} is encrypted with a key that is not configured (key id "
                            f"{wanted.hex()}): set RECSTREAM_ARTEFACT_ENCRYPTION_KEY, or list the old key in "
                            "RECSTREAM_ARTEFACT_DECRYPTION_KEYS")
    try:
        return AESGCM(key).decrypt(header[-NONCE_BYTES:], data[HEADER_BYTES:], header)
    except InvalidTag:
        raise ArtefactError(f"encrypted artefact {where} fails authentication: the file was modified; "
                            "refusing to load it") from None
