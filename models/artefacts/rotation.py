"""Key rotation: rewrite every artefact under the current keys (encrypt, re-encrypt, or decrypt when
encryption was switched off), updating the registry's digest and signature, with an audit entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from recstream.models.artefacts import storage
from recstream.models.artefacts.encryption import is_encrypted, key_id, written_with
from recstream.models.artefacts.files import read_verified, rewrite
from recstream.models.artefacts.keys import ArtefactKeys
from recstream.models.errors import ArtefactError
from recstream.models.store.registry import Registry


@dataclass
class RotationReport:
    rewritten: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: version name -> why it was left as it was
    failed: dict[str, str] = field(default_factory=dict)


def rotate_keys(registry: Registry, keys: ArtefactKeys, *, actor: str,
                limit: int = 100_000) -> RotationReport:
    """Bring every version's artefact under `keys` (readable with any of keys.readable, written with
    keys.encrypt). Files already written with the current key are left alone; missing or unreadable ones are
    reported, never half-rewritten (writes are atomic)."""
    report = RotationReport()
    for v in registry.list(limit=limit):
        if not v.artefact or not v.sha256:
            continue
        path = v.artefact
        try:
            on_disk = storage.get(path)
            if keys.encrypt is None:
                current = not is_encrypted(on_disk)
            else:
                current = is_encrypted(on_disk) and written_with(on_disk) == key_id(keys.encrypt)
            if current and (keys.sign is None or v.signature is not None):
                report.unchanged.append(v.name)
                continue
            plain = read_verified(path, v.sha256, v.signature, keys)
            _, digest, signature = rewrite(path, plain, keys)
        except (ArtefactError, OSError) as exc:
            report.failed[v.name] = str(exc)
            continue
        registry.replace_artefact(v.id, sha256=digest, signature=signature, actor=actor,
                                  reason="artefact rewritten under the current keys (key rotation)")
        report.rewritten.append(v.name)
    return report
