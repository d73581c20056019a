"""model registry: versions, audit log, training runs, training lock

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("window_start", sa.Double(), nullable=True),
        sa.Column("window_end", sa.Double(), nullable=True),
        sa.Column("n_interactions", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("artefact", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("signature", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("promoted_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["model_versions.id"],
                                name="fk_model_versions_parent_id_model_versions"),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
    )
    op.create_index("ix_model_versions_kind_status", "model_versions", ["kind", "status"])
    for status in ("live", "canary"):
        where = sa.text(f"status = '{status}'")
        op.create_index(f"uq_model_versions_{status}", "model_versions", ["kind"], unique=True,
                        sqlite_where=where, postgresql_where=where)
    op.create_table(
        "model_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["model_versions.id"],
                                name="fk_model_audit_version_id_model_versions"),
        sa.PrimaryKeyConstraint("id", name="pk_model_audit"),
    )
    op.create_index("ix_model_audit_version", "model_audit", ["version_id"])
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["model_versions.id"],
                                name="fk_training_runs_version_id_model_versions"),
        sa.PrimaryKeyConstraint("id", name="pk_training_runs"),
    )
    op.create_index("ix_training_runs_status", "training_runs", ["status"])
    lock = op.create_table(
        "training_lock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(128), nullable=True),
        sa.Column("acquired_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_lock"),
    )
    op.bulk_insert(lock, [{"id": 1, "holder": None, "acquired_at": None}])


def downgrade() -> None:
    op.drop_table("training_lock")
    op.drop_table("training_runs")
    op.drop_table("model_audit")
    op.drop_table("model_versions")
