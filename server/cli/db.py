"""``coach db upgrade|current``: the store's database (``COACH_DATABASE_URL``, else the data folder's
SQLite file) and its schema revision (Alembic, ``server/jobs/migrations``).

``upgrade`` migrates it to the newest revision (the server also does when it starts; with several
servers on one PostgreSQL database, run it once before starting the new version). ``current`` prints
the URL (password hidden) and the revision, changing nothing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from server.cli.common import EXIT_OK, settings_from


def add_parser(sub: Any) -> None:
    db = sub.add_parser("db", help="the store's database: migrate it (upgrade) or show its revision (current)")
    db.add_argument("action", choices=("upgrade", "current"))
    db.add_argument(
        "--data-dir", type=Path, help="folder of the SQLite database (default data/; COACH_DATABASE_URL for PostgreSQL)"
    )
    db.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.jobs.database import database_url, head, known, open_engine, revision_of, shown, upgrade

    url = database_url(settings_from(args).database)
    print(f"database: {shown(url)}")
    if args.action == "upgrade":
        engine = open_engine(url)
        try:
            before, after = upgrade(engine)
        finally:
            engine.dispose()
        if before == after:
            print(f"revision: {after} (the newest): nothing to do")
        else:
            print(f"revision: {before or 'none'} -> {after} (the newest)")
        return EXIT_OK
    revision, newest = revision_of(url), head()
    if revision is None:
        print(f"revision: none (a new database, or one from before migrations): `coach db upgrade` makes it {newest}")
    elif revision == newest:
        print(f"revision: {revision} (the newest)")
    elif known(revision):
        print(f"revision: {revision}; the newest is {newest}: run `coach db upgrade` (a server also does at start)")
    else:
        print(f"revision: {revision}, newer than this coach knows ({newest}): a newer coach migrated it")
    return EXIT_OK
