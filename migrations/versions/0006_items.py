"""catalogue: the latest state of each item from the items topic (deletes kept as tombstones)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", name="pk_items"),
    )


def downgrade() -> None:
    op.drop_table("items")
