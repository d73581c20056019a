"""The settings reference (docs/settings.md), generated from the settings classes: every variable, its default
and what it means, written once in the class. tests/stream/test_settings.py fails when the file is stale.

    python -m recstream.stream.settings.reference > docs/settings.md
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from recstream.stream.settings import Component, Settings

HEADER = """# Settings

Every setting is an environment variable (or a line of `.env`); `recstream` commands' flags override them. A bad
value is refused at start, naming the variable. Generated from `stream/settings/` by
`python -m recstream.stream.settings.reference > docs/settings.md` (a test fails when this file is stale).
"""


def markdown() -> str:
    parts = [HEADER, _table("General", Settings, [n for n, f in Settings.model_fields.items() if not _component(f)])]
    for name, field in Settings.model_fields.items():
        if (component := _component(field)) is not None:
            title = f"{component.__name__.removesuffix('Settings')} (`settings.{name}`)"
            parts.append(_table(title, component, list(component.model_fields), component.__doc__))
    return "\n".join(parts)


def _component(field: FieldInfo) -> type[Component] | None:
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, Component) else None


def _table(title: str, cls: type[Component], names: list[str], doc: str | None = None) -> str:
    lines = [f"## {title}", ""]
    if doc and cls is not Settings:
        lines += [" ".join(doc.split()), ""]
    lines += ["| variable | default | meaning |", "|---|---|---|"]
    for name in names:
        field = cls.model_fields[name]
        older = [str(a).upper() for a in field.validation_alias.choices if str(a).upper() != cls.env_name(name)
                 and str(a).upper().startswith("RECSTREAM_")] if isinstance(field.validation_alias, AliasChoices) else []
        meaning = (field.description or "").replace("|", "\\|") + (f" (older name: `{'`, `'.join(older)}`)" if older else "")
        lines.append(f"| `{cls.env_name(name)}` | {_default(field)} | {meaning} |")
    return "\n".join(lines) + "\n"


def _default(field: FieldInfo) -> str:
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        return "—"
    text = json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)
    return f"`{text}`"


if __name__ == "__main__":
    print(markdown(), end="")
