"""The SQLite store: analysis jobs (uploads) and the history of live sessions, kept across restarts.

A live session's row keeps its report (``result``: the shape of an upload's report, reps and tips
included); rows stored before that column existed have none ("details not recorded"). The history
(``Store.history``) lists both kinds with filters and leaves out empty sets unless asked.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    stats TEXT NOT NULL,
    result TEXT
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
_ADDED_COLUMNS = (("live_sessions", "result", "TEXT"),)
"""Columns added after a table was first shipped: (table, column, type), added to older databases."""

HistoryKind = Literal["live", "upload"]


@dataclass(frozen=True)
class HistoryQuery:
    """Which of a user's past sets ``Store.history`` lists."""

    exercise: str | None = None
    """Only this exercise (its name, e.g. ``pushup``)."""
    kind: HistoryKind | None = None
    """Only live sets or only uploads."""
    since: float | None = None
    """Only sets started (live) or uploaded at or after this unix time."""
    until: float | None = None
    """... and before this one."""
    include_empty: bool = False
    """Also list finished sets that counted nothing (0 reps, no time held)."""
    limit: int = 200
    """The newest this many."""

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in ("live", "upload"):
            raise ValueError(f"kind must be live or upload, not {self.kind!r}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"since ({self.since:g}) is after until ({self.until:g}): nothing can match")
        if self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")


@dataclass(frozen=True)
class HistoryPage:
    """What ``Store.history`` found."""

    items: list[dict[str, Any]]
    """The sets, newest first (fields: ``Store.history``)."""
    hidden_empty: int
    """Finished sets that matched but were left out for counting nothing (``include_empty`` false)."""


class JobBusyError(Exception):
    """The job is still queued or running: it cannot be deleted yet."""


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
    """Jobs and live-session history in one SQLite file. ``close()`` when done. ``clock`` gives the unix
    time jobs and live sets are stamped with (tests inject one)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
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
            for table, column, kind in _ADDED_COLUMNS:  # older rows get NULL: "details not recorded"
                columns = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            db.execute("CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at)")
            db.execute("CREATE INDEX IF NOT EXISTS live_sessions_owner ON live_sessions (owner, started_at)")

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
                (job_id, JobStatus.QUEUED.value, exercise, persona, filename, str(upload_path), self._clock(), owner),
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
        self._update(job_id, status=JobStatus.RUNNING.value, started_at=self._clock(), progress=0.0)

    def job_progress(self, job_id: str, progress: float) -> None:
        self._update(job_id, progress=min(max(progress, 0.0), 1.0))

    def job_done(self, job_id: str, result: dict[str, Any]) -> None:
        summary = result.get("summary", {})
        self._update(
            job_id,
            status=JobStatus.DONE.value,
            progress=1.0,
            finished_at=self._clock(),
            reps=summary.get("reps"),
            mean_score=summary.get("mean_score"),
            result=json.dumps(result, separators=(",", ":")),
        )

    def job_failed(self, job_id: str, error: str, code: JobErrorCode) -> None:
        self._update(
            job_id, status=JobStatus.FAILED.value, finished_at=self._clock(), error=error, error_code=code.value
        )

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
                    self._clock(),
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

    def delete_job(self, job_id: str, owner: str) -> Job | None:
        """Remove ``owner``'s finished (done or failed) job and return it (its upload file is the caller's
        to remove); None when there is no such job of theirs; ``JobBusyError`` while it is queued or
        running."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)).fetchone()
            if row is None:
                return None
            job = _job(row)
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                raise JobBusyError(
                    f"the video {job.filename!r} is still being analysed ({job.status.value}): "
                    "wait until it is done, then delete it"
                )
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return job

    # -- live sessions ------------------------------------------------------------------------

    def add_live_session(
        self,
        info: dict[str, Any],
        summary: dict[str, Any],
        started_at: float,
        owner: str = LOCAL_USER,
        result: dict[str, Any] | None = None,
        ended_at: float | None = None,
    ) -> None:
        """Keep a finished live set: ``info`` (``Session.info()``: id, exercise, persona, end_reason and
        statistics), its ``summary`` (``SetSummary.as_dict()``), and ``result``, its report (the shape of
        an upload's, ``Session.record``)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO live_sessions (id, exercise, persona, started_at, ended_at, end_reason, "
                "reps, mean_score, summary, stats, owner, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info["id"],
                    info["exercise"],
                    info["persona"],
                    started_at,
                    self._clock() if ended_at is None else ended_at,
                    info.get("end_reason"),
                    summary["reps"],
                    summary["mean_score"],
                    json.dumps(summary),
                    json.dumps(info),
                    owner,
                    None if result is None else json.dumps(result, separators=(",", ":")),
                ),
            )

    def get_live_session(self, session_id: str, owner: str) -> dict[str, Any] | None:
        """``owner``'s stored live set: ``session_id``, ``exercise``, ``persona``, ``started_at``, ``ended_at``,
        ``end_reason``, ``summary``, ``stats`` and ``result`` (None for a set stored before reports were
        kept); None when there is no such set of theirs."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM live_sessions WHERE id = ? AND owner = ?", (session_id, owner)).fetchone()
        if row is None:
            return None
        return {
            "session_id": row["id"],
            "exercise": row["exercise"],
            "persona": row["persona"],
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "end_reason": row["end_reason"],
            "summary": json.loads(row["summary"]),
            "stats": json.loads(row["stats"]),
            "result": json.loads(row["result"]) if row["result"] else None,
        }

    def delete_live_session(self, session_id: str, owner: str) -> bool:
        """Remove ``owner``'s stored live set; False when there is no such set of theirs."""
        with self._tx() as db:
            cursor = db.execute("DELETE FROM live_sessions WHERE id = ? AND owner = ?", (session_id, owner))
        return cursor.rowcount == 1

    def history(self, owner: str, query: HistoryQuery | None = None) -> HistoryPage:
        """``owner``'s past uploads and live sets that match ``query``, newest first. Each item:
        ``kind`` (live | upload), ``id``, ``status`` (queued | running | done | failed), ``exercise``,
        ``persona``, ``title`` (the upload's file name, or "live set"), ``at`` (unix time it started or
        was uploaded), ``reps``, ``held_s`` (a hold exercise's time held, else null), ``mean_score``,
        ``error``, ``end_reason`` (live) and ``details`` (whether a report is stored: a done upload, a
        live set stored with its reps). A finished set with 0 reps and no time held is empty: left out
        unless ``include_empty``, and counted in ``hidden_empty``."""
        q = query or HistoryQuery()
        kinds = ("upload", "live") if q.kind is None else (q.kind,)
        items: list[dict[str, Any]] = []
        hidden = 0
        with self._tx() as db:
            for kind in kinds:
                sql, when = (_JOBS_SQL, "created_at") if kind == "upload" else (_LIVE_SQL, "started_at")
                where: list[str] = ["owner = ?"]
                args: list[Any] = [owner]
                if q.exercise is not None:
                    where.append("exercise = ?")
                    args.append(q.exercise)
                if q.since is not None:
                    where.append(f"{when} >= ?")
                    args.append(q.since)
                if q.until is not None:
                    where.append(f"{when} < ?")
                    args.append(q.until)
                inner = f"{sql} WHERE {' AND '.join(where)}"
                empty = "(status = 'done' AND COALESCE(reps, 0) = 0 AND COALESCE(held_s, 0) = 0)"
                if not q.include_empty:
                    hidden += db.execute(f"SELECT COUNT(*) FROM ({inner}) WHERE {empty}", args).fetchone()[0]
                keep = "" if q.include_empty else f"WHERE NOT {empty}"
                rows = db.execute(f"SELECT * FROM ({inner}) {keep} ORDER BY at DESC LIMIT ?", (*args, q.limit))
                items += [_history_item(kind, row) for row in rows]
        items.sort(key=lambda item: item["at"], reverse=True)
        return HistoryPage(items[: q.limit], hidden)

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


_JOBS_SQL = (
    "SELECT id, status, exercise, persona, filename AS title, created_at AS at, reps, mean_score, error, "
    "NULL AS end_reason, json_extract(result, '$.summary.hold_total_s') AS held_s, "
    "status = 'done' AND result IS NOT NULL AS details, created_at FROM jobs"
)
_LIVE_SQL = (
    "SELECT id, 'done' AS status, exercise, persona, 'live set' AS title, started_at AS at, reps, mean_score, "
    "NULL AS error, end_reason, json_extract(summary, '$.hold_total_s') AS held_s, result IS NOT NULL AS details, "
    "started_at FROM live_sessions"
)


def _history_item(kind: str, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": row["id"],
        "status": row["status"],
        "exercise": row["exercise"],
        "persona": row["persona"],
        "title": row["title"],
        "at": row["at"],
        "reps": row["reps"],
        "held_s": row["held_s"],
        "mean_score": row["mean_score"],
        "error": row["error"],
        "end_reason": row["end_reason"],
        "details": bool(row["details"]),
    }


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
