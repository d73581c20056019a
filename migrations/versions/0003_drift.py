"""drift monitoring: model outputs probed by workers, drift reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_outputs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("hit", sa.Integer(), nullable=False),
        sa.Column("top_score_z", sa.Double(), nullable=False),
        sa.Column("popular_share", sa.Double(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_outputs"),
    )
    op.create_index("ix_model_outputs_ts", "model_outputs", ["ts"])
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("ref_start", sa.Double(), nullable=True),
        sa.Column("ref_end", sa.Double(), nullable=True),
        sa.Column("ref_rows", sa.Integer(), nullable=False),
        sa.Column("cur_start", sa.Double(), nullable=True),
        sa.Column("cur_end", sa.Double(), nullable=True),
        sa.Column("cur_rows", sa.Integer(), nullable=False),
        sa.Column("drifted", sa.Integer(), nullable=False),
        sa.Column("drift_share", sa.Double(), nullable=False),
        sa.Column("drifted_columns", sa.Integer(), nullable=False),
        sa.Column("n_columns", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("html_path", sa.Text(), nullable=True),
        sa.Column("json_path", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("retrain_run_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["retrain_run_id"], ["training_runs.id"],
                                name="fk_drift_reports_retrain_run_id_training_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_drift_reports"),
    )
    op.create_index("ix_drift_reports_created_at", "drift_reports", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_drift_reports_created_at", table_name="drift_reports")
    op.drop_table("drift_reports")
    op.drop_index("ix_model_outputs_ts", table_name="model_outputs")
    op.drop_table("model_outputs")
