"""Artefact keys: which sign, encrypt and decrypt, and how configuration writes them (no cryptography here)."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from recstream.models.errors import ConfigError


@dataclass(frozen=True)
class ArtefactKeys:
    """Every key that touches artefacts. Functions here also accept plain bytes: an HMAC key alone."""

    sign: bytes | None = None
    #: new files are encrypted with this one
    encrypt: bytes | None = None
    #: older keys still accepted when reading (the encryption key is always accepted)
    decrypt: tuple[bytes, ...] = ()

    @property
    def readable(self) -> tuple[bytes, ...]:
        return ((self.encrypt,) if self.encrypt else ()) + self.decrypt


def new_key() -> str:
    """A fresh key, as configuration wants it."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def parse_key(text: str, setting: str = "RECSTREAM_ARTEFACT_ENCRYPTION_KEY") -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{setting} must be 32 bytes in URL-safe base64 (44 characters); "
                          "`recstream models new-key` prints one")
    return key
