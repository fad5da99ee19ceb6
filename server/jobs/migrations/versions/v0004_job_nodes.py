"""Jobs belong to the server that queued them (``node``), so a server starting up recovers only its own:
before this, every node behind a load balancer failed the others' running jobs and queued their waiting
ones a second time. Jobs already there belong to the unnamed single server.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("node", sa.Text, nullable=False, server_default="single"))
    op.create_index("jobs_node", "jobs", ["node", "status"])


def downgrade() -> None:
    op.drop_index("jobs_node", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("node")
