"""The store: analysis jobs (uploads), the history of live sessions, users and sign-ins, kept across
restarts in a SQLite file (the embedded default) or a PostgreSQL server shared by several coach servers.

One implementation on SQLAlchemy Core serves both engines (``server/jobs/database.py`` opens them and
migrates the schema, ``server/jobs/schema.py`` describes it). Every call is one short transaction.
Callers use the store from several threads (``asyncio.to_thread`` workers, job threads): SQLite's one
connection at a time is serialised by a lock (WAL mode: readers in other processes never wait);
PostgreSQL's pooled connections run side by side.

A live session's row keeps its report (``result``: the shape of an upload's report, reps and tips
included); rows stored before that column existed have none ("details not recorded"). A live set is
saved while it runs (``save_live_progress``, by the server holding it) and finalised when it ends
(``add_live_session``); a server that died leaves its sets in progress until it restarts and calls
``end_lost_sessions``. The history (``Store.history``) lists uploads and ended live sets with filters
and leaves out empty sets unless asked.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from server.jobs.database import DatabaseError, database_url, open_engine, shown, upgrade
from server.jobs.schema import LOCAL_USER, UNNAMED_NODE, jobs, live_sessions, sign_ins, users

__all__ = [
    "INTERRUPTED_MESSAGE",
    "LOCAL_USER",
    "UNNAMED_NODE",
    "DatabaseError",
    "HistoryKind",
    "HistoryPage",
    "HistoryQuery",
    "Job",
    "JobBusyError",
    "JobErrorCode",
    "JobStatus",
    "Store",
]

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
    in_progress: bool = False
    """Also list live sets still running (saved as they go, ``Store.save_live_progress``): status running."""

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
    """Jobs, live-session history, users and sign-ins in one database: ``target`` is a SQLite file
    (``Path``) or a database URL (``sqlite:///FILE``, ``postgresql+psycopg://user:password@host/name``).
    Opening migrates the schema to the newest revision (``DatabaseError`` when a newer coach migrated
    it, or the server cannot be reached). ``close()`` when done. ``clock`` gives the unix time jobs and
    live sets are stamped with (tests inject one)."""

    def __init__(self, target: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.url = database_url(target)
        self.path = Path(self.url.database) if self.url.get_backend_name() == "sqlite" and self.url.database else None
        """The SQLite file; None for PostgreSQL."""
        self._clock = clock
        self._engine = open_engine(self.url)
        self._lock: AbstractContextManager[Any] = threading.Lock() if self.path is not None else nullcontext()
        self._upsert = sqlite.insert if self.path is not None else postgresql.insert
        try:
            upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def shown_url(self) -> str:
        """The database's URL with the password hidden (for logs and messages)."""
        return shown(self.url)

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self._lock, self._engine.begin() as db:
            yield db

    def close(self) -> None:
        with self._lock:
            self._engine.dispose()

    # -- jobs ---------------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        exercise: str,
        persona: str,
        filename: str,
        upload_path: Path,
        owner: str = LOCAL_USER,
        node: str = UNNAMED_NODE,
    ) -> Job:
        """A queued job of ``owner``, run by the server named ``node`` (the one that ``recover``s it)."""
        with self._tx() as db:
            db.execute(
                jobs.insert().values(
                    id=job_id,
                    status=JobStatus.QUEUED.value,
                    exercise=exercise,
                    persona=persona,
                    filename=filename,
                    upload_path=str(upload_path),
                    created_at=self._clock(),
                    owner=owner,
                    node=node,
                )
            )
            row = db.execute(jobs.select().where(jobs.c.id == job_id)).one()
        return _job(row)

    def get_job(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None when there is none (or, with ``owner``, when it is somebody else's)."""
        query = jobs.select().where(jobs.c.id == job_id)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self._tx() as db:
            row = db.execute(query).first()
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
            held_s=_held(summary),
            result=json.dumps(result, separators=(",", ":")),
        )

    def job_failed(self, job_id: str, error: str, code: JobErrorCode) -> None:
        self._update(
            job_id, status=JobStatus.FAILED.value, finished_at=self._clock(), error=error, error_code=code.value
        )

    def upload_removed(self, job_id: str) -> None:
        self._update(job_id, upload_path=None)

    def _update(self, job_id: str, **fields: Any) -> None:
        with self._tx() as db:
            db.execute(jobs.update().where(jobs.c.id == job_id).values(**fields))

    def recover(self, node: str = UNNAMED_NODE) -> list[Job]:
        """At start-up of the server named ``node``: its jobs a previous run left ``running`` fail with the
        reason; its ``queued`` ones are returned to be queued again (their uploads are still on disk).
        Other nodes' jobs are theirs: they may be running right now."""
        with self._tx() as db:
            db.execute(
                jobs.update()
                .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.node == node)
                .values(
                    status=JobStatus.FAILED.value,
                    finished_at=self._clock(),
                    error=INTERRUPTED_MESSAGE,
                    error_code=JobErrorCode.INTERRUPTED.value,
                )
            )
            rows = db.execute(
                jobs.select()
                .where(jobs.c.status == JobStatus.QUEUED.value, jobs.c.node == node)
                .order_by(jobs.c.created_at)
            ).all()
        return [_job(row) for row in rows]

    def uploads_to_remove(self, older_than: float) -> list[Job]:
        """Finished jobs whose upload is still stored and that finished before ``older_than``."""
        query = jobs.select().where(
            jobs.c.upload_path.is_not(None),
            jobs.c.status.in_((JobStatus.DONE.value, JobStatus.FAILED.value)),
            jobs.c.finished_at < older_than,
        )
        with self._tx() as db:
            rows = db.execute(query).all()
        return [_job(row) for row in rows]

    def delete_job(self, job_id: str, owner: str) -> Job | None:
        """Remove ``owner``'s finished (done or failed) job and return it (its upload file is the caller's
        to remove); None when there is no such job of theirs; ``JobBusyError`` while it is queued or
        running."""
        with self._tx() as db:
            row = db.execute(jobs.select().where(jobs.c.id == job_id, jobs.c.owner == owner).with_for_update()).first()
            if row is None:
                return None
            job = _job(row)
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                raise JobBusyError(
                    f"the video {job.filename!r} is still being analysed ({job.status.value}): "
                    "wait until it is done, then delete it"
                )
            db.execute(jobs.delete().where(jobs.c.id == job_id))
        return job

    # -- live sessions ------------------------------------------------------------------------
    #
    # The contract between the server holding a live set and the others (every node shares the store):
    # - while the set runs, its server calls ``save_live_progress`` after every counted rep or hold:
    #   the row is then in progress (``ended_at`` NULL, ``node`` = that server, ``saved_at`` = now);
    # - when the set ends, ``add_live_session`` finalises the row (whether or not progress was saved);
    #   a progress save that arrives after that is ignored, so an ended set never reopens;
    # - a server that died leaves its sets in progress; when it starts again it calls
    #   ``end_lost_sessions(its name)``, which ends them at their last save (every rep saved is kept).
    # ``history`` lists ended sets only (unless ``HistoryQuery.in_progress``); ``get_live_session``
    # returns in-progress sets too, with ``ended_at`` None.

    def _live_row(
        self,
        info: dict[str, Any],
        summary: dict[str, Any],
        started_at: float,
        owner: str,
        result: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "id": info["id"],
            "exercise": info["exercise"],
            "persona": info["persona"],
            "started_at": started_at,
            "end_reason": info.get("end_reason"),
            "reps": summary["reps"],
            "mean_score": summary["mean_score"],
            "held_s": _held(summary),
            "summary": json.dumps(summary),
            "stats": json.dumps(info),
            "owner": owner,
            "result": None if result is None else json.dumps(result, separators=(",", ":")),
            "saved_at": self._clock(),
        }

    def save_live_progress(
        self,
        info: dict[str, Any],
        summary: dict[str, Any],
        started_at: float,
        owner: str,
        result: dict[str, Any] | None,
        node: str,
    ) -> bool:
        """Save a live set that is still running, as it stands: the same arguments as ``add_live_session``
        (``summary`` and ``result`` so far) less ``ended_at``, plus ``node``, the name of the server
        holding the set. Called by that server after every counted rep or hold; the row is in progress
        (``ended_at`` None) until ``add_live_session`` or ``end_lost_sessions`` ends it. Returns False
        (and changes nothing) when the set has already ended: a late save never reopens it."""
        if not node:
            raise ValueError("node must name the server holding the live set, e.g. its host name")
        row = {**self._live_row(info, summary, started_at, owner, result), "ended_at": None, "node": node}
        insert = self._upsert(live_sessions).values(**row)
        update = {name: insert.excluded[name] for name in row if name != "id"}
        with self._tx() as db:
            done = db.execute(
                insert.on_conflict_do_update(
                    index_elements=[live_sessions.c.id], set_=update, where=live_sessions.c.ended_at.is_(None)
                ),
                execution_options={"preserve_rowcount": True},  # an INSERT's count is kept only when asked
            )
        return bool(done.rowcount)

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
        an upload's, ``Session.record``); ``ended_at`` defaults to now. Finalises the row whether or not
        progress was saved before (``save_live_progress``; the row keeps its ``node``)."""
        row = {
            **self._live_row(info, summary, started_at, owner, result),
            "ended_at": self._clock() if ended_at is None else ended_at,
        }
        insert = self._upsert(live_sessions).values(**row)
        update = {name: insert.excluded[name] for name in row if name != "id"}
        with self._tx() as db:
            db.execute(insert.on_conflict_do_update(index_elements=[live_sessions.c.id], set_=update))

    def end_lost_sessions(self, node: str, reason: str = "server lost") -> int:
        """End every live set ``node`` left in progress (a server that stopped without ending them, e.g.
        killed): ``ended_at`` = its last save, ``end_reason`` = ``reason``; the reps saved stay (``summary``,
        ``stats`` and ``result`` as last saved). A restarted server calls it with its own name at start-up,
        before it takes sessions. Returns how many sets were ended."""
        with self._tx() as db:
            done = db.execute(
                live_sessions.update()
                .where(live_sessions.c.node == node, live_sessions.c.ended_at.is_(None))
                .values(
                    ended_at=sa.func.coalesce(live_sessions.c.saved_at, live_sessions.c.started_at), end_reason=reason
                )
            )
        return int(done.rowcount)

    def get_live_session(self, session_id: str, owner: str) -> dict[str, Any] | None:
        """``owner``'s stored live set: ``session_id``, ``exercise``, ``persona``, ``started_at``, ``ended_at``
        (None while it is in progress), ``end_reason``, ``summary``, ``stats``, ``result`` (None for a set
        stored before reports were kept) and ``node`` (the server that saved it in progress, else None);
        None when there is no such set of theirs."""
        query = live_sessions.select().where(live_sessions.c.id == session_id, live_sessions.c.owner == owner)
        with self._tx() as db:
            found = db.execute(query).first()
        if found is None:
            return None
        row = found._mapping
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
            "node": row["node"],
        }

    def delete_live_session(self, session_id: str, owner: str) -> bool:
        """Remove ``owner``'s stored live set; False when there is no such set of theirs."""
        with self._tx() as db:
            done = db.execute(
                live_sessions.delete().where(live_sessions.c.id == session_id, live_sessions.c.owner == owner)
            )
        return done.rowcount == 1

    def history(self, owner: str, query: HistoryQuery | None = None) -> HistoryPage:
        """``owner``'s past uploads and live sets that match ``query``, newest first. Each item:
        ``kind`` (live | upload), ``id``, ``status`` (queued | running | done | failed; a live set is done,
        or running while in progress), ``exercise``, ``persona``, ``title`` (the upload's file name, or
        "live set"), ``at`` (unix time it started or was uploaded), ``reps``, ``held_s`` (a hold
        exercise's time held, else null), ``mean_score``, ``error``, ``end_reason`` (live) and ``details``
        (whether a report is stored: a done upload, a live set stored with its reps). Live sets still in
        progress are left out unless ``in_progress``. A finished set with 0 reps and no time held is
        empty: left out unless ``include_empty``, and counted in ``hidden_empty``."""
        q = query or HistoryQuery()
        kinds = ("upload", "live") if q.kind is None else (q.kind,)
        items: list[dict[str, Any]] = []
        hidden = 0
        with self._tx() as db:
            for kind in kinds:
                columns, when, where = _history_source(kind, q.in_progress)
                table = jobs if kind == "upload" else live_sessions
                where.append(table.c.owner == owner)
                if q.exercise is not None:
                    where.append(table.c.exercise == q.exercise)
                if q.since is not None:
                    where.append(when >= q.since)
                if q.until is not None:
                    where.append(when < q.until)
                empty = sa.and_(
                    columns["status"] == JobStatus.DONE.value,
                    sa.func.coalesce(table.c.reps, 0) == 0,
                    sa.func.coalesce(table.c.held_s, 0) == 0,
                )
                if not q.include_empty:
                    hidden += db.execute(
                        sa.select(sa.func.count()).select_from(table).where(*where, empty)
                    ).scalar_one()
                    where.append(sa.not_(empty))
                rows = db.execute(
                    sa.select(*(value.label(name) for name, value in columns.items()))
                    .where(*where)
                    .order_by(when.desc(), table.c.id.desc())
                    .limit(q.limit)
                )
                items += [_history_item(kind, row._mapping) for row in rows]
        items.sort(key=lambda item: item["at"], reverse=True)
        return HistoryPage(items[: q.limit], hidden)

    # -- users (auth=accounts) -------------------------------------------------------------------

    def add_user(self, name: str, password_hash: str, token_hash: str) -> None:
        """A new user; ValueError when the name is taken."""
        try:
            with self._tx() as db:
                db.execute(
                    users.insert().values(
                        name=name, password_hash=password_hash, token_hash=token_hash, created_at=time.time()
                    )
                )
        except IntegrityError:
            raise ValueError(f"there is already a user {name!r}") from None

    def users(self) -> list[str]:
        with self._tx() as db:
            return list(db.execute(sa.select(users.c.name).order_by(users.c.name)).scalars())

    def password_hash(self, name: str) -> str | None:
        with self._tx() as db:
            found = db.execute(sa.select(users.c.password_hash).where(users.c.name == name)).scalar()
        return None if found is None else str(found)

    def set_user(self, name: str, password_hash: str | None = None, token_hash: str | None = None) -> bool:
        """Change a user's password hash and/or token hash; False when there is no such user."""
        fields = {k: v for k, v in (("password_hash", password_hash), ("token_hash", token_hash)) if v is not None}
        if not fields:
            raise ValueError("nothing to change: give a password hash, a token hash or both")
        with self._tx() as db:
            done = db.execute(users.update().where(users.c.name == name).values(**fields))
        return done.rowcount == 1

    def remove_user(self, name: str) -> bool:
        """Remove a user and their sign-ins (their jobs and history stay, unreachable); False if unknown."""
        with self._tx() as db:
            return db.execute(users.delete().where(users.c.name == name)).rowcount == 1

    def user_by_token(self, token_hash: str) -> str | None:
        with self._tx() as db:
            found = db.execute(sa.select(users.c.name).where(users.c.token_hash == token_hash)).scalar()
        return None if found is None else str(found)

    def add_sign_in(self, id_hash: str, user: str, csrf: str, expires_at: float) -> None:
        with self._tx() as db:
            db.execute(sign_ins.delete().where(sign_ins.c.expires_at < time.time()))
            db.execute(sign_ins.insert().values(id_hash=id_hash, user=user, csrf=csrf, expires_at=expires_at))

    def sign_in(self, id_hash: str) -> tuple[str, str] | None:
        """(user, csrf token) of a live sign-in, or None."""
        with self._tx() as db:
            row = db.execute(
                sa.select(sign_ins.c.user, sign_ins.c.csrf).where(
                    sign_ins.c.id_hash == id_hash, sign_ins.c.expires_at >= time.time()
                )
            ).first()
        return None if row is None else (str(row[0]), str(row[1]))

    def remove_sign_in(self, id_hash: str) -> None:
        with self._tx() as db:
            db.execute(sign_ins.delete().where(sign_ins.c.id_hash == id_hash))


