"""The SQLite store: analysis jobs (uploads) and the history of live sessions, kept across restarts.

One connection shared by the event loop's worker threads and the job threads, serialised by a lock
(SQLite in WAL mode; every call is one short transaction). Python's ``sqlite3`` is enough here: the
embedded default needs no server, and the data is a few rows per set.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    exercise TEXT NOT NULL,
    persona TEXT NOT NULL,
    filename TEXT NOT NULL,
    upload_path TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT,
    error_code TEXT,
    reps INTEGER,
    mean_score REAL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS live_sessions (
    id TEXT PRIMARY KEY,
    exercise TEXT NOT NULL,
    persona TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    end_reason TEXT,
    reps INTEGER NOT NULL,
    mean_score REAL,
    summary TEXT NOT NULL,
    stats TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE INDEX IF NOT EXISTS live_sessions_started ON live_sessions (started_at);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_ins (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

LOCAL_USER = "local"
"""The one user of ``auth=single``; rows stored before owners existed belong to it."""

_OWNER_COLUMNS = ("jobs", "live_sessions")


class JobErrorCode(enum.StrEnum):
    """Why a job failed, for programs (the HTTP mapping is the server's, ``server/uploads.py``)."""

    NOT_VIDEO = "not_video"
    """The upload is not a video PyAV can read."""
    CORRUPT = "corrupt"
    """A video whose stream cannot be decoded."""
    TOO_LONG = "too_long"
    """The frames ran past the longest video analysed (checked while decoding)."""
    NO_PERSON = "no_person"
    """Nobody was found in any frame."""
    UPLOAD_MISSING = "upload_missing"
    """The stored upload is gone (retention policy)."""
    UNKNOWN_PERSONA = "unknown_persona"
    """The persona file was removed while the job waited."""
    INTERRUPTED = "interrupted"
    """The server stopped while the job ran."""
    BUSY = "busy"
    """Too many jobs were waiting."""
    INTERNAL = "internal"
    """A bug: the analysis raised something unexpected."""


INTERRUPTED_MESSAGE = "the server stopped while this video was being analysed; upload it again"


class JobStatus(enum.StrEnum):
    """Where an analysis job is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    """One uploaded video's analysis, as stored."""

    id: str
    status: JobStatus
    progress: float
    """0 to 1."""
    exercise: str
    persona: str
    filename: str
    """The name the user's file had (shown, never used as a path)."""
    upload_path: Path | None
    """Where the server stored the upload (a name it chose); None once removed by the retention policy."""
    created_at: float
    """Unix time."""
    started_at: float | None
    finished_at: float | None
    error: str | None
    """Why it failed, in words."""
    error_code: JobErrorCode | None
    """Machine-readable reason."""
    result: dict[str, Any] | None
    """The report (``scoring.report.build_report``) when done."""

    def summary(self) -> dict[str, Any]:
        """What GET /api/jobs/{id} shows besides the result."""
        return {
            "job_id": self.id,
            "status": self.status.value,
            "progress": round(self.progress, 3),
            "exercise": self.exercise,
            "persona": self.persona,
            "filename": self.filename,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "error_code": self.error_code.value if self.error_code is not None else None,
            "video_available": self.upload_path is not None and self.upload_path.is_file(),
        }


class Store:
    """Jobs and live-session history in one SQLite file. ``close()`` when done."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._tx() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
            for table in _OWNER_COLUMNS:  # databases from before owners: every row is the local user's
                columns = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                if "owner" not in columns:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT NOT NULL DEFAULT '{LOCAL_USER}'")
            db.execute("CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at)")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs ---------------------------------------------------------------------------------

    def add_job(
        self, job_id: str, exercise: str, persona: str, filename: str, upload_path: Path, owner: str = LOCAL_USER
    ) -> Job:
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, status, exercise, persona, filename, upload_path, created_at, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, JobStatus.QUEUED.value, exercise, persona, filename, str(upload_path), time.time(), owner),
            )
        job = self.get_job(job_id)
        assert job is not None
        return job

    def get_job(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None when there is none (or, with ``owner``, when it is somebody else's)."""
        with self._tx() as db:
            if owner is None:
                row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            else:
                row = db.execute("SELECT * FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)).fetchone()
        return None if row is None else _job(row)

    def job_started(self, job_id: str) -> None:
        self._update(job_id, status=JobStatus.RUNNING.value, started_at=time.time(), progress=0.0)

    def job_progress(self, job_id: str, progress: float) -> None:
        self._update(job_id, progress=min(max(progress, 0.0), 1.0))

    def job_done(self, job_id: str, result: dict[str, Any]) -> None:
        summary = result.get("summary", {})
        self._update(
            job_id,
            status=JobStatus.DONE.value,
            progress=1.0,
            finished_at=time.time(),
            reps=summary.get("reps"),
            mean_score=summary.get("mean_score"),
            result=json.dumps(result, separators=(",", ":")),
        )

    def job_failed(self, job_id: str, error: str, code: JobErrorCode) -> None:
        self._update(job_id, status=JobStatus.FAILED.value, finished_at=time.time(), error=error, error_code=code.value)

    def upload_removed(self, job_id: str) -> None:
        self._update(job_id, upload_path=None)

    def _update(self, job_id: str, **fields: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in fields)
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))

    def recover(self) -> list[Job]:
        """At start-up: jobs a previous run left ``running`` fail with the reason; ``queued`` ones are
        returned to be queued again (their uploads are still on disk)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error = ?, error_code = ? WHERE status = ?",
                (
                    JobStatus.FAILED.value,
                    time.time(),
                    INTERRUPTED_MESSAGE,
                    JobErrorCode.INTERRUPTED.value,
                    JobStatus.RUNNING.value,
                ),
            )
            rows = db.execute(
                "SELECT * FROM jobs WHERE status = ? ORDER BY created_at", (JobStatus.QUEUED.value,)
            ).fetchall()
        return [_job(row) for row in rows]

    def uploads_to_remove(self, older_than: float) -> list[Job]:
        """Finished jobs whose upload is still stored and that finished before ``older_than``."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE upload_path IS NOT NULL AND status IN (?, ?) AND finished_at < ?",
                (JobStatus.DONE.value, JobStatus.FAILED.value, older_than),
            ).fetchall()
        return [_job(row) for row in rows]

    # -- live sessions ------------------------------------------------------------------------

    def add_live_session(
        self, info: dict[str, Any], summary: dict[str, Any], started_at: float, owner: str = LOCAL_USER
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO live_sessions (id, exercise, persona, started_at, ended_at, end_reason, "
                "reps, mean_score, summary, stats, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info["id"],
                    info["exercise"],
                    info["persona"],
                    started_at,
                    time.time(),
                    info.get("end_reason"),
                    summary["reps"],
                    summary["mean_score"],
                    json.dumps(summary),
                    json.dumps(info),
                    owner,
                ),
            )

    def history(self, owner: str, limit: int = 200) -> list[dict[str, Any]]:
        """``owner``'s past uploads and live sessions, newest first."""
        with self._tx() as db:
            jobs = db.execute(
                "SELECT id, status, exercise, persona, filename, created_at, reps, mean_score, error, "
                "json_extract(result, '$.summary.hold_total_s') AS held_s "
                "FROM jobs WHERE owner = ? ORDER BY created_at DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
            live = db.execute(
                "SELECT id, exercise, persona, started_at, reps, mean_score, end_reason, "
                "json_extract(summary, '$.hold_total_s') AS held_s "
                "FROM live_sessions WHERE owner = ? ORDER BY started_at DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
        items = [
            {
                "kind": "upload",
                "id": r["id"],
                "status": r["status"],
                "exercise": r["exercise"],
                "persona": r["persona"],
                "title": r["filename"],
                "at": r["created_at"],
                "reps": r["reps"],
                "held_s": r["held_s"],
                "mean_score": r["mean_score"],
                "error": r["error"],
            }
            for r in jobs
        ] + [
            {
                "kind": "live",
                "id": r["id"],
                "status": "done",
                "exercise": r["exercise"],
                "persona": r["persona"],
                "title": f"live session ({r['end_reason']})",
                "at": r["started_at"],
                "reps": r["reps"],
                "held_s": r["held_s"],
                "mean_score": r["mean_score"],
                "error": None,
            }
            for r in live
        ]
        items.sort(key=lambda item: item["at"], reverse=True)
        return items[:limit]

    # -- users (auth=accounts) -------------------------------------------------------------------

    def add_user(self, name: str, password_hash: str, token_hash: str) -> None:
        """A new user; ValueError when the name is taken."""
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO users (name, password_hash, token_hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, password_hash, token_hash, time.time()),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"there is already a user {name!r}") from None

    def users(self) -> list[str]:
        with self._tx() as db:
            return [row["name"] for row in db.execute("SELECT name FROM users ORDER BY name")]

    def password_hash(self, name: str) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["password_hash"])

    def set_user(self, name: str, password_hash: str | None = None, token_hash: str | None = None) -> bool:
        """Change a user's password hash and/or token hash; False when there is no such user."""
        fields = {k: v for k, v in (("password_hash", password_hash), ("token_hash", token_hash)) if v is not None}
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE users SET {', '.join(f'{k} = ?' for k in fields)} WHERE name = ?", (*fields.values(), name)
            )
        return cursor.rowcount == 1

    def remove_user(self, name: str) -> bool:
        """Remove a user and their sign-ins (their jobs and history stay, unreachable); False if unknown."""
        with self._tx() as db:
            return db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 1

    def user_by_token(self, token_hash: str) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT name FROM users WHERE token_hash = ?", (token_hash,)).fetchone()
        return None if row is None else str(row["name"])

    def add_sign_in(self, id_hash: str, user: str, csrf: str, expires_at: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sign_ins WHERE expires_at < ?", (time.time(),))
            db.execute(
                "INSERT INTO sign_ins (id_hash, user, csrf, expires_at) VALUES (?, ?, ?, ?)",
                (id_hash, user, csrf, expires_at),
            )

    def sign_in(self, id_hash: str) -> tuple[str, str] | None:
        """(user, csrf token) of a live sign-in, or None."""
        with self._tx() as db:
            row = db.execute(
                "SELECT user, csrf FROM sign_ins WHERE id_hash = ? AND expires_at >= ?", (id_hash, time.time())
            ).fetchone()
        return None if row is None else (str(row["user"]), str(row["csrf"]))

    def remove_sign_in(self, id_hash: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sign_ins WHERE id_hash = ?", (id_hash,))


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        status=JobStatus(row["status"]),
        progress=row["progress"],
        exercise=row["exercise"],
        persona=row["persona"],
        filename=row["filename"],
        upload_path=Path(row["upload_path"]) if row["upload_path"] else None,
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        error_code=JobErrorCode(row["error_code"]) if row["error_code"] else None,
        result=json.loads(row["result"]) if row["result"] else None,
    )
