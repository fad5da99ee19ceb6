"""``coach analyze-many DIR|LIST -o OUT --exercise NAME``: many videos on a Ray cluster, resumable.

Every video gets the report ``coach analyze --json`` writes (``OUT/<video name>.json``), from the same
core (``server.jobs.batch``: Ray Data actors running the upload jobs' ``VideoAnalyzer``). Videos whose
report is already in OUT, newer than the video and made with the same options, are skipped, so an
interrupted batch is resumed by running the command again. A progress bar while it runs, then a table
(video, reps, mean score, status, seconds), the failures with their reasons, and ``OUT/summary.json``.
Each analysed video is also a job of ``--owner`` in the store, so it shows in their history.
Exit codes: 0 all done, 1 some videos failed, 2 bad input (nothing is started).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.cli.common import (
    BACKENDS,
    EXIT_NOTHING_FOUND,
    EXIT_OK,
    LIFTERS,
    UsageError,
    settings_from,
)

if TYPE_CHECKING:
    from server.jobs.batch import BatchItem, Outcome
    from server.jobs.store import Store
    from server.services import References
    from server.settings import Settings


def add_parser(sub: Any) -> None:
    many = sub.add_parser(
        "analyze-many",
        help="analyse a folder or list of videos on a Ray cluster (local by default), resumable",
        description="Analyse many videos on Ray: one report each (as `coach analyze --json`), a summary, resumable.",
    )
    many.add_argument(
        "source",
        type=Path,
        help="a folder (its .mp4/.mov/.m4v/.webm/.mkv/.avi files) or a list file: one video path a line, "
        "optionally followed by a TAB and its exercise; relative paths from the list's folder; # comments",
    )
    many.add_argument("-o", "--output-dir", type=Path, required=True, help="folder of the reports and summary.json")
    many.add_argument("--exercise", help="exercise of the videos (a list's lines may name their own)")
    many.add_argument("--persona", default="plain", help="coach voice of the tips (default plain)")
    many.add_argument("--owner", help="whose history the results join (default: the local user of auth=single)")
    many.add_argument("--ray-address", help="Ray cluster: host:port of its head, ray://host:port or auto "
                      "(default: start a local Ray)")  # fmt: skip
    many.add_argument("--ray-cpus", type=int, help="CPUs of the local Ray started (default: every core)")
    many.add_argument("--actors", type=int, help="analysis actors (default: one per GPU, else one per CPU)")
    many.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    many.add_argument("--data-dir", type=Path, help="folder of the store (coach.sqlite3) and custom exercises")
    many.add_argument("--lifter", choices=LIFTERS, help="default: auto")
    many.add_argument("--backend", choices=BACKENDS, help="2D model (default: mediapipe)")
    many.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lifting.checkpoints import choose_lifter
    from scoring.coach.persona import PersonaLibrary
    from server.jobs.batch import BatchInputError, finished_report, read_inputs
    from server.jobs.store import LOCAL_USER, Store
    from server.services import References

    settings = settings_from(args)
    out_dir: Path = args.output_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"the output folder {out_dir} is a file")
    try:
        items = read_inputs(args.source, args.exercise)
    except BatchInputError as exc:
        raise UsageError(str(exc)) from None
    # Everything that can be wrong is checked before Ray starts: exercises, persona, lifter files, owner.
    references = References(settings.references_dir, settings.custom_dir)
    exercises = sorted({item.exercise for item in items})
    for name in exercises:
        references(name)  # ReferenceError names the exercises there are
    personas = [p.id for p in PersonaLibrary(settings.personas_dir).list()]
    if args.persona not in personas:
        raise UsageError(f"unknown persona {args.persona!r}; choose one of {personas}")
    lifter = choose_lifter(settings.checkpoints_dir, settings.lifter).lifter
    out_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database)
    try:
        owner = args.owner or LOCAL_USER
        if owner != LOCAL_USER and owner not in store.users():
            raise UsageError(f"no user {owner!r} in the store: add them with `coach users add {owner}`")
        done = {item: finished_report(item, out_dir, args.persona, settings.backend, lifter) for item in items}
        todo = [item for item in items if done[item] is None]
        outcomes = _skipped(done)
        if todo:
            outcomes += _analyse(todo, settings, references, args.persona, owner, store, out_dir)
    finally:
        store.close()
    order = {item: i for i, item in enumerate(items)}
    outcomes.sort(key=lambda o: order[o.item])
    _write_json(
        out_dir / "summary.json",
        {
            "source": str(args.source),
            "persona": args.persona,
            "backend": settings.backend,
            "lifter": lifter,
            "owner": owner,
            "counts": _counts(outcomes),
            "videos": [o.as_dict() for o in outcomes],
        },
    )
    print_summary(outcomes, out_dir)
    return EXIT_NOTHING_FOUND if any(o.status == "failed" for o in outcomes) else EXIT_OK


def _skipped(done: dict[BatchItem, dict[str, Any] | None]) -> list[Outcome]:
    from server.jobs.batch import Outcome, counted

    return [Outcome(item, "skipped", 0.0, *counted(report)) for item, report in done.items() if report is not None]


def _analyse(
    todo: list[BatchItem],
    settings: Settings,
    references: References,
    persona: str,
    owner: str,
    store: Store,
    out_dir: Path,
) -> list[Outcome]:
    """Run ``todo`` on Ray, writing each report and job as it comes back, with a progress bar."""
    from functools import partial

    from tqdm import tqdm

    from server.jobs.batch import Outcome, counted, file_report, record_job, run_on_ray
    from server.services import ray_options, worker_analyzer

    shipped = {name: (references(name), references.others(name)) for name in sorted({i.exercise for i in todo})}
    bar = tqdm(total=len(todo), unit="video", file=sys.stderr, disable=not sys.stderr.isatty())
    bar.set_description("starting Ray")
    outcomes = []
    try:
        results = run_on_ray(
            todo,
            ray_options(settings),
            partial(worker_analyzer, settings, None),
            shipped,
            persona,
            started=lambda actors: bar.set_description(f"{actors} Ray actor{'s' if actors > 1 else ''}"),
        )
        for result in results:
            job_id = record_job(store, result, persona, owner, settings.uploads_dir)
            if result.report is not None:
                _write_json(out_dir / f"{result.item.name}.json", file_report(result.report, result.item.video))
                outcomes.append(Outcome(result.item, "done", result.seconds, *counted(result.report), job_id=job_id))
            else:
                outcomes.append(
                    Outcome(
                        result.item, "failed", result.seconds, reason=result.reason, code=result.code, job_id=job_id
                    )
                )
                bar.write(f"coach: {result.item.video} failed: {result.reason}", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
    return outcomes


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Written whole or not at all (a batch interrupted mid-write leaves no half report to resume from)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    return {status: sum(o.status == status for o in outcomes) for status in ("done", "skipped", "failed")}


def print_summary(outcomes: list[Outcome], out_dir: Path) -> None:
    """The table of videos, the counts, and each failure with its reason."""
    width = max([len(o.item.name) for o in outcomes] + [5])
    print(f"{'video':<{width}}  {'reps':>4}  {'mean score':>10}  {'status':<7}  {'seconds':>7}")
    for o in outcomes:
        reps = "-" if o.reps is None else str(o.reps)
        score = "-" if o.mean_score is None else f"{o.mean_score:.1f}"
        seconds = "-" if o.status == "skipped" else f"{o.seconds:.1f}"
        print(f"{o.item.name:<{width}}  {reps:>4}  {score:>10}  {o.status:<7}  {seconds:>7}")
    counts = _counts(outcomes)
    skipped = f", {counts['skipped']} skipped (their reports were already in {out_dir})" if counts["skipped"] else ""
    print(f"{len(outcomes)} videos: {counts['done']} analysed{skipped}, {counts['failed']} failed")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print("failed:")
        for o in failed:
            print(f"  {o.item.video}: {o.reason}")
    print(f"reports and summary.json in {out_dir}")
