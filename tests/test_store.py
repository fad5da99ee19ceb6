"""The store on both engines (SQLite and a real PostgreSQL server): migrations (a new database, a SQLite
file from before migrations adopted without losing a row, a database from a newer coach refused), live
sets saved while they run, several threads at once, ``coach db``, the settings, and the whole app with
its store on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient

from server.app import create_app
from server.auth import add_user
from server.jobs.database import MIGRATIONS, DatabaseError, current, database_url, head, open_engine
from server.jobs.schema import metadata
from server.jobs.store import UNNAMED_NODE, HistoryQuery, JobErrorCode, JobStatus, Store
from server.settings import Settings
from tests.support.old_schema import FIRST_RELEASE_SCHEMA
from tests.support.postgres import PostgresServer
from tests.test_history import Clock, ids_expected_for_ann, seeded


def engine_of(database: Path | str) -> sa.Engine:
    return open_engine(database_url(database))


# -- migrations -----------------------------------------------------------------------------------------


def test_a_new_database_is_migrated_to_the_schema_the_code_uses(database: Path | str) -> None:
    Store(database).close()
    engine = engine_of(database)
    try:
        with engine.connect() as db:
            assert current(db) == head() == "0004"
            # schema.py (what the code reads and writes) and the migrations agree: tables, columns,
            # types, nullability, indexes, keys
            assert compare_metadata(MigrationContext.configure(db), metadata) == []
    finally:
        engine.dispose()
    store = Store(database)  # opening again migrates nothing
    assert store.users() == [] and store.history("local").items == []
    store.close()


_PRE_MIGRATIONS_SCHEMA = """
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
"""The last schema before migrations (server/jobs/store.py at 44ac104), as its ``Store.__init__`` made it."""


def pre_migrations_database(path: Path, first_release: bool) -> dict[str, list[dict[str, Any]]]:
    """A SQLite file as the coach left it before migrations, with rows in every table; returns them."""
    db = sqlite3.connect(path, isolation_level=None)
    db.row_factory = sqlite3.Row
    if first_release:
        db.executescript(FIRST_RELEASE_SCHEMA)
    else:  # what the old Store.__init__ ran
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_PRE_MIGRATIONS_SCHEMA)
        for table in ("jobs", "live_sessions"):
            db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT NOT NULL DEFAULT 'local'")
        db.execute("CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at)")
        db.execute("CREATE INDEX IF NOT EXISTS live_sessions_owner ON live_sessions (owner, started_at)")
    owner = {} if first_release else {"owner": "ann"}
    hold = {"summary": {"reps": 0, "holds": 1, "hold_total_s": 42.5, "mean_score": 90.0}, "reps": []}
    jobs = [
        {"id": "j-done", "status": "done", "progress": 1.0, "exercise": "plank", "persona": "plain",
         "filename": "plank.mp4", "upload_path": str(path.parent / "j-done.video"), "created_at": 1000.25,
         "started_at": 1001.5, "finished_at": 1010.75, "error": None, "error_code": None, "reps": 0,
         "mean_score": 90.0, "result": json.dumps(hold), **owner},
        {"id": "j-failed", "status": "failed", "progress": 0.5, "exercise": "squat", "persona": "plain",
         "filename": "dark.mp4", "upload_path": None, "created_at": 1100.0, "started_at": 1101.0,
         "finished_at": 1102.0, "error": "nobody in the video", "error_code": "no_person", "reps": None,
         "mean_score": None, "result": None, **owner},
        {"id": "j-queued", "status": "queued", "progress": 0.0, "exercise": "pushup", "persona": "coach",
         "filename": "later.mp4", "upload_path": str(path.parent / "j-queued.video"), "created_at": 1200.0,
         "started_at": None, "finished_at": None, "error": None, "error_code": None, "reps": None,
         "mean_score": None, "result": None, **owner},
    ]  # fmt: skip
    summary = {"reps": 3, "mean_score": 71.5, "kind": "reps", "hold_total_s": 0.0}
    live = [
        {"id": "l-old", "exercise": "squat", "persona": "plain", "started_at": 900.0, "ended_at": 960.0,
         "end_reason": "stopped by the client", "reps": 3, "mean_score": 71.5, "summary": json.dumps(summary),
         "stats": json.dumps({"fps": 29.9}), **owner},
        {"id": "l-side", "exercise": "side_plank", "persona": "plain", "started_at": 1300.0, "ended_at": 1345.0,
         "end_reason": "the camera stopped", "reps": 0, "mean_score": 85.0,
         "summary": json.dumps({"reps": 0, "holds": 1, "hold_total_s": 31, "mean_score": 85.0}), "stats": "{}",
         **owner},
    ]  # fmt: skip
    if not first_release:
        live[0]["result"] = json.dumps({"summary": summary, "reps": [{"score": 70}]})
        live[1]["result"] = None
    rows: dict[str, list[dict[str, Any]]] = {"jobs": jobs, "live_sessions": live}
    if not first_release:
        rows["users"] = [{"name": "ann", "password_hash": "$argon2id$x", "token_hash": "t-ann", "created_at": 5.0}]
        rows["sign_ins"] = [{"id_hash": "s1", "user": "ann", "csrf": "c1", "expires_at": time.time() + 3600}]
    for table, items in rows.items():
        for item in items:
            names = ", ".join(f'"{name}"' for name in item)
            db.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(item))})", tuple(item.values()))
    db.close()
    return rows


