"""What every component's settings share: RECSTREAM_* environment variables (or .env), frozen, typed."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, TypeVar, get_args

from pydantic import AliasChoices, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

T = TypeVar("T")


class Component(BaseSettings):
    """One concern's settings. A field `f` is read from `<env_prefix>F` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="RECSTREAM_", env_file=".env", extra="ignore", frozen=True)
    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object, info: ValidationInfo) -> object:
        # Compose passes `${VAR:-}` as an empty string: for a setting that may be unset, that means "not
        # configured" (a token), or "off" (an interval), never "the empty token".
        field = cls.model_fields.get(info.field_name or "")
        optional = field is not None and type(None) in get_args(field.annotation)
        return None if optional and isinstance(v, str) and not v.strip() else v

    @field_validator("*", mode="before")
    @classmethod
    def _path_as_text(cls, v: object) -> object:
        # Locations are text (a directory or s3://bucket/prefix); code building settings passes a Path.
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    def derive(self, config: type[T], renames: Mapping[str, str] | None = None, **given: Any) -> T:
        """`config` (a model's config dataclass) from every setting it shares by name — `renames` maps a
        setting's name to the config's where they differ — and `given` for what the settings do not hold, so no
        field is copied by hand (a new setting reaches its config by its name)."""
        renames = renames or {}
        wanted = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
        values = {renames.get(n, n): getattr(self, n) for n in type(self).model_fields if renames.get(n, n) in wanted}
        return config(**{**values, **given})

    @classmethod
    def env_name(cls, field: str) -> str:
        return (cls.model_config.get("env_prefix") or "").upper() + field.upper()

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Environment name -> field name, for every field (older names included)."""
        out = {cls.env_name(f): f for f in cls.model_fields}
        for f, info in cls.model_fields.items():
            if isinstance(info.validation_alias, AliasChoices):  # older names still read
                out.update({str(a).upper(): f for a in info.validation_alias.choices
                            if str(a).upper().startswith("RECSTREAM_")})
        return out


def describe_errors(exc: Any, component: type[Component]) -> list[str]:
    """One line per problem, naming the environment variable to fix."""
    return [f"{component.env_name(str(e['loc'][0])) if e['loc'] else component.__name__}: {e['msg']}"
            for e in exc.errors()]
