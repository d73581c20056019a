"""operator console: dead letters as rows, and the workers' samples behind its charts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source_topic", sa.String(255), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("failed_at", sa.Double(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("value_head", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.UniqueConstraint("source_topic", "source_partition", "source_offset", name="uq_dead_letters_source"),
    )
    op.create_index("ix_dead_letters_code", "dead_letters", ["code"])
    op.create_table(
        "worker_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("consumed", sa.BigInteger(), nullable=False),
        sa.Column("learned", sa.BigInteger(), nullable=False),
        sa.Column("dead_lettered", sa.BigInteger(), nullable=False),
        sa.Column("lag", sa.BigInteger(), nullable=True),
        sa.Column("served_recall", sa.Double(), nullable=True),
        sa.Column("online_recall", sa.Double(), nullable=True),
        sa.Column("p50_ms", sa.Double(), nullable=True),
        sa.Column("p99_ms", sa.Double(), nullable=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("deep_live", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_worker_samples"),
    )
    op.create_index("ix_worker_samples_at", "worker_samples", ["at"])


def downgrade() -> None:
    op.drop_index("ix_worker_samples_at", "worker_samples")
    op.drop_table("worker_samples")
    op.drop_index("ix_dead_letters_code", "dead_letters")
    op.drop_table("dead_letters")
