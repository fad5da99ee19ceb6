"""The store's tables as the code reads and writes them: the head of the migrations
(``server/jobs/migrations/versions/``), described once in SQLAlchemy Core for SQLite and PostgreSQL.

A change here is a new migration too: ``tests/test_store.py`` checks that a database migrated to the
head has exactly these tables, columns and indexes on both engines.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

LOCAL_USER = "local"
"""The one user of ``auth=single``; rows stored before owners existed belong to it."""

UNNAMED_NODE = "single"
"""The node name of a server without ``node_name`` (the only one using its database); jobs stored before
nodes existed belong to it."""

Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sqlite.REAL(), "sqlite")
"""Unix times, scores, seconds: double precision (PostgreSQL's ``real`` is single precision, which would
round today's unix times to about two minutes); ``REAL`` in SQLite, as the first release made them."""

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("progress", Real, nullable=False, server_default=sa.text("0")),
    sa.Column("exercise", sa.Text, nullable=False),
    sa.Column("persona", sa.Text, nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("upload_path", sa.Text),
    sa.Column("created_at", Real, nullable=False),
    sa.Column("started_at", Real),
    sa.Column("finished_at", Real),
    sa.Column("error", sa.Text),
    sa.Column("error_code", sa.Text),
    sa.Column("reps", sa.Integer),
    sa.Column("mean_score", Real),
    sa.Column("result", sa.Text),
    sa.Column("owner", sa.Text, nullable=False, server_default=LOCAL_USER),
    sa.Column("held_s", Real),
    sa.Column("node", sa.Text, nullable=False, server_default=UNNAMED_NODE),
    sa.Index("jobs_created", "created_at"),
    sa.Index("jobs_owner", "owner", "created_at"),
    sa.Index("jobs_node", "node", "status"),
)
"""Uploaded videos' analyses. ``result``: the report, JSON text; ``held_s``: its summary's
``hold_total_s`` (a hold exercise's time held), kept beside it so the history filters without JSON;
``node``: the server that queued it and runs (or hands to Ray) its analysis, the only one that recovers it."""

live_sessions = sa.Table(
    "live_sessions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("exercise", sa.Text, nullable=False),
    sa.Column("persona", sa.Text, nullable=False),
    sa.Column("started_at", Real, nullable=False),
    sa.Column("ended_at", Real),
    sa.Column("end_reason", sa.Text),
    sa.Column("reps", sa.Integer, nullable=False),
    sa.Column("mean_score", Real),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("stats", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False, server_default=LOCAL_USER),
    sa.Column("result", sa.Text),
    sa.Column("held_s", Real),
    sa.Column("node", sa.Text),
    sa.Column("saved_at", Real),
    sa.Index("live_sessions_started", "started_at"),
    sa.Index("live_sessions_owner", "owner", "started_at"),
    sa.Index("live_sessions_node", "node", "ended_at"),
)
"""Live sets. ``ended_at`` is NULL while the set runs (saved as it goes by ``node``, the server holding
it, last at ``saved_at``); ``summary``, ``stats`` and ``result`` are JSON text; ``held_s`` is the
summary's ``hold_total_s``."""

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, unique=True),
    sa.Column("created_at", Real, nullable=False),
)

sign_ins = sa.Table(
    "sign_ins",
    metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("user", sa.Text, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("expires_at", Real, nullable=False),
)
