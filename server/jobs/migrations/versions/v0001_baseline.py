"""The schema as it was before migrations: jobs, live sessions (with owners and reports), users,
sign-ins.

A SQLite database made before Alembic (no ``alembic_version``) is adopted here: only what it lacks is
made. The first release had no ``owner`` columns (every row then is the local user's) and no
``live_sessions.result`` (those sets keep NULL: "details not recorded"), nor the indexes.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

LOCAL_USER = "local"
Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sqlite.REAL(), "sqlite")


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}


def _indexes(table: str) -> set[str | None]:
    return {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    tables = _tables()
    if "jobs" not in tables:
        op.create_table(
            "jobs",
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
        )
    if "live_sessions" not in tables:
        op.create_table(
            "live_sessions",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("exercise", sa.Text, nullable=False),
            sa.Column("persona", sa.Text, nullable=False),
            sa.Column("started_at", Real, nullable=False),
            sa.Column("ended_at", Real, nullable=False),
            sa.Column("end_reason", sa.Text),
            sa.Column("reps", sa.Integer, nullable=False),
            sa.Column("mean_score", Real),
            sa.Column("summary", sa.Text, nullable=False),
            sa.Column("stats", sa.Text, nullable=False),
            sa.Column("owner", sa.Text, nullable=False, server_default=LOCAL_USER),
            sa.Column("result", sa.Text),
        )
    for table in ("jobs", "live_sessions"):  # databases from before owners: every row is the local user's
        if "owner" not in _columns(table):
            op.add_column(table, sa.Column("owner", sa.Text, nullable=False, server_default=LOCAL_USER))
    if "result" not in _columns("live_sessions"):  # older sets keep NULL: "details not recorded"
        op.add_column("live_sessions", sa.Column("result", sa.Text))
    for name, table, columns in (
        ("jobs_created", "jobs", ["created_at"]),
        ("live_sessions_started", "live_sessions", ["started_at"]),
        ("jobs_owner", "jobs", ["owner", "created_at"]),
        ("live_sessions_owner", "live_sessions", ["owner", "started_at"]),
    ):
        if name not in _indexes(table):
            op.create_index(name, table, columns)
    if "users" not in tables:
        op.create_table(
            "users",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("password_hash", sa.Text, nullable=False),
            sa.Column("token_hash", sa.Text, unique=True),
            sa.Column("created_at", Real, nullable=False),
        )
    if "sign_ins" not in tables:
        op.create_table(
            "sign_ins",
            sa.Column("id_hash", sa.Text, primary_key=True),
            sa.Column("user", sa.Text, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
            sa.Column("csrf", sa.Text, nullable=False),
            sa.Column("expires_at", Real, nullable=False),
        )


def downgrade() -> None:
    for table in ("sign_ins", "users", "live_sessions", "jobs"):
        op.drop_table(table)
