"""What every command shares: settings with clear errors, one-line errors instead of tracebacks, the common
options, and opening the database."""

from __future__ import annotations

import sys
from typing import Any

import click

from recstream.models.errors import ConfigError, RecstreamError
from recstream.stream.settings import Settings

bootstrap_opt = click.option("--bootstrap", help="Kafka bootstrap servers [env RECSTREAM_BOOTSTRAP]")
db_opt = click.option("--database-url", help="event store URL [env RECSTREAM_DATABASE_URL]")


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings.build(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


class Cli(click.Group):
    """Turns recstream's own errors into one clear line and exit code 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecstreamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


def open_engine(database_url: str | None):  # type: ignore[no-untyped-def]
    from recstream.models.store.db import create_db_engine, require_current_schema

    engine = create_db_engine(load_settings(database_url=database_url).database_url)
    require_current_schema(engine)
    return engine


def open_registry(database_url: str | None = None):  # type: ignore[no-untyped-def]
    from recstream.models.store.registry import Registry

    return Registry(open_engine(database_url))


def actor_name(actor: str | None) -> str:
    import getpass

    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
