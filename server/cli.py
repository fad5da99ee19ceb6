"""The ``coach`` command line.

    coach poses VIDEO -o OUT.npz [--json]                   video -> 2D and 3D poses
    coach analyze VIDEO --exercise NAME [--json] [-o R.json] count, score and name faults per rep
    coach reference build --exercise NAME --video FILE [--reps I-J]   calibrate a reference exercise
    coach checkpoints [--verify]                            which weight files are present or missing
    coach personas [--json] [--preview ID]                  the coach personas; checks every persona file
    coach serve [--host H] [--port P]                       the live coach: web app, API, WebRTC, WebSocket

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


def _bad_setting(exc: ValidationError) -> int:
    first = exc.errors()[0]
    return _error(f"bad setting: {first['loc'][0]}: {first['msg']}")


def _settings(args: argparse.Namespace) -> Any:
    from server.settings import Settings

    overrides = {
        key: value
        for key, value in {
            "checkpoints_dir": getattr(args, "checkpoints_dir", None),
            "references_dir": getattr(args, "references_dir", None),
            "lifter": getattr(args, "lifter", None),
            "device": getattr(args, "device", None),
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
            "max_sessions": getattr(args, "max_sessions", None),
            "personas_dir": getattr(args, "personas_dir", None),
            "tips_model": getattr(args, "tips_model", None),
            "tips_backend": "transformers" if getattr(args, "tips_model", None) else None,
            "tips_prompt": getattr(args, "tips_prompt", None),
            "tips_device": getattr(args, "tips_device", None),
            "tips_budget_s": getattr(args, "tips_budget", None),
            "tips_seed": getattr(args, "seed", None),
            "tip_cooldown_s": getattr(args, "tip_cooldown", None),
        }.items()
        if value is not None
    }
    return Settings.model_validate(overrides)


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
    out = Path(args.output)
    if out.suffix != ".npz":
        return _error(f"the output must be a .npz file, got {out}")
    if not out.parent.is_dir():
        return _error(f"the output folder {out.parent} does not exist")
    try:
        track, times = _run_pipeline(args.video, _settings(args))
    except ValidationError as exc:
        return _bad_setting(exc)
    except _pipeline_errors() as exc:
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


def _run_pipeline(video: str, settings: Any) -> tuple[Any, Any]:
    """Run the pose pipeline over a video with the configured components (progress bar on a tty);
    return (PoseTrack, StageTimes)."""
    from lifting.pipeline import PosePipeline
    from server.components import make_backend, make_lifter

    lifter = make_lifter(settings)
    progress = _Progress(Path(video).name)
    with make_backend(settings) as backend:
        try:
            return PosePipeline(backend, lifter, max_side=settings.max_side).run(video, progress)
        finally:
            progress.close()


def _track_of(video: str, settings: Any) -> Any:
    """The pose track of a video; input warnings (truncated file...) go to stderr."""
    track, times = _run_pipeline(video, settings)
    for warning in times.warnings:
        print(f"coach: warning: {warning}", file=sys.stderr)
    return track


def _pipeline_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    from lifting.lifter import LifterError
    from lifting.pose2d import BackendError
    from lifting.poseformerv2 import CheckpointError
    from lifting.video import VideoError
    from scoring.reference import ReferenceError

    return (VideoError, CheckpointError, LifterError, BackendError, ReferenceError, ValueError, *more)


def _rep_table(reps: list[Any]) -> str:
    lines = [f"{'rep':>3}  {'start':>7}  {'end':>7}  {'score':>5}  {'ROM':>5}  {'time':>5}  faults"]
    for r in reps:
        faults = "; ".join(f.message for f in r.faults) or "-"
        lines.append(
            f"{r.index:>3}  {r.start_ms / 1000:>6.2f}s  {r.end_ms / 1000:>6.2f}s  {r.score:>5.1f}  "
            f"{r.rom_pct:>4.0f}%  {r.duration_s:>4.1f}s  {faults}"
        )
    return "\n".join(lines)


def _print_tips(tips: list[Any]) -> None:
    if tips:
        print("coach:")
        for tip in tips:
            label = f"rep {tip.rep}" if tip.rep is not None else "set"
            print(f"  [{label}] {tip.text}")


def cmd_analyze(args: argparse.Namespace) -> int:
    from scoring.core import analyze_track, warm_up
    from scoring.persona import PersonaError
    from scoring.reference import load_reference
    from scoring.textgen import TextModelError
    from server.components import make_tips

    report_path = Path(args.output) if args.output else None
    if report_path is not None and not report_path.parent.is_dir():
        return _error(f"the output folder {report_path.parent} does not exist")
    try:
        settings = _settings(args)
        reference = load_reference(settings.references_dir, args.exercise)
        service, generator = make_tips(settings)
        writer = service.writer(args.persona)
        warm_up()
        track = _track_of(args.video, settings)
    except ValidationError as exc:
        return _bad_setting(exc)
    except _pipeline_errors(PersonaError, TextModelError) as exc:
        return _error(str(exc))
    analysis = analyze_track(reference, track)
    if generator is not None:
        generator.start()
    try:
        tips = [tip for event in analysis.events for tip in writer.add(event)] + writer.drain()
    finally:
        if generator is not None:
            generator.close()
    report = {
        "exercise": analysis.exercise,
        "video": str(args.video),
        "frames": track.frames,
        "detected_fraction": round(track.detected_fraction, 4),
        "backend": track.backend,
        "lifter": track.lifter,
        "reps": [r.as_dict() for r in analysis.reps],
        "summary": analysis.summary.as_dict(),
        "persona": writer.persona.id,
        "tips": [tip.as_dict() for tip in tips],
    }
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        s = analysis.summary
        print(f"{reference.spec.display_name}: {s.reps} reps in {Path(args.video).name} ({track.lifter} 3D)")
        if analysis.reps:
            print(_rep_table(analysis.reps))
            fault = f", most frequent fault: {s.most_frequent_fault} ({s.most_frequent_fault_count} reps)"
            print(
                f"mean score {s.mean_score}, best {s.best_score}, worst {s.worst_score}, trend {s.trend}"
                + (fault if s.most_frequent_fault else "")
            )
        _print_tips(tips)
    if track.detected_fraction == 0.0:
        print("coach: warning: no person was found in any frame", file=sys.stderr)
        return EXIT_NOTHING_FOUND
    return EXIT_OK


def cmd_reference_build(args: argparse.Namespace) -> int:
    from scoring.build import build_reference
    from scoring.reference import ExerciseSpec, read_spec, save_reference, validate_exercise_name

    try:
        settings = _settings(args)
        folder = settings.references_dir / validate_exercise_name(args.exercise)
        if (folder / "exercise.json").is_file():
            spec = read_spec(folder)
        elif args.driver is None or not args.parts:
            return _error(
                f"{folder}/exercise.json does not exist: for a new exercise give --driver, --direction and --parts "
                "(and optionally --display-name, --camera), or write exercise.json first"
            )
        else:
            spec = ExerciseSpec(
                name=args.exercise,
                display_name=args.display_name or args.exercise.replace("_", " ").title(),
                camera=args.camera,
                body_parts=tuple(p.strip() for p in args.parts.split(",")),
                driver=args.driver,
                driver_direction=args.direction,
            )
        track = _track_of(args.video, settings)
        reference = build_reference(spec, track, args.reps)
    except ValidationError as exc:
        return _bad_setting(exc)
    except _pipeline_errors() as exc:
        return _error(str(exc))
    save_reference(reference, folder)
    cal = reference.calibration
    print(
        f"{spec.display_name}: {len(cal.reps)} reference reps from {cal.source_video} "
        f"(template rep {cal.template + 1}); {spec.driver} {cal.top:.0f} -> {cal.bottom:.0f} deg; saved to {folder}"
    )
    return EXIT_OK


def cmd_checkpoints(args: argparse.Namespace) -> int:
    from lifting.checkpoints import checkpoint_status
    from lifting.poseformerv2 import CheckpointError

    try:
        settings = _settings(args)
        statuses = checkpoint_status(settings.checkpoints_dir, verify=args.verify)
    except ValidationError as exc:
        return _bad_setting(exc)
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


def cmd_personas(args: argparse.Namespace) -> int:
    from scoring.persona import PersonaError, PersonaLibrary

    try:
        settings = _settings(args)
        library = PersonaLibrary(settings.personas_dir)
    except ValidationError as exc:
        return _bad_setting(exc)
    except PersonaError as exc:
        return _error(str(exc))
    personas = library.list()
    if args.preview:
        return _preview_persona(library, settings, args.preview)
    if args.json:
        print(json.dumps({"personas": [p.as_dict() for p in personas], "errors": library.errors}))
    else:
        print(f"{len(personas)} personas in {settings.personas_dir}:")
        for p in personas:
            print(f"  {p.id:<18} {p.name:<18} {p.description}")
        for error in library.errors.values():
            print(f"coach: error: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT if library.errors else EXIT_OK


def _preview_persona(library: Any, settings: Any, persona_id: str) -> int:
    """What a persona says to every fault of every exercise, to a clean rep and at the end of a set."""
    from scoring.reference import example_fault, example_rep, list_exercises, read_spec
    from scoring.score import summarize
    from scoring.tips import TipOptions, TipWriter
    from scoring.types import RepScored, SetFinished

    try:
        persona = library.get(persona_id)
    except ValueError as exc:
        return _error(str(exc))

    print(f"{persona.name} ({persona.id}): {persona.description}")
    for name in list_exercises(settings.references_dir):
        writer = TipWriter(persona, TipOptions(cooldown_s=0.0))
        reps = [
            example_rep(i, 60.0, (example_fault(rule),))
            for i, rule in enumerate(read_spec(settings.references_dir / name).faults, 1)
        ]
        reps.append(example_rep(len(reps) + 1, 95.0))
        print(f"\n{name}:")
        for result in reps:
            for tip in writer.add(RepScored(result)):
                print(f"  {(tip.fault or 'clean rep'):<14} {tip.text}")
        for tip in writer.add(SetFinished(summarize(reps))):
            print(f"  {'summary':<14} {tip.text}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    try:
        settings = _settings(args)
    except ValidationError as exc:
        return _bad_setting(exc)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        return _error("--ssl-certfile and --ssl-keyfile go together")
    for path in (args.ssl_certfile, args.ssl_keyfile):
        if path is not None and not Path(path).is_file():
            return _error(f"{path} does not exist")
    from scoring.persona import PersonaError
    from scoring.textgen import TextModelError
    from server.components import make_lifter, make_tips

    try:
        lifter = make_lifter(settings)
        tips = make_tips(settings)
    except _pipeline_errors(PersonaError, TextModelError) as exc:
        return _error(str(exc))
    scheme = "https" if args.ssl_certfile else "http"
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"coach: open {scheme}://{shown}:{settings.port}/ in Chromium or Chrome (Ctrl+C stops)", file=sys.stderr)
    if scheme == "http" and settings.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "coach: warning: browsers give the camera only to https pages or localhost; "
            "use --ssl-certfile/--ssl-keyfile for other machines",
            file=sys.stderr,
        )
    try:
        uvicorn.run(
            create_app(settings, lifter, tips),
            host=settings.host,
            port=settings.port,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            log_level="info" if args.verbose else "warning",
        )
    except OSError as exc:
        return _error(f"cannot listen on {settings.host}:{settings.port}: {exc}")
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

    analyze = sub.add_parser("analyze", help="count, score and name the faults of every rep in a video")
    analyze.add_argument("video", help="a video file")
    analyze.add_argument("--exercise", required=True, help="reference exercise name (see references/)")
    analyze.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")
    analyze.add_argument("-o", "--output", help="also write the JSON report to this file")
    analyze.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    analyze.add_argument("--lifter", choices=["auto", "poseformerv2", "mediapipe-world"], help="default: auto")
    _tip_arguments(analyze)
    analyze.set_defaults(func=cmd_analyze)

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
    build.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    build.set_defaults(func=cmd_reference_build)

    ckpt = sub.add_parser("checkpoints", help="list the weight files: present, missing, where they go")
    ckpt.add_argument("--verify", action="store_true", help="also compare SHA-256 digests where known")
    ckpt.add_argument("--json", action="store_true", help="print a JSON list")
    ckpt.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    ckpt.set_defaults(func=cmd_checkpoints)

    serve = sub.add_parser("serve", help="start the live coach (web app, HTTP API, WebRTC, WebSocket events)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--max-sessions", type=int, help="live sessions served at once (default 4)")
    serve.add_argument("--lifter", choices=["auto", "poseformerv2", "mediapipe-world"], help="default: auto")
    serve.add_argument("--device", help="torch device for the lifter: auto, cpu, cuda, cuda:N")
    serve.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    serve.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    serve.add_argument("--ssl-certfile", help="TLS certificate (PEM), to serve https to other machines")
    serve.add_argument("--ssl-keyfile", help="TLS private key (PEM)")
    _tip_arguments(serve, persona=False)
    serve.set_defaults(func=cmd_serve)

    personas = sub.add_parser("personas", help="list the coach personas and check every persona file")
    personas.add_argument("--json", action="store_true", help="print JSON")
    personas.add_argument("--preview", metavar="ID", help="show what a persona says to every fault of every exercise")
    personas.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    personas.add_argument("--personas-dir", type=Path, help="folder of persona files (.toml)")
    personas.set_defaults(func=cmd_personas)
    return parser


def _tip_arguments(parser: argparse.ArgumentParser, persona: bool = True) -> None:
    if persona:
        parser.add_argument("--persona", default="plain", help="coach voice (see `coach personas`; default plain)")
    parser.add_argument("--personas-dir", type=Path, help="folder of persona files (.toml)")
    parser.add_argument(
        "--tips-model", type=Path, help="folder of a local causal LM (transformers) that writes the tips"
    )
    parser.add_argument("--tips-prompt", choices=["auto", "chat", "persona"], help="the model's prompt format")
    parser.add_argument("--tips-device", help="torch device of the tip model: auto, cpu, cuda, cuda:N")
    parser.add_argument("--tips-budget", type=float, help="seconds a tip may take before the template is used")
    parser.add_argument("--seed", type=int, help="seed of the tips' wording (default 0)")
    parser.add_argument("--tip-cooldown", type=float, help="least seconds between two tips (default 5)")


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
    except BrokenPipeError:  # `coach ... | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
