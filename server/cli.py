"""The ``coach`` command line.

    coach poses VIDEO -o OUT.npz [--json]   video -> 2D and 3D poses
    coach checkpoints [--verify]            which weight files are present, which are missing

Exit codes: 0 success, 1 the work ran but found nothing usable (e.g. no person in any frame),
2 bad input or configuration (the message says what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

EXIT_OK, EXIT_NOTHING_FOUND, EXIT_BAD_INPUT = 0, 1, 2


def _silence_native_stderr() -> None:
    """MediaPipe's C++ side (TFLite, absl) writes informational lines straight to file descriptor 2.
    Give Python a duplicate of the real stderr and point descriptor 2 at /dev/null, so the terminal
    shows only the coach's own messages (tracebacks included). ``--verbose`` keeps the native lines."""
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _error(message: str) -> int:
    print(f"coach: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _settings(args: argparse.Namespace) -> Any:
    from server.settings import Settings

    overrides = {
        key: value
        for key, value in {
            "checkpoints_dir": getattr(args, "checkpoints_dir", None),
            "lifter": getattr(args, "lifter", None),
            "device": getattr(args, "device", None),
        }.items()
        if value is not None
    }
    return Settings(**overrides)


class _Progress:
    """A tqdm bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str) -> None:
        self._bar: Any = None
        self._label = label
        self._enabled = sys.stderr.isatty()

    def __call__(self, done: int, expected: int) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=expected or None, desc=self._label, unit="frame", file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def cmd_poses(args: argparse.Namespace) -> int:
    from lifting.checkpoints import CheckpointError
    from lifting.lifter import LifterError
    from lifting.pipeline import PosePipeline
    from lifting.pose2d import BackendError
    from lifting.video import VideoError
    from server.components import make_backend, make_lifter

    out = Path(args.output)
    if out.suffix != ".npz":
        return _error(f"the output must be a .npz file, got {out}")
    if not out.parent.is_dir():
        return _error(f"the output folder {out.parent} does not exist")
    try:
        settings = _settings(args)
        lifter = make_lifter(settings)
        progress = _Progress(Path(args.video).name)
        with make_backend(settings) as backend:
            pipeline = PosePipeline(backend, lifter, max_side=settings.max_side)
            try:
                track, times = pipeline.run(args.video, progress)
            finally:
                progress.close()
    except ValidationError as exc:
        return _error(f"bad setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    except (VideoError, CheckpointError, LifterError, BackendError, ValueError) as exc:
        return _error(str(exc))
    track.save_npz(out)
    summary = {**track.summary(), "output": str(out), "timing": times.as_dict()}
    warnings = list(times.warnings)
    if track.detected_fraction == 0.0:
        warnings.append("no person was found in any frame; every row is marked detected=False")
    if warnings:
        summary["warnings"] = warnings
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['frames']} frames, person in {summary['detected_frames']} "
            f"({summary['detected_fraction']:.1%}), 2D: {track.backend}, 3D: {track.lifter}, "
            f"{times.as_dict()['fps']} frames/s -> {out}"
        )
    for warning in warnings:
        print(f"coach: warning: {warning}", file=sys.stderr)
    return EXIT_NOTHING_FOUND if track.detected_fraction == 0.0 else EXIT_OK


def cmd_checkpoints(args: argparse.Namespace) -> int:
    from lifting.checkpoints import checkpoint_status
    from lifting.poseformerv2 import CheckpointError

    try:
        settings = _settings(args)
        statuses = checkpoint_status(settings.checkpoints_dir, verify=args.verify)
    except ValidationError as exc:
        return _error(f"bad setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    except CheckpointError as exc:
        return _error(str(exc))
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
    missing = [s for s in statuses if not s.present]
    if missing:
        print(
            "The embedded default needs none of these: MediaPipe BlazePose (2D) and its world landmarks (3D)\n"
            "ship inside the mediapipe wheel. With 27_243_45.2.bin present, the lifter becomes PoseFormerV2."
        )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coach", description="AI Fitness Coach: real-time exercise coaching")
    parser.add_argument("--verbose", action="store_true", help="also show the native libraries' log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    poses = sub.add_parser("poses", help="video -> per-frame 2D and 3D poses (.npz)")
    poses.add_argument("video", help="a video file any FFmpeg build reads (mp4, mov, webm, ...)")
    poses.add_argument("-o", "--output", required=True, help="where to write the .npz")
    poses.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    poses.add_argument("--lifter", choices=["auto", "poseformerv2", "mediapipe-world"], help="default: auto")
    poses.add_argument("--device", help="torch device for the lifter: auto, cpu, cuda, cuda:N")
    poses.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    poses.set_defaults(func=cmd_poses)

    ckpt = sub.add_parser("checkpoints", help="list the weight files: present, missing, where they go")
    ckpt.add_argument("--verify", action="store_true", help="also compare SHA-256 digests where known")
    ckpt.add_argument("--json", action="store_true", help="print a JSON list")
    ckpt.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    ckpt.set_defaults(func=cmd_checkpoints)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Called with ``argv`` (tests, other Python code) it leaves stderr alone."""
    args = build_parser().parse_args(argv)
    if argv is None and not args.verbose:
        _silence_native_stderr()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("coach: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