@pytest.mark.parametrize("first_release", [False, True], ids=["last-before-migrations", "first-release"])
def test_a_sqlite_file_from_before_migrations_is_adopted_without_losing_a_row(
    tmp_path: Path, first_release: bool
) -> None:
    path = tmp_path / "coach.sqlite3"
    before = pre_migrations_database(path, first_release)
    store = Store(path)
    store.close()
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    for table, rows in before.items():
        after = {row[0]: dict(row) for row in db.execute(f"SELECT * FROM {table}")}
        assert len(after) == len(rows), table
        for row in rows:  # every value kept as it was
            kept = after[next(iter(row.values()))]
            assert {name: kept[name] for name in row} == row, table
    owners = {row[0] for row in db.execute("SELECT owner FROM jobs UNION SELECT owner FROM live_sessions")}
    assert owners == ({"local"} if first_release else {"ann"})
    held = dict(db.execute("SELECT id, held_s FROM jobs UNION ALL SELECT id, held_s FROM live_sessions").fetchall())
    assert held == {"j-done": 42.5, "j-failed": None, "j-queued": None, "l-old": 0.0, "l-side": 31.0}
    assert [tuple(row) for row in db.execute("SELECT version_num FROM alembic_version")] == [(head(),)]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    # the tables, columns and indexes the code uses (SQLite's reflection differs from a new file's only in
    # quirks of the old DDL: a TEXT primary key without NOT NULL)
    engine = engine_of(path)
    try:
        inspector = sa.inspect(engine)
        for table in metadata.sorted_tables:
            assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys())
            assert {i["name"] for i in inspector.get_indexes(table.name)} == {i.name for i in table.indexes}
    finally:
        engine.dispose()
    # and it serves as before
    user = "local" if first_release else "ann"
    store = Store(path)
    page = store.history(user, HistoryQuery(include_empty=True))
    assert [(i["id"], i["held_s"], i["details"]) for i in page.items] == [
        ("l-side", 31.0, False),
        ("j-queued", None, False),
        ("j-failed", None, False),
        ("j-done", 42.5, True),
        ("l-old", 0.0, not first_release),
    ]
    assert store.history(user).hidden_empty == 0  # a hold counts, a failure is not empty
    old = store.get_live_session("l-old", user)
    assert old is not None and old["ended_at"] == 960.0 and (old["result"] is None) == first_release
    if not first_release:  # the cascade from users to sign-ins survived the adoption
        assert store.sign_in("s1") == ("ann", "c1")
        assert store.remove_user("ann") and store.sign_in("s1") is None
    store.close()
    Store(path).close()  # opening it again migrates nothing twice


def test_servers_starting_at_once_migrate_one_after_the_other(database: Path | str) -> None:
    """Four stores opened at the same moment on a new database (four servers starting): one migrates,
    the others wait for it (PostgreSQL: an advisory lock; SQLite: the write lock) and find nothing to do."""
    barrier = threading.Barrier(4)

    def open_store(_: int) -> list[str]:
        barrier.wait()
        store = Store(database)
        try:
            return store.users()
        finally:
            store.close()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_store, range(4))) == [[]] * 4
    engine = engine_of(database)
    try:
        with engine.connect() as db:
            assert current(db) == head()
    finally:
        engine.dispose()


