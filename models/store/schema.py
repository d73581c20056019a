"""SQL tables (the event store and the model registry). Migrations in `migrations/` create them; this module only describes them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

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
    # No (user_id, ts) index: nothing queries by user, and it doubled the cost of an insert (migration 0005).
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

# ---- the model registry ------------------------------------------------------------------------------------
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: "deep" (the scheduled PyTorch model) or "online" (a checkpoint of the online learner)
    Column("kind", String(16), nullable=False),
    #: candidate, rejected, canary, live, retired, rolled_back, failed
    Column("status", String(16), nullable=False),
    #: the version this one was warm-started from
    Column("parent_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("window_start", Double, nullable=True),
    Column("window_end", Double, nullable=True),
    Column("n_interactions", Integer, nullable=True),
    Column("params", JSON, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("artefact", Text, nullable=True),
    Column("sha256", String(64), nullable=True),
    #: HMAC-SHA256 of the artefact under RECSTREAM_ARTEFACT_KEY, when one is configured
    Column("signature", String(64), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("promoted_at", Double, nullable=True),
    Index("ix_model_versions_kind_status", "kind", "status"),
    # At most one live and one canary version per kind, enforced by the database even under racing promotions.
    Index("uq_model_versions_live", "kind", unique=True, sqlite_where=text("status = 'live'"),
          postgresql_where=text("status = 'live'")),
    Index("uq_model_versions_canary", "kind", unique=True, sqlite_where=text("status = 'canary'"),
          postgresql_where=text("status = 'canary'")),
)

#: Append-only: every status change of a version, with who asked and why.
model_audit = Table(
    "model_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", Double, nullable=False),
    Index("ix_model_audit_version", "version_id"),
)

#: One row per retraining: requested (by an operator, the schedule or drift), running, then ok/rejected/failed.
training_runs = Table(
    "training_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("requested_at", Double, nullable=False),
    Column("started_at", Double, nullable=True),
    Column("finished_at", Double, nullable=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_training_runs_status", "status"),
)

#: A single row whose holder owns the right to train: it keeps trainings from overlapping across processes.
training_lock = Table(
    "training_lock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(128), nullable=True),
    Column("acquired_at", Double, nullable=True),
)

# ---- monitoring --------------------------------------------------------------------------------------------
#: What the online model answered when the worker probed it (the prequential sample): the model-output side of
#: drift. `ts` is the event time of the probed event, so output windows line up with event windows on replays too.
model_outputs = Table(
    "model_outputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Double, nullable=False),
    #: 1 when the event's item was in the model's top-10 for that user just before it learned the event
    Column("hit", Integer, nullable=False),
    #: the top-1 score as a z-score over the catalogue (scale-free: raw scores grow as the model learns)
    Column("top_score_z", Double, nullable=False),
    #: share of the top-10 taken by the catalogue's most popular items (top 1%, at least 10)
    Column("popular_share", Double, nullable=False),
    Column("source", String(128), nullable=False),
    Column("recorded_at", Double, nullable=False),
    Index("ix_model_outputs_ts", "ts"),
)

#: One row per drift run: the windows compared, the verdict per column and for the dataset, where the full
#: Evidently report (HTML + JSON) lies, and the retrain it requested, if any.
drift_reports = Table(
    "drift_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Double, nullable=False),
    #: "live-model" (the live deep version's training window), "pinned" or "oldest" (start of the store)
    Column("reference", String(32), nullable=False),
    Column("ref_start", Double, nullable=True),
    Column("ref_end", Double, nullable=True),
    Column("ref_rows", Integer, nullable=False),
    Column("cur_start", Double, nullable=True),
    Column("cur_end", Double, nullable=True),
    Column("cur_rows", Integer, nullable=False),
    Column("drifted", Integer, nullable=False),
    Column("drift_share", Double, nullable=False),
    Column("drifted_columns", Integer, nullable=False),
    Column("n_columns", Integer, nullable=False),
    #: column -> {"group", "method", "score", "threshold", "drifted"}; skipped columns say why
    Column("columns", JSON, nullable=False),
    Column("html_path", Text, nullable=True),
    Column("json_path", Text, nullable=True),
    Column("duration_s", Double, nullable=False),
    #: the retrain this report requested (or joined, when one was already waiting)
    Column("retrain_run_id", Integer, ForeignKey("training_runs.id"), nullable=True),
    #: why a retrain was or was not requested (consecutive count, cool-down)
    Column("action", Text, nullable=True),
    Index("ix_drift_reports_created_at", "created_at"),
)

# ---- scale-out ---------------------------------------------------------------------------------------------
#: Which stream worker owns which partitions of the behaviour topic, and where its HTTP API answers: a worker
#: that receives a request for a user on another worker's partition forwards it there. Each worker rewrites its
#: row when its assignment changes and touches `heartbeat_at` every few seconds; rows that stop being touched
#: (a crashed worker) are ignored, then deleted by the next worker that starts.
workers = Table(
    "workers",
    metadata,
    #: the worker's name (host:port), unique within a deployment
    Column("source", String(128), primary_key=True),
    Column("group_id", String(255), nullable=False),
    #: base URL of the worker's HTTP API as other workers reach it (RECSTREAM_ADVERTISED_URL)
    Column("url", Text, nullable=False),
    #: behaviour-topic partitions assigned to it now (list of ints), and how many the topic has
    Column("partitions", JSON, nullable=False),
    Column("n_partitions", Integer, nullable=False),
    Column("assigned_at", Double, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    #: HMAC-SHA256 of group, source and url under RECSTREAM_ARTEFACT_KEY (None without a key): peers trust it
    Column("signature", String(64), nullable=True),
)

# ---- catalogue ---------------------------------------------------------------------------------------------
#: The latest state of each item the items topic described (deletes kept as tombstones). Written by the worker
#: that owns the item's partition, in topic order; read at start by every worker and by `recstream items show`.
items = Table(
    "items",
    metadata,
    Column("item_id", String(ID_LENGTH), primary_key=True),
    Column("available", Boolean, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("created_at", Double, nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("updated_at", Double, nullable=False),
)

# ---- the operator console ----------------------------------------------------------------------------------
#: Every dead letter a worker sent, for the console (the topic stays the record to fix and replay from): one row
#: per source offset, the newest RECSTREAM_CONSOLE_DEAD_LETTERS_KEPT kept.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source_topic", String(255), nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", BigInteger, nullable=False),
    Column("failed_at", Double, nullable=False),
    #: the message's key and the start of its value, as text (the topic has the bytes)
    Column("key", Text, nullable=True),
    Column("value_head", Text, nullable=True),
    UniqueConstraint("source_topic", "source_partition", "source_offset", name="uq_dead_letters_source"),
    Index("ix_dead_letters_code", "code"),
)

#: What each worker reported every RECSTREAM_CONSOLE_SAMPLE_S: the console's charts, the same whichever worker
#: draws them and kept across restarts (RECSTREAM_CONSOLE_HISTORY_S of it).
worker_samples = Table(
    "worker_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(128), nullable=False),
    Column("at", Double, nullable=False),
    #: totals since the worker started (rates come from differences)
    Column("consumed", BigInteger, nullable=False),
    Column("learned", BigInteger, nullable=False),
    Column("dead_lettered", BigInteger, nullable=False),
    Column("lag", BigInteger, nullable=True),
    Column("served_recall", Double, nullable=True),
    Column("online_recall", Double, nullable=True),
    #: request latency over the sample's interval
    Column("p50_ms", Double, nullable=True),
    Column("p99_ms", Double, nullable=True),
    Column("requests", BigInteger, nullable=False),
    Column("deep_live", String(64), nullable=True),
    Index("ix_worker_samples_at", "at"),
)

# ---- cold users out of a worker's memory -------------------------------------------------------------------
user_states = Table(
    "user_states",
    metadata,
    Column("user_id", String(ID_LENGTH), primary_key=True),
    #: models/online/users.py UserState as JSON (never pickle: the database is not trusted to run code)
    Column("state", Text, nullable=False),
    Column("evicted_at", Double, nullable=False),
    Column("source", String(128), nullable=False),
)
