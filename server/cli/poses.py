"""``coach poses VIDEO -o OUT.npz [--json]``: a video -> per-frame 2D and 3D poses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from server.cli.common import (
    BACKENDS,
    EXIT_NOTHING_FOUND,
    EXIT_OK,
    LIFTERS,
    UsageError,
    run_pipeline,
    settings_from,
    warn,
)


def add_parser(sub: Any) -> None:
    poses = sub.add_parser("poses", help="video -> per-frame 2D and 3D poses (.npz)")
    poses.add_argument("video", help="a video file any FFmpeg build reads (mp4, mov, webm, ...)")
    poses.add_argument("-o", "--output", required=True, help="where to write the .npz")
    poses.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    poses.add_argument("--lifter", choices=LIFTERS, help="default: auto")
    poses.add_argument(
        "--backend", choices=BACKENDS, help="2D model (default: mediapipe; yolo-hrnet needs its weight files)"
    )
    poses.add_argument("--device", help="torch device for the lifter: auto, cpu, cuda, cuda:N")
    poses.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    poses.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != ".npz":
        raise UsageError(f"the output must be a .npz file, got {out}")
    if not out.parent.is_dir():
        raise UsageError(f"the output folder {out.parent} does not exist")
    track, times = run_pipeline(args.video, settings_from(args))
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
        warn(warning)
    return EXIT_NOTHING_FOUND if track.detected_fraction == 0.0 else EXIT_OK
