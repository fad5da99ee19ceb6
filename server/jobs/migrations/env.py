"""Alembic's entry point for the store's migrations. They run only through ``server.jobs.database``
(``Store`` on open, ``coach db upgrade``), which hands over a connection in a transaction; there is no
offline (SQL script) mode."""

from alembic import context

from server.jobs.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("the store's migrations run through server.jobs.database.upgrade (or `coach db upgrade`)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
