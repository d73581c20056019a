"""SQL tables (the event store). Migrations in `migrations/` create them; this module only describes them."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, MetaData, String, Table

# Naming convention so Alembic migrations get stable, portable constraint names.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID_LENGTH = 256

interactions = Table(
    "interactions",
    metadata,
    # The producer's id: the primary key makes replays and redeliveries idempotent.
    Column("event_id", String(ID_LENGTH), primary_key=True),
    Column("user_id", String(ID_LENGTH), nullable=False),
    Column("item_id", String(ID_LENGTH), nullable=False),
    Column("type", String(16), nullable=False),
    Column("value", Double, nullable=True),
    # Unix seconds (UTC): portable across SQLite and PostgreSQL and cheap to write at 40k rows/s.
    Column("ts", Double, nullable=False),
    Column("received_at", Double, nullable=False),
    Column("context", JSON, nullable=True),
    Index("ix_interactions_ts", "ts"),
    Index("ix_interactions_user_ts", "user_id", "ts"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("event_id", String(ID_LENGTH), primary_key=True),
    Column("rec_id", String(ID_LENGTH), nullable=False),
    Column("user_id", String(ID_LENGTH), nullable=False),
    Column("item_id", String(ID_LENGTH), nullable=False),
    Column("action", String(16), nullable=False),
    Column("model_version", String(ID_LENGTH), nullable=False),
    Column("ts", Double, nullable=False),
    Column("received_at", Double, nullable=False),
    Index("ix_feedback_ts", "ts"),
    Index("ix_feedback_model_version", "model_version"),
)
