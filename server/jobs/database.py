"""Where the store keeps its rows: a database URL checked, an engine opened, the schema migrated.

Two engines behind one SQLAlchemy Core interface: a SQLite file (the embedded default, nothing to set
up; WAL mode, one writer) and a PostgreSQL server (``postgresql+psycopg://``, psycopg 3: every node of
a deployment shares it). The schema is migrated with Alembic (``migrations/``, configured here: no
``alembic.ini``) to the newest revision whenever the store opens; a database a newer coach migrated is
refused with ``DatabaseError``. SQLite databases made before the migrations existed (tables, no
``alembic_version``) are adopted by revision 0001, which creates only what they lack.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

if TYPE_CHECKING:  # Alembic is imported when a database is opened: commands that never open one skip it
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""Alembic's script folder (``env.py``, ``versions/``), shipped inside the package."""

_MIGRATION_LOCK = 7_301_018
"""PostgreSQL advisory lock key held while migrating: two servers starting at once migrate one after
the other (the second finds nothing left to do)."""

EXAMPLES = "sqlite:////path/to/coach.sqlite3 or postgresql+psycopg://user:password@host:5432/coach"


class DatabaseError(Exception):
    """The database cannot be used as it is (newer than this coach, unreachable); the message says why
    and what to do, with the URL's password hidden."""


def database_url(target: str | Path) -> URL:
    """The URL of ``target``: a ``Path`` is a SQLite file; a string is a URL, ``sqlite:///FILE`` (a
    relative file is resolved now) or ``postgresql[+psycopg]://...`` (psycopg 3 is the driver).
    ``ValueError`` names what is wrong, never the password."""
    if isinstance(target, Path):
        return URL.create("sqlite", database=str(target.expanduser().resolve()))
    try:
        url = make_url(target)
    except ArgumentError:
        raise ValueError(f"database_url is not a database URL: expected {EXAMPLES}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise ValueError(
                f"database_url: SQLite is opened with Python's sqlite3 (sqlite:///FILE), not {url.drivername}"
            )
        if url.database in (None, "", ":memory:") or url.database.startswith("file:"):
            raise ValueError(
                "database_url: a SQLite database must be a file (sqlite:///path/to/coach.sqlite3): an in-memory "
                "one is lost when the server stops"
            )
        return url.set(drivername="sqlite", database=str(Path(url.database).expanduser().resolve()))
    if backend == "postgresql":
        if url.drivername not in ("postgresql", "postgresql+psycopg"):
            raise ValueError(
                f"database_url: PostgreSQL is reached with psycopg 3 (postgresql+psycopg://), not {url.drivername}"
            )
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"database_url: only SQLite and PostgreSQL are supported ({EXAMPLES}), not {url.drivername}")


def shown(url: URL) -> str:
    """The URL as it may be printed or logged: the password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def open_engine(url: URL) -> sa.Engine:
    """An engine for ``url`` (from ``database_url``). SQLite: the file's folder is made, WAL mode and
    foreign keys are switched on for every connection, and each transaction is a real one that takes
    the write lock at once (``BEGIN IMMEDIATE``: a migration or a read-then-write is atomic, and two
    processes on one file wait for each other instead of failing). PostgreSQL: connections are checked
    before use (a restarted server is reconnected)."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi: Any, _record: Any) -> None:
            dbapi.isolation_level = None  # the driver's own implicit transactions off: ours below
            dbapi.execute("PRAGMA journal_mode=WAL")
            dbapi.execute("PRAGMA foreign_keys=ON")

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: sa.Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this code knows."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def current(connection: sa.Connection) -> str | None:
    """The database's revision (None: no ``alembic_version`` yet, a new database or one made before the
    migrations)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Migrate the database to the head revision, in one transaction (held under an advisory lock on
    PostgreSQL); returns (the revision before, the head). ``DatabaseError`` when the database is at a
    revision this code does not know (a newer coach migrated it) or cannot be reached."""
    from alembic import command

    scripts = _scripts()
    with _reaching(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        before = current(connection)
        if before is not None and not known(before):
            raise DatabaseError(
                f"the database {shown(engine.url)} is at revision {before!r}, which this coach does not know "
                f"(its newest is {scripts.get_current_head()!r}): a newer coach migrated it. Run that "
                "version, or point database_url at another database"
            )
        command.upgrade(_config(connection), "head")
        after = current(connection)
    assert after is not None
    return before, after


def revision_of(url: URL) -> str | None:
    """The revision of the database at ``url``, read without changing anything (None: none yet; a
    SQLite file that does not exist is not made)."""
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).is_file():
        return None
    engine = open_engine(url)
    try:
        with _reaching(engine), engine.connect() as connection:
            return current(connection)
    finally:
        engine.dispose()


def known(revision: str) -> bool:
    """Whether this code knows ``revision`` (an unknown one was made by a newer coach)."""
    from alembic.util import CommandError

    try:
        _scripts().get_revision(revision)
    except CommandError:
        return False
    return True


@contextmanager
def _reaching(engine: sa.Engine) -> Iterator[None]:
    """``DatabaseError`` (password hidden) instead of the driver's error when the database cannot be
    reached or opened."""
    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise DatabaseError(f"cannot open the database {shown(engine.url)}: {reason}") from None