def test_the_migrations_go_down_and_up_again_keeping_the_finished_sets(database: Path | str, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    store = seeded(database, tmp_path)
    summary, result = progress(2)
    store.save_live_progress(live_info("running"), summary, 5000.0, "ann", result, "n1")
    before = store.history("ann", HistoryQuery(include_empty=True)).items
    store.close()
    engine = engine_of(database)
    try:
        with engine.begin() as db:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = db
            command.downgrade(config, "0001")  # held_s, node and saved_at go; so does the set still running
            assert current(db) == "0001"
            columns = {c["name"] for c in sa.inspect(db).get_columns("live_sessions")}
            assert not columns & {"held_s", "node", "saved_at"}
    finally:
        engine.dispose()
    store = Store(database)  # up again: the time held filled in from the reports
    assert store.history("ann", HistoryQuery(include_empty=True)).items == before
    assert store.get_live_session("running", "ann") is None
    store.close()


def test_a_database_a_newer_coach_migrated_is_refused_untouched(database: Path | str) -> None:
    store = Store(database)
    store.add_job("j1", "pushup", "plain", "a.mp4", Path("/nowhere/j1.video"))
    store.close()
    engine = engine_of(database)
    try:
        with engine.begin() as db:
            db.execute(sa.text("UPDATE alembic_version SET version_num = '9001'"))
        with pytest.raises(DatabaseError, match="at revision '9001', which this coach does not know") as refused:
            Store(database)
        assert "a newer coach migrated it" in str(refused.value)
        with engine.connect() as db:
            assert current(db) == "9001"
            assert db.execute(sa.text("SELECT id FROM jobs")).scalars().all() == ["j1"]
    finally:
        engine.dispose()


def test_the_password_is_never_shown(postgres: PostgresServer, capsys: pytest.CaptureFixture,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from server.cli import main

    url = postgres.database(password="hunter2-secret")
    store = Store(url)
    assert store.shown_url == url.replace("hunter2-secret", "***")
    store.close()
    # in messages: an unreachable server, a bad setting, a settings repr, coach db
    unreachable = url.replace(f":{postgres.port}/", ":1/")
    with pytest.raises(DatabaseError, match=r"cannot open the database .*:\*\*\*@127.0.0.1:1/") as failed:
        Store(unreachable)
    assert "hunter2" not in str(failed.value)
    with pytest.raises(ValueError, match="not mysql") as bad:
        database_url(url.replace("postgresql+psycopg", "mysql"))
    assert "hunter2" not in str(bad.value)
    assert "hunter2" not in repr(Settings(database_url=url))
    monkeypatch.setenv("COACH_DATABASE_URL", url)
    assert main(["db", "current"]) == 0
    assert main(["users", "list"]) == 0
    monkeypatch.setenv("COACH_DATABASE_URL", unreachable)
    assert main(["db", "upgrade"]) == 2
    out = capsys.readouterr()
    assert "hunter2" not in out.out + out.err and ":***@" in out.out and "cannot open the database" in out.err


def test_coach_db_upgrade_and_current(database: Path | str, capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from server.cli import main

    url = database_url(database).render_as_string(hide_password=False)
    monkeypatch.setenv("COACH_DATABASE_URL", url)
    assert main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert f"database: {url}" in out and "revision: none" in out and "`coach db upgrade` makes it 0004" in out
    if isinstance(database, Path):
        assert not database.exists()  # `current` changes nothing, makes no file
    assert main(["db", "upgrade"]) == 0 and "revision: none -> 0004 (the newest)" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0 and "0004 (the newest): nothing to do" in capsys.readouterr().out
    assert main(["db", "current"]) == 0 and "revision: 0004 (the newest)" in capsys.readouterr().out
    engine = engine_of(database)
    try:
        with engine.begin() as db:
            db.execute(sa.text("UPDATE alembic_version SET version_num = '9001'"))
    finally:
        engine.dispose()
    assert main(["db", "current"]) == 0 and "9001, newer than this coach knows" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 2 and "a newer coach migrated it" in capsys.readouterr().err


# -- live sets saved while they run ------------------------------------------------------------------


def live_info(session_id: str) -> dict[str, Any]:
    return {"id": session_id, "exercise": "pushup", "persona": "plain", "end_reason": None, "fps": 30.0}


def progress(reps: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A set's summary and report after ``reps`` counted reps."""
    summary = {"reps": reps, "mean_score": 80.0 if reps else None, "kind": "reps"}
    return summary, {"summary": summary, "reps": [{"score": 80.0}] * reps}


def test_a_live_set_is_saved_while_it_runs_and_a_lost_server_s_sets_end_at_their_last_save(
    database: Path | str,
) -> None:
    clock = Clock(1000.0)
    store = Store(database, clock=clock)

    def save(session_id: str, reps: int, started: float, node: str) -> bool:
        summary, result = progress(reps)
        return store.save_live_progress(live_info(session_id), summary, started, "ann", result, node)

    # n1 holds two sets, n2 one; each is saved after every counted rep
    for reps, now in ((1, 1001.0), (2, 1002.0)):
        clock.now = now
        assert save("n1-a", reps, 990.0, "n1")
    clock.now = 1003.0
    assert save("n1-b", 1, 995.0, "n1") and save("n2-c", 4, 996.0, "n2")
    running = store.get_live_session("n1-a", "ann")
    assert running is not None and running["ended_at"] is None and running["node"] == "n1"
    assert running["summary"]["reps"] == 2 and len(running["result"]["reps"]) == 2
    assert running["started_at"] == 990.0 and running["stats"]["fps"] == 30.0
    assert store.get_live_session("n1-a", "ben") is None
    # the history lists ended sets only, unless asked
    assert store.history("ann").items == [] and store.history("ann").hidden_empty == 0
    listed = store.history("ann", HistoryQuery(in_progress=True)).items
    assert [(i["id"], i["status"], i["reps"]) for i in listed] == [
        ("n2-c", "running", 4), ("n1-b", "running", 1), ("n1-a", "running", 2),
    ]  # fmt: skip
    # n1-a ends normally (finalised: the row keeps its node); a late save does not reopen it
    clock.now = 1010.0
    summary, result = progress(3)
    store.add_live_session({**live_info("n1-a"), "end_reason": "stopped by the client"}, summary, 990.0, "ann", result)
    assert not save("n1-a", 9, 990.0, "n1")
    ended = store.get_live_session("n1-a", "ann")
    assert ended is not None and (ended["ended_at"], ended["end_reason"], ended["node"]) == (
        1010.0, "stopped by the client", "n1",
    )  # fmt: skip
    assert ended["summary"]["reps"] == 3 and len(ended["result"]["reps"]) == 3
    # n1 dies and restarts: its set still running ends at its last save, with every rep saved
    clock.now = 2000.0
    assert store.end_lost_sessions("n1") == 1
    lost = store.get_live_session("n1-b", "ann")
    assert lost is not None and (lost["ended_at"], lost["end_reason"], lost["summary"]["reps"]) == (
        1003.0, "server lost", 1,
    )  # fmt: skip
    assert store.end_lost_sessions("n1") == 0  # nothing left, and n2's set is untouched
    other = store.get_live_session("n2-c", "ann")
    assert other is not None and other["ended_at"] is None
    assert [(i["id"], i["status"], i["end_reason"]) for i in store.history("ann").items] == [
        ("n1-b", "done", "server lost"), ("n1-a", "done", "stopped by the client"),
    ]  # fmt: skip
    assert store.end_lost_sessions("n2", reason="node n2 replaced") == 1
    replaced = store.get_live_session("n2-c", "ann")
    assert replaced is not None and (replaced["ended_at"], replaced["end_reason"]) == (1003.0, "node n2 replaced")
    with pytest.raises(ValueError, match="node must name the server"):
        save("x", 1, 1.0, "")
    store.close()


def test_a_starting_server_recovers_only_its_own_jobs(database: Path | str, tmp_path: Path) -> None:
    """Behind a load balancer every node opens the same database: a node that starts fails its own jobs
    left running and queues its own waiting ones again, and leaves the other nodes' jobs alone (they
    may be running them right now); jobs of a server without a node name are the unnamed node's."""
    store = Store(database, clock=Clock(1000.0))
    video = tmp_path / "clip.video"
    for job_id, node in (("a1", "n1"), ("a2", "n1"), ("b1", "n2"), ("b2", "n2"), ("s1", None)):
        if node is None:
            store.add_job(job_id, "pushup", "plain", f"{job_id}.mp4", video)
        else:
            store.add_job(job_id, "pushup", "plain", f"{job_id}.mp4", video, node=node)
    for job_id in ("a1", "b1", "s1"):
        store.job_started(job_id)

    def statuses() -> dict[str, str]:
        return {job_id: job.status.value for job_id in ("a1", "a2", "b1", "b2", "s1") if (job := store.get_job(job_id))}

    assert [job.id for job in store.recover("n1")] == ["a2"]
    assert statuses() == {"a1": "failed", "a2": "queued", "b1": "running", "b2": "queued", "s1": "running"}
    assert [job.id for job in store.recover(UNNAMED_NODE)] == []
    assert statuses()["s1"] == "failed" and statuses()["b1"] == "running"
    assert [job.id for job in store.recover("n2")] == ["b2"]
    assert statuses()["b1"] == "failed"
    store.close()


# -- several threads at once ----------------------------------------------------------------------------


def test_several_threads_share_one_store(database: Path | str, tmp_path: Path) -> None:
    store = Store(database)
    barrier = threading.Barrier(4)

    def work(worker: int) -> None:
        barrier.wait()
        for k in range(8):
            job_id = f"w{worker}-{k}"
            store.add_job(job_id, "pushup", "plain", "a.mp4", tmp_path / f"{job_id}.video")
            store.job_started(job_id)
            store.job_progress(job_id, 0.5)
            store.job_done(job_id, {"summary": {"reps": k + 1, "mean_score": 70.0}})
            summary, result = progress(k + 1)
            store.save_live_progress(live_info(f"live-{job_id}"), summary, 1.0, "local", result, "n1")
            store.add_live_session(live_info(f"live-{job_id}"), summary, 1.0, "local", result)
            store.history("local", HistoryQuery(limit=5))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    page = store.history("local", HistoryQuery(limit=1000))
    assert len(page.items) == 64 and page.hidden_empty == 0
    assert {i["status"] for i in page.items} == {"done"}
    assert all(job.status is JobStatus.DONE for job in map(store.get_job, (f"w3-{k}" for k in range(8))))
    store.close()


# -- settings ------------------------------------------------------------------------------------------


def test_the_database_and_uploads_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    plain = Settings(data_dir=data)
    assert plain.database == data / "coach.sqlite3" and plain.uploads_dir == data / "uploads"
    monkeypatch.setenv("COACH_UPLOADS_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("COACH_DATABASE_URL", "postgresql://coach:pw@db.internal/coach")
    shared = Settings(data_dir=data)
    assert shared.uploads_dir == tmp_path / "shared"
    assert shared.database == "postgresql+psycopg://coach:pw@db.internal/coach"  # psycopg 3 is the driver
    monkeypatch.chdir(tmp_path)
    assert Settings(database_url="sqlite:///rel/coach.db").database == f"sqlite:///{tmp_path}/rel/coach.db"
    for bad, words in (
        ("mysql://coach:pw@db/coach", "only SQLite and PostgreSQL are supported"),
        ("postgresql+psycopg2://coach:pw@db/coach", "psycopg 3 (postgresql+psycopg://), not postgresql+psycopg2"),
        ("sqlite://", "a SQLite database must be a file"),
        ("sqlite:///:memory:", "a SQLite database must be a file"),
        ("db.internal:5432", "is not a database URL"),
    ):
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
            Settings(database_url=bad)
    # the whole validation error, as a traceback or a log line would print it, never echoes the URL
    for bad in ("mysql://coach:s3cr3t-pw@db/coach", "postgresql+psycopg2://coach:s3cr3t-pw@db/coach"):
        with pytest.raises(ValueError) as refused:
            Settings(database_url=bad)
        assert "s3cr3t-pw" not in str(refused.value) and "database_url" in str(refused.value)


# -- the whole app on PostgreSQL -------------------------------------------------------------------------


def test_the_app_keeps_users_history_and_jobs_in_postgresql(
    postgres: PostgresServer, tmp_path: Path, empty_room_clip: Path
) -> None:
    url = postgres.database(password="not-shown")
    (tmp_path / "old-uploads").mkdir()
    store = seeded(url, tmp_path / "old-uploads")
    token = add_user(store, "ann", "ann-password-long")
    store.close()
    shared = tmp_path / "shared-uploads"
    settings = Settings.model_validate(
        {"auth": "accounts", "data_dir": tmp_path / "data", "database_url": url, "uploads_dir": shared,
         "allowed_hosts": ["testserver"], "upload_retention_h": 1e6}
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as client:
        answer = client.get("/api/history", headers=auth).json()
        assert [i["id"] for i in answer["items"]] == ids_expected_for_ann() and answer["hidden_empty"] == 2
        with empty_room_clip.open("rb") as fh:
            sent = client.post("/api/analyze", files={"video": ("room.mp4", fh, "video/mp4")},
                               data={"exercise": "pushup", "persona": "plain"}, headers=auth)  # fmt: skip
        assert sent.status_code == 202, sent.text
        job_id = sent.json()["job_id"]
        assert (shared / f"{job_id}.video").is_file()  # the upload is in the folder every server reaches
        deadline = time.monotonic() + 120
        while (job := client.get(f"/api/jobs/{job_id}", headers=auth).json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["error_code"] == JobErrorCode.NO_PERSON.value
        assert client.delete("/api/history/live/live-squat", headers=auth).status_code == 200
        assert client.get("/api/history/live/live-squat", headers=auth).status_code == 404
    assert not (tmp_path / "data" / "coach.sqlite3").exists()  # nothing went to SQLite
    store = Store(url)
    failed = store.get_job(job_id, "ann")
    assert failed is not None and failed.status is JobStatus.FAILED and failed.filename == "room.mp4"
    assert store.get_live_session("live-squat", "ann") is None and store.users() == ["ann"]
    store.close()
