"""user_states: cold users' online state, evicted from a worker's memory and taken back at their next event

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_states",
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("evicted_at", sa.Double(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_states"),
    )


def downgrade() -> None:
    op.drop_table("user_states")
