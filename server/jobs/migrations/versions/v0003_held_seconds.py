"""A set's time held (its summary's ``hold_total_s``) in a column of its own, so the history filters
the same way on every engine (it was read with SQLite's ``json_extract``); filled in for the rows
already there.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sqlite.REAL(), "sqlite")


def _held(text: str | None, *path: str) -> float | None:
    """``hold_total_s`` under ``path`` in the JSON ``text``, when it is a number."""
    try:
        value: Any = json.loads(text) if text else None
    except ValueError:
        return None
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fill(table: str, column: str, *path: str) -> None:
    rows = sa.table(table, sa.column("id", sa.Text), sa.column(column, sa.Text), sa.column("held_s", Real))
    bind = op.get_bind()
    held = {}
    for row in bind.execute(sa.select(rows.c.id, rows.c[column]).where(rows.c[column].is_not(None))):
        value = _held(row[1], *path)
        if value is not None:
            held[row[0]] = value
    if held:
        bind.execute(
            rows.update().where(rows.c.id == sa.bindparam("row_id")).values(held_s=sa.bindparam("value")),
            [{"row_id": key, "value": value} for key, value in held.items()],
        )


def upgrade() -> None:
    op.add_column("jobs", sa.Column("held_s", Real))
    op.add_column("live_sessions", sa.Column("held_s", Real))
    _fill("jobs", "result", "summary", "hold_total_s")
    _fill("live_sessions", "summary", "hold_total_s")


def downgrade() -> None:
    with op.batch_alter_table("live_sessions") as batch:
        batch.drop_column("held_s")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("held_s")
