"""``coach reference build --exercise NAME --video FILE [--reps I-J]``: calibrate a reference exercise from a
video; ``coach reference compile --exercise NAME``: from its authored keyframes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.cli.common import EXIT_OK, UsageError, settings_from, track_of

if TYPE_CHECKING:
    from lifting.track import PoseTrack
    from scoring.reference import ExerciseSpec
    from server.settings import Settings


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
        help="new exercise: how the driver moves from the start posture to the turning point (default: decrease; "
        "--custom: suggested)",
    )
    build.add_argument("--parts", help="new exercise: scored body parts, e.g. left_leg,right_leg")
    build.add_argument("--display-name", help="new exercise: name shown to users")
    build.add_argument("--camera", default="side view, whole body in frame", help="new exercise: camera guidance")
    build.add_argument(
        "--views", default="side", help="new exercise: camera views it is filmed from: side, front or side,front"
    )
    build.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    build.add_argument(
        "--custom",
        action="store_true",
        help="a custom exercise (saved under the data folder, beside the shipped ones): driver, direction and body "
        "parts suggested from the video unless given, fault rules generated from the reference",
    )
    build.add_argument("--data-dir", type=Path, help="--custom: the data folder (custom exercises in its exercises/)")
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
    if args.custom:
        return run_custom_build(args, settings, name)
    folder = settings.references_dir / name
    if (folder / "exercise.json").is_file():
        spec = read_spec(folder)
    elif args.driver is None or not args.parts:
        raise UsageError(
            f"{folder}/exercise.json does not exist: for a new exercise give --driver, --direction and --parts "
            "(and optionally --display-name, --camera, --views), write exercise.json first, or pass --custom "
            "to build a custom exercise whose driver and body parts are suggested from the video"
        )
    else:
        spec = ExerciseSpec(
            name=name,
            display_name=args.display_name or name.replace("_", " ").title(),
            camera=args.camera,
            body_parts=tuple(p.strip() for p in args.parts.split(",")),
            driver=args.driver,
            driver_direction=args.direction or "decrease",
            views=tuple(v.strip() for v in args.views.split(",")),  # checked by the spec
        )
    track = track_of(args.video, settings)
    if spec.kind == "hold":
        return _build_hold(spec, track, folder)
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


def run_custom_build(args: argparse.Namespace, settings: Settings, name: str) -> int:
    """A custom exercise: suggested (or, when it exists, its own) spec, the reps found listed, fault
    rules generated; a new one must not take a shipped exercise's name."""
    from scoring.build import build_reference, with_generated_faults
    from scoring.reference import list_exercises, read_spec, save_reference
    from scoring.suggest import suggest
    from server.exercises import ExerciseCatalog

    if name in list_exercises(settings.references_dir):
        raise UsageError(f"{name} is a shipped exercise: give the custom exercise another name")
    catalog = ExerciseCatalog(settings.references_dir, settings.custom_dir)
    folder = settings.custom_dir / name
    exists = (folder / "exercise.json").is_file()
    display_name = args.display_name or (read_spec(folder).display_name if exists else name.replace("_", " ").title())
    if not exists:
        catalog.check_free(name, display_name)
    parts = tuple(p.strip() for p in args.parts.split(",")) if args.parts else None
    track = track_of(args.video, settings)
    if exists and args.driver is None and parts is None and args.direction is None:
        old = read_spec(folder)
        found = suggest(track, name, display_name, old.driver, old.driver_direction, old.body_parts)
    else:
        found = suggest(track, name, display_name, args.driver, args.direction, parts)
    spec = found.spec
    print(
        f"{spec.display_name}: driver {spec.driver} ({spec.driver_direction}s into the rep), body parts "
        f"{', '.join(spec.body_parts)}, filmed from the {found.view or 'side'}"
    )
    print(f"found in {Path(args.video).name}:")
    for movement in found.reps:
        print(f"  {movement.describe()}")
    reference = with_generated_faults(build_reference(spec, track, args.reps))
    cal = reference.calibration
    if exists:
        save_reference(reference, folder)
    else:
        catalog.add(
            reference, {"owner": "cli", "source_video": Path(args.video).name, "reps": cal.extra["reps_selected"]}
        )
    print(
        f"{spec.display_name}: {len(cal.reps)} reference reps (template rep {cal.template + 1}); {spec.driver} "
        f"{cal.top:.0f} -> {cal.bottom:.0f} deg; saved to {folder}; fault rules (edit them in exercise.json):"
    )
    for rule in reference.spec.faults:
        threshold = f", threshold {rule.threshold:g} deg" if rule.kind == "offset" else ""
        print(f"  {rule.id} ({rule.kind}{threshold}): {rule.message}")
    return EXIT_OK


def _build_hold(spec: ExerciseSpec, track: PoseTrack, folder: Path) -> int:
    """A hold's reference: the video's longest hold in position is the held posture."""
    from scoring.hold import build_hold_reference
    from scoring.reference import save_reference

    reference = build_hold_reference(spec, track)
    save_reference(reference, folder)
    cal = reference.calibration
    span = cal.reps[0]
    t0 = float(track.timestamps_ms[0])
    start, end = ((float(track.timestamps_ms[i]) - t0) / 1000 for i in (span.start, span.end))
    print(
        f"{spec.display_name}: held {end - start:.1f} s in position ({start:.1f}-{end:.1f} s of {cal.source_video}); "
        f"{spec.posture_feature} {cal.posture_value:.0f} deg, {spec.driver} {cal.top:.0f} deg; saved to {folder}"
    )
    return EXIT_OK
