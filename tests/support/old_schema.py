"""The store's tables as the first release made them (no owners, no live-set reports, no users), for the
tests that open a database made before migrations and later columns existed."""

FIRST_RELEASE_SCHEMA = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0,
    exercise TEXT NOT NULL, persona TEXT NOT NULL, filename TEXT NOT NULL, upload_path TEXT,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, error TEXT, error_code TEXT,
    reps INTEGER, mean_score REAL, result TEXT);
CREATE TABLE live_sessions (id TEXT PRIMARY KEY, exercise TEXT NOT NULL, persona TEXT NOT NULL,
    started_at REAL NOT NULL, ended_at REAL NOT NULL, end_reason TEXT, reps INTEGER NOT NULL,
    mean_score REAL, summary TEXT NOT NULL, stats TEXT NOT NULL);
"""
