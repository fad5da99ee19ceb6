"""The store's Alembic migrations (``env.py``, ``versions/``): run by ``server.jobs.database``."""
