"""Uploaded-video analysis off the event loop, and the store it writes to: no HTTP here.

``store.py``: the SQLite store of analysis jobs and live-session history. ``runner.py``: the bounded
pool of ``analysis-job`` threads. Failures carry a ``JobErrorCode``; ``server/uploads.py`` maps codes
to HTTP statuses.
"""
