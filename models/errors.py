"""The one root of recstream's exceptions.

    RecstreamError
     ├── ConfigError        a setting is malformed or points at nothing usable
     ├── DatabaseError      the database is unreachable or its schema is not at the expected revision
     │    └── DatabaseLost      the database went away during a training run (to be settled and retried)
     ├── DataFileError      an input file cannot be read as interactions
     ├── DeltaFormatError   a peer's item-side delta cannot be read
     ├── RegistryError      a model version cannot make the requested transition
     │    └── VersionNotFound   no such model version
     ├── ArtefactError      a model file is missing or fails its checksum / signature
     └── TrainingBusy       another training run holds the training lock

Every message says what is wrong and what to do about it.
"""


class RecstreamError(Exception):
    """Base class of every error recstream raises on purpose."""


class ConfigError(RecstreamError, ValueError):
    """A setting is malformed or points at nothing usable."""


class DatabaseError(RecstreamError):
    """The database cannot be used as it is."""


class DatabaseLost(DatabaseError):
    """The database went away during a training run: the run could not be recorded as finished nor the training
    lock released. `run_id` (None if the run was never recorded) and `holder` say what to settle once it is back."""

    def __init__(self, message: str, run_id: int | None, holder: str) -> None:
        super().__init__(message)
        self.run_id, self.holder = run_id, holder


class DataFileError(RecstreamError):
    """An input file cannot be read as interactions."""


class DeltaFormatError(RecstreamError, ValueError):
    """A peer's item-side delta (models/online/delta_codec.py) is not in the format this version reads."""


class RegistryError(RecstreamError):
    """A model version does not exist, or the requested transition is not allowed."""


class VersionNotFound(RegistryError):
    """No model version has the given id or name."""


class ArtefactError(RecstreamError):
    """A model artefact is missing, unreadable, or does not match its registered checksum or signature."""


class TrainingBusy(RecstreamError):
    """Another training run holds the training lock."""
