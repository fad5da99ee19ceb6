"""The ``coach`` command line: one module per command, one error handler here.

    coach poses VIDEO -o OUT.npz [--json]                   video -> 2D and 3D poses
    coach analyze VIDEO --exercise NAME [--json] [-o R.json] count, score and name faults per rep
    coach analyze-many DIR|LIST -o OUT --exercise NAME [--ray-address A]  many videos on Ray, resumable
    coach reference build --exercise NAME --video FILE [--reps I-J]   calibrate a reference exercise
    coach checkpoints [--verify]                            which weight files are present or missing
    coach personas [--json] [--preview ID]                  the coach personas; checks every persona file
    coach serve [--host H] [--port P]                       the live coach: web app, API, WebRTC, WebSocket
    coach users add|list|remove|token|password [NAME]      the accounts of auth=accounts
    coach db upgrade|current                                the store's database: migrate it, show its revision
    coach bench [--sessions N] [--fps F] [--webrtc] ...      live latency and throughput (benchmarks/latency.py)
    coach train-lifter [--preset small|full|single] [-o DIR]  train our own PoseFormerV2 (lifting/training)

Exit codes: 0 success, 1 the work ran but found nothing usable (e.g. no person in any frame),
2 bad input or configuration (the message says what to do).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from server.cli import (
    analyze,
    analyze_many,
    bench,
    checkpoints,
    db,
    personas,
    poses,
    reference,
    serve,
    train_lifter,
    users,
)
from server.cli.common import EXIT_BAD_INPUT, EXIT_OK, input_errors

COMMANDS = (poses, analyze, analyze_many, reference, checkpoints, serve, personas, users, db, bench, train_lifter)
"""Each module adds its parser (``add_parser``) and runs its command."""


def _silence_native_stderr() -> None:
    """MediaPipe's C++ side (TFLite, absl) writes informational lines straight to file descriptor 2.
    Give Python a duplicate of the real stderr and point descriptor 2 at /dev/null, so the terminal
    shows only the coach's own messages (tracebacks included). ``--verbose`` keeps the native lines."""
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coach", description="AI Fitness Coach: real-time exercise coaching")
    parser.add_argument("--verbose", action="store_true", help="also show the native libraries' log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _error(message: str) -> int:
    print(f"coach: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Called with ``argv`` (tests, other Python code) it leaves stderr alone."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":  # the benchmark parses its own options (``coach bench --help``)
        args.options = [*extra, *args.options]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if argv is None and not args.verbose:
        _silence_native_stderr()
    try:
        return int(args.func(args))
    except ValidationError as exc:
        first = exc.errors()[0]
        return _error(f"bad setting: {first['loc'][0]}: {first['msg']}")
    except KeyboardInterrupt:
        print("coach: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `coach ... | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if isinstance(exc, input_errors()):
            return _error(str(exc))
        raise
