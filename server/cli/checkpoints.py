"""``coach checkpoints [--verify] [--json]``: which weight files are present or missing, and where they go."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from server.cli.common import EXIT_OK, settings_from


def add_parser(sub: Any) -> None:
    ckpt = sub.add_parser("checkpoints", help="list the weight files: present, missing, where they go")
    ckpt.add_argument("--verify", action="store_true", help="also compare SHA-256 digests where known")
    ckpt.add_argument("--json", action="store_true", help="print a JSON list")
    ckpt.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    ckpt.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lifting.checkpoints import checkpoint_status

    settings = settings_from(args)
    statuses = checkpoint_status(settings.checkpoints_dir, verify=args.verify)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": s.entry.name,
                        "present": s.present,
                        "path": str(s.path),
                        "size_bytes": s.size_bytes,
                        "problem": s.problem,
                        "used_by": s.entry.used_by,
                        "obtain": s.entry.obtain,
                    }
                    for s in statuses
                ]
            )
        )
        return EXIT_OK
    print(f"Checkpoints folder: {settings.checkpoints_dir}\n")
    for s in statuses:
        mark = "present" if s.present and not s.problem else ("PROBLEM" if s.present else "missing")
        print(f"[{mark}] {s.entry.name} - {s.entry.model}")
        print(f"    for:    {s.entry.purpose} ({s.entry.used_by})")
        if s.present:
            print(f"    file:   {s.path} ({s.size_bytes:,} bytes)")
        if s.problem:
            print(f"    problem: {s.problem}")
        if not s.present:
            print(f"    get it: {s.entry.obtain}")
            print(f"    size:   {s.entry.size_note}")
            print(f"    put it: {s.path}")
        print()
    if any(not s.present for s in statuses):
        print(
            "The embedded default needs none of these: MediaPipe BlazePose (2D) and its world landmarks (3D)\n"
            "ship inside the mediapipe wheel. With 27_243_45.2.bin present, the lifter becomes PoseFormerV2."
        )
    return EXIT_OK
