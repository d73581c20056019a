"""workers: an HMAC of each row's group, name and URL under the artefact key

A worker forwards requests to, and the console fetches, the URLs in this table: with the key set, a row that
whoever can write the database added is not trusted (docs/security.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("signature", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("signature")
