"""A real, throwaway PostgreSQL server for the tests: ``initdb`` into a temporary folder, started on a
free loopback port with its socket in that folder, stopped and removed at the end. Never the system's
cluster. ``scripts/setup.sh --browser`` (``make setup-browser``; CI runs it) installs PostgreSQL.

Run as root (containers), the server runs as the ``postgres`` user, as PostgreSQL requires."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

SETUP_HINT = "PostgreSQL is not installed: run `make setup-browser` (scripts/setup.sh --browser installs it)"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start (the message says which)."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` (Debian's layout)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3].split(".")[0])
    )
    if not found:
        raise PostgresUnavailable(SETUP_HINT)
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A running throwaway server; ``database()`` makes a new empty database and returns its URL."""

    def __init__(self, port: int, user: str) -> None:
        self.port = port
        self.user = user
        self._names = itertools.count(1)

    def url(self, database: str, password: str = "") -> str:
        """A SQLAlchemy URL (psycopg 3) of ``database``; the server trusts loopback connections, so any
        ``password`` is accepted (tests use one to check it is never shown)."""
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{self.user}{secret}@127.0.0.1:{self.port}/{database}"

    def database(self, password: str = "") -> str:
        """A new, empty database's URL."""
        name = f"coach_test_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name, password)


@contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    """Start a server (about 2 s), yield it, stop it and remove its folder."""
    bin_dir = find_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="coach-pg-"))  # short: the socket path must stay under 107 bytes
    run_as: list[str] = []
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:  # PostgreSQL refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(f"no `postgres` user to run the server as: {SETUP_HINT}") from None
        os.chown(folder, account.pw_uid, account.pw_gid)
        run_as, user = ["runuser", "-u", "postgres", "--"], "postgres"
    data, log = folder / "data", folder / "server.log"
    port = _free_port()
    pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "30"]
    try:
        try:
            _run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync"])  # fmt: skip
            options = (
                f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off"
            )
            _run([*pg_ctl, "-l", str(log), "-o", options, "start"])
        except subprocess.CalledProcessError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise PostgresUnavailable(f"{exc.cmd[len(run_as)]} failed: {exc.stderr or exc.stdout}{tail}") from None
        try:
            yield PostgresServer(port, user)
        finally:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
