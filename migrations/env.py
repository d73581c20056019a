"""Alembic environment: runs on the connection recstream hands over, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from recstream.models.store.schema import metadata

config = context.config
target_metadata = metadata


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    # APScheduler keeps its own job table in the same database; it is not ours to migrate.
    return not (type_ == "table" and name == "apscheduler_jobs")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, include_name=include_name,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, include_name=include_name,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
