"""drop the (user_id, ts) index of interactions: no query reads it, and it cost half of every insert

Measured (SQLite, batches of 2,000): 9.2 -> 4.9 us an event stored without it. Training and drift read by
event time (ix_interactions_ts); a worker keeps each user's recent items in memory.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_interactions_user_ts", table_name="interactions")


def downgrade() -> None:
    op.create_index("ix_interactions_user_ts", "interactions", ["user_id", "ts"])
