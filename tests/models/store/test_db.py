import pytest

from recstream.models.errors import ConfigError, DatabaseError
from recstream.models.store.db import (
    create_db_engine,
    current_revision,
    head_revision,
    normalise_url,
    require_current_schema,
    upgrade,
)


def test_postgres_urls_use_psycopg3():
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


@pytest.mark.parametrize("bad", ["foo", "mysql://u@h/db"])
def test_bad_urls_are_named(bad):
    with pytest.raises(ConfigError, match="RECSTREAM_DATABASE_URL|unsupported database"):
        normalise_url(bad)


def test_unmigrated_database_is_refused_until_upgraded(db_url):
    engine = create_db_engine(db_url)
    with pytest.raises(DatabaseError, match="recstream db upgrade"):
        require_current_schema(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    require_current_schema(engine)
    upgrade(engine)  # idempotent


def test_the_migrations_build_exactly_the_tables_the_code_describes(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from recstream.models.store.schema import metadata

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
