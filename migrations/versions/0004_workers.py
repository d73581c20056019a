"""scale-out: the directory of stream workers and the partitions each owns

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("group_id", sa.String(255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("partitions", sa.JSON(), nullable=False),
        sa.Column("n_partitions", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.Double(), nullable=False),
        sa.Column("heartbeat_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_workers"),
    )


def downgrade() -> None:
    op.drop_table("workers")