def _held(summary: dict[str, Any]) -> float | None:
    """A summary's ``hold_total_s`` (a hold exercise's time held) when it is a number."""
    value = summary.get("hold_total_s")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _history_source(
    kind: str, in_progress: bool
) -> tuple[dict[str, sa.ColumnElement[Any]], sa.ColumnElement[Any], list[Any]]:
    """The history's columns of uploads or live sets (by item field), the time sets are filtered and
    sorted by, and the conditions every listed row meets."""
    if kind == "upload":
        return (
            {
                "id": jobs.c.id,
                "status": jobs.c.status,
                "exercise": jobs.c.exercise,
                "persona": jobs.c.persona,
                "title": jobs.c.filename,
                "at": jobs.c.created_at,
                "reps": jobs.c.reps,
                "held_s": jobs.c.held_s,
                "mean_score": jobs.c.mean_score,
                "error": jobs.c.error,
                "end_reason": sa.null(),
                "details": sa.and_(jobs.c.status == JobStatus.DONE.value, jobs.c.result.is_not(None)),
            },
            jobs.c.created_at,
            [],
        )
    status = sa.case((live_sessions.c.ended_at.is_(None), JobStatus.RUNNING.value), else_=JobStatus.DONE.value)
    return (
        {
            "id": live_sessions.c.id,
            "status": status,
            "exercise": live_sessions.c.exercise,
            "persona": live_sessions.c.persona,
            "title": sa.literal("live set"),
            "at": live_sessions.c.started_at,
            "reps": live_sessions.c.reps,
            "held_s": live_sessions.c.held_s,
            "mean_score": live_sessions.c.mean_score,
            "error": sa.null(),
            "end_reason": live_sessions.c.end_reason,
            "details": live_sessions.c.result.is_not(None),
        },
        live_sessions.c.started_at,
        [] if in_progress else [live_sessions.c.ended_at.is_not(None)],
    )


def _history_item(kind: str, row: Any) -> dict[str, Any]:
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


def _job(found: sa.Row[Any]) -> Job:
    row = found._mapping
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
