"""Where model artefacts live and the keys that sign and encrypt them (RECSTREAM_ARTEFACT_*)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator

from recstream.models.artefacts.keys import ArtefactKeys, parse_key
from recstream.models.errors import ConfigError
from recstream.models.retrain.config import RetrainConfig
from recstream.stream.settings.base import Component


class ArtefactSettings(Component):
    model_config = Component.model_config | {"env_prefix": "RECSTREAM_ARTEFACT_"}

    dir: str = Field(str(RetrainConfig.artefact_dir),
                     validation_alias=AliasChoices("dir", "RECSTREAM_ARTEFACT_DIR", "RECSTREAM_ARTEFACT_URL"),
                     description="where model artefacts are written: a directory, or s3://bucket/prefix (also "
                                 "read as RECSTREAM_ARTEFACT_URL)")
    key: SecretStr | None = Field(None, description="HMAC key: artefacts are signed and verified with it")
    encryption_key: SecretStr | None = Field(
        None, description="AES-256-GCM key (URL-safe base64 of 32 bytes): artefacts are written encrypted")
    decryption_keys: SecretStr | None = Field(
        None, description="older encryption keys still accepted when reading, comma-separated (key rotation)")

    @field_validator("encryption_key", "decryption_keys")
    @classmethod
    def _check_encryption_keys(cls, v: SecretStr | None, info: Any) -> SecretStr | None:
        if v is not None:
            for part in v.get_secret_value().split(","):
                try:
                    parse_key(part, cls.env_name(info.field_name))
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
        return v

    @property
    def keys(self) -> ArtefactKeys:
        """Signing, encryption and decryption keys, as every artefact reader and writer takes them."""
        enc, old = self.encryption_key, self.decryption_keys
        return ArtefactKeys(sign=self.key.get_secret_value().encode() if self.key else None,
                            encrypt=parse_key(enc.get_secret_value()) if enc else None,
                            decrypt=tuple(parse_key(k) for k in old.get_secret_value().split(",")) if old else ())
