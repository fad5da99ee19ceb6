"""``coach users add|list|remove|token NAME``: the accounts of ``auth=accounts`` (in the store's database:
the data folder's SQLite file, or ``COACH_DATABASE_URL``). ``add`` and ``token`` print the user's personal
token once (API clients send it as ``Authorization: Bearer <token>``); only its hash is kept."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from server.cli.common import EXIT_OK, UsageError, settings_from


def add_parser(sub: Any) -> None:
    users = sub.add_parser("users", help="manage the accounts of auth=accounts (add, list, remove, token)")
    users.add_argument("action", choices=("add", "list", "remove", "token", "password"))
    users.add_argument("name", nargs="?", help="the user's name (letters, digits, '.', '_', '-')")
    users.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input instead of asking"
    )
    users.add_argument(
        "--data-dir", type=Path, help="folder of the SQLite database (default data/; COACH_DATABASE_URL for PostgreSQL)"
    )
    users.set_defaults(func=run)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from server.auth import add_user, hash_password, new_secret, secret_hash
    from server.jobs.store import Store

    settings = settings_from(args)
    if args.action != "list" and not args.name:
        raise UsageError(f"`coach users {args.action}` needs a NAME")
    store = Store(settings.database)
    try:
        if args.action == "list":
            names = store.users()
            print("\n".join(names) if names else f"no users yet: `coach users add NAME` (in {store.shown_url})")
        elif args.action == "add":
            try:
                token = add_user(store, args.name, _password(args))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            print(f"added {args.name}; personal token (shown once, for API clients): {token}")
        elif args.action == "remove":
            if not store.remove_user(args.name):
                raise UsageError(f"no user {args.name!r}")
            print(f"removed {args.name} (their uploads and history stay in the database, unreachable)")
        elif args.action == "token":
            token = new_secret()
            if not store.set_user(args.name, token_hash=secret_hash(token)):
                raise UsageError(f"no user {args.name!r}")
            print(f"new personal token for {args.name} (the old one no longer works): {token}")
        else:  # password
            try:
                changed = store.set_user(args.name, password_hash=hash_password(_password(args)))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            if not changed:
                raise UsageError(f"no user {args.name!r}")
            print(f"password of {args.name} changed")
    finally:
        store.close()
    return EXIT_OK
