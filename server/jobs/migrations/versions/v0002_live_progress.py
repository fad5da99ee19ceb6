"""Live sets saved while they run, so a server that dies loses no counted rep: ``ended_at`` may be
NULL (in progress), ``node`` names the server holding the set, ``saved_at`` is its last save.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sqlite.REAL(), "sqlite")


def upgrade() -> None:
    # SQLite cannot drop NOT NULL in place: batch mode copies the table (rows, indexes) in the transaction
    with op.batch_alter_table("live_sessions") as batch:
        batch.alter_column("ended_at", existing_type=Real, nullable=True)
        batch.add_column(sa.Column("node", sa.Text))
        batch.add_column(sa.Column("saved_at", Real))
    op.create_index("live_sessions_node", "live_sessions", ["node", "ended_at"])


def downgrade() -> None:
    op.drop_index("live_sessions_node", "live_sessions")
    op.execute("DELETE FROM live_sessions WHERE ended_at IS NULL")
    with op.batch_alter_table("live_sessions") as batch:
        batch.drop_column("saved_at")
        batch.drop_column("node")
        batch.alter_column("ended_at", existing_type=Real, nullable=False)
