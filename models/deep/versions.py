"""A registered deep version's model, loaded only after its artefact passed its checks."""

from __future__ import annotations

from recstream.models.artefacts.files import read_verified
from recstream.models.artefacts.keys import ArtefactKeys
from recstream.models.deep.model import DeepModel
from recstream.models.store.registry import ModelVersion


def load_model(version: ModelVersion, key: bytes | ArtefactKeys | None = None) -> DeepModel:
    """The model of a registered version, after its artefact passed the checksum (and signature) check."""
    assert version.artefact and version.sha256
    return DeepModel.from_bytes(read_verified(version.artefact, version.sha256, version.signature, key))
