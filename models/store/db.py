"""Database engines and schema migrations (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from recstream.models.errors import ConfigError, DatabaseError


def normalise_url(url: str) -> str:
    """Validate a database URL and pick the drivers we ship (psycopg 3 for PostgreSQL).

    >>> normalise_url("postgresql://u@localhost/db")
    'postgresql+psycopg://u@localhost/db'
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"RECSTREAM_DATABASE_URL is not a database URL: {url!r} "
            "(expected e.g. sqlite:///var/recstream.db or postgresql://user@host/db)"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {parsed.get_backend_name()!r} in {url!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str) -> Engine:
    """An engine tuned for batch writes; creates the SQLite file's folder when needed."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the API read while the worker writes; NORMAL sync is durable across app crashes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("recstream.migrations")))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (what `recstream db upgrade` runs)."""
    from alembic import command

    cfg = _alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database at {engine.url!r}: {exc.orig}") from None


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database at {engine.url!r}: {exc.orig}") from None


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(create_engine("sqlite://"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def require_current_schema(engine: Engine) -> None:
    """Refuse to run on a database whose schema is not at the newest migration."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseError(
            f"database schema is at revision {current or 'none'}, this version needs {head}: "
            "run `recstream db upgrade` first"
        )
