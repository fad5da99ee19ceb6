"""``coach reference build --exercise NAME --video FILE [--reps I-J]``: calibrate a reference exercise from a
video; ``coach reference compile --exercise NAME``: from its authored keyframes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from server.cli.common import EXIT_OK, UsageError, settings_from, track_of


def add_parser(sub: Any) -> None:
    reference = sub.add_parser("reference", help="reference exercises")
    reference_sub = reference.add_subparsers(dest="reference_command", required=True, metavar="ACTION")
    build = reference_sub.add_parser("build", help="calibrate a reference exercise from a video of good reps")
    build.add_argument("--exercise", required=True, help="exercise name (folder under references/)")
    build.add_argument("--video", required=True, help="video of the reference reps")
    build.add_argument("--reps", help="which reps to keep, 1-based: 2 or 1-3 (default: all found)")
    build.add_argument("--driver", help="new exercise: the angle that drives a rep, e.g. knee_mean")
    build.add_argument(
        "--direction",
        choices=["decrease", "increase"],
        default="decrease",
        help="new exercise: how the driver moves from the start posture to the turning point",
    )
    build.add_argument("--parts", help="new exercise: scored body parts, e.g. left_leg,right_leg")
    build.add_argument("--display-name", help="new exercise: name shown to users")
    build.add_argument("--camera", default="side view, whole body in frame", help="new exercise: camera guidance")
    build.add_argument(
        "--views", default="side", help="new exercise: camera views it is filmed from: side, front or side,front"
    )
    build.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    build.set_defaults(func=run_build)
    compiled = reference_sub.add_parser(
        "compile", help="build an exercise's reference from its authored keyframes (no video needed)"
    )
    compiled.add_argument("--exercise", required=True, help="exercise name (folder under references/)")
    compiled.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    compiled.set_defaults(func=run_compile)


def run_compile(args: argparse.Namespace) -> int:
    from scoring.authored import build_authored
    from scoring.reference import read_spec, resolve_exercise_name, save_reference

    settings = settings_from(args)
    folder = settings.references_dir / resolve_exercise_name(settings.references_dir, args.exercise)
    spec = read_spec(folder)
    if spec.authored is None:
        raise UsageError(f"{folder}/exercise.json has no 'authored' keyframes: build it from a video instead")
    reference = build_authored(spec)
    save_reference(reference, folder)
    cal = reference.calibration
    print(
        f"{spec.display_name}: authored reference, {len(cal.reps)} drawn reps; {spec.driver} "
        f"{cal.top:.0f} -> {cal.bottom:.0f} deg; saved to {folder}"
    )
    return EXIT_OK


def run_build(args: argparse.Namespace) -> int:
    from scoring.build import build_reference, find_reps
    from scoring.reference import ExerciseSpec, read_spec, save_reference, validate_exercise_name

    settings = settings_from(args)
    name = validate_exercise_name(args.exercise.strip().lower())  # names are case-insensitive: "Squat" is squat
    folder = settings.references_dir / name
    if (folder / "exercise.json").is_file():
        spec = read_spec(folder)
    elif args.driver is None or not args.parts:
        raise UsageError(
            f"{folder}/exercise.json does not exist: for a new exercise give --driver, --direction and --parts "
            "(and optionally --display-name, --camera, --views), or write exercise.json first"
        )
    else:
        spec = ExerciseSpec(
            name=name,
            display_name=args.display_name or name.replace("_", " ").title(),
            camera=args.camera,
            body_parts=tuple(p.strip() for p in args.parts.split(",")),
            driver=args.driver,
            driver_direction=args.direction,
            views=tuple(v.strip() for v in args.views.split(",")),  # checked by the spec
        )
    track = track_of(args.video, settings)
    _, movements = find_reps(spec, track)
    print(f"found in {Path(args.video).name}:")
    for movement in movements:
        print(f"  {movement.describe()}")
    reference = build_reference(spec, track, args.reps)
    save_reference(reference, folder)
    cal = reference.calibration
    print(
        f"{spec.display_name}: {len(cal.reps)} reference reps from {cal.source_video} "
        f"(template rep {cal.template + 1}); {spec.driver} {cal.top:.0f} -> {cal.bottom:.0f} deg; saved to {folder}"
    )
    return EXIT_OK
