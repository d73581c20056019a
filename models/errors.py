"""The one root of recstream's exceptions.

    RecstreamError
     ├── ConfigError        a setting is malformed or points at nothing usable
     ├── DatabaseError      the database is unreachable or its schema is not at the expected revision
     └── DataFileError      an input file cannot be read as interactions

Every message says what is wrong and what to do about it.
"""


class RecstreamError(Exception):
    """Base class of every error recstream raises on purpose."""


class ConfigError(RecstreamError, ValueError):
    """A setting is malformed or points at nothing usable."""


class DatabaseError(RecstreamError):
    """The database cannot be used as it is."""


class DataFileError(RecstreamError):
    """An input file cannot be read as interactions."""
