"""``coach analyze VIDEO --exercise NAME``: count, score and name the faults of every rep, with tips.

The report is ``scoring.coach.report.build_report``, the same function an uploaded video's job uses
(without the per-frame curves and keypoints, which only the results page draws).
"""

from __future__ import annotations

import argparse
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from server.cli.common import (
    BACKENDS,
    EXIT_NOTHING_FOUND,
    EXIT_OK,
    LIFTERS,
    UsageError,
    add_tip_arguments,
    settings_from,
    track_of,
    warn,
)


def add_parser(sub: Any) -> None:
    analyze = sub.add_parser("analyze", help="count, score and name the faults of every rep in a video")
    analyze.add_argument("video", help="a video file")
    analyze.add_argument("--exercise", required=True, help="reference exercise name (see references/)")
    analyze.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")
    analyze.add_argument("-o", "--output", help="also write the JSON report to this file")
    analyze.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    analyze.add_argument("--lifter", choices=LIFTERS, help="default: auto")
    analyze.add_argument(
        "--backend", choices=BACKENDS, help="2D model (default: mediapipe; yolo-hrnet needs its weight files)"
    )
    add_tip_arguments(analyze)
    analyze.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scoring.coach.report import build_report
    from scoring.core import warm_up
    from scoring.features import focus_joints
    from server.services import References, make_tips

    report_path = Path(args.output) if args.output else None
    if report_path is not None and not report_path.parent.is_dir():
        raise UsageError(f"the output folder {report_path.parent} does not exist")
    settings = settings_from(args)
    references = References(settings.references_dir, settings.custom_dir)
    reference = references(args.exercise)
    alternatives = references.others(reference.spec.name)
    service, generator = make_tips(settings)
    writer = service.writer(args.persona)
    warm_up()
    track = track_of(args.video, settings, focus_joints(reference.spec.driver))
    with generator if generator is not None else nullcontext():
        report = build_report(reference, track, writer, detail=False, alternatives=alternatives)
    report["video"] = str(args.video)
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report, Path(args.video).name)
    if track.detected_fraction == 0.0:
        warn("no person was found in any frame")
        return EXIT_NOTHING_FOUND
    return EXIT_OK


def print_holds(report: dict[str, Any], video: str, missed: str) -> None:
    """A hold exercise's table: each hold's time, share in position, time in faults and its fault episodes."""
    summary, holds = report["summary"], report["holds"]
    count = f"{summary['holds']} hold{'' if summary['holds'] == 1 else 's'}"
    print(
        f"{report['display_name']}: {count}, {summary['hold_total_s']:.1f} s held{missed} in {video} "
        f"({report['lifter']} 3D)"
    )
    if holds:
        print(f"{'hold':>4}  {'start':>7}  {'held':>6}  {'score':>5}  {'in pos.':>7}  {'faulty':>6}  faults")
        for h in holds:
            faults = "; ".join(f["message"] for f in h["faults"]) or "-"
            print(
                f"{h['index']:>4}  {h['start_ms'] / 1000:>6.2f}s  {h['duration_s']:>5.1f}s  {h['score']:>5.1f}  "
                f"{100 * h['held_share']:>6.0f}%  {h['fault_s']:>5.1f}s  {faults}"
            )
        print(f"mean score {summary['mean_score']}, longest hold {summary['hold_longest_s']:.1f} s")


def print_report(report: dict[str, Any], video: str) -> None:
    """The report as a terminal reads it: a table of reps, the summary, the coach's words."""
    summary, reps = report["summary"], report["reps"]
    missed = f", {summary['not_counted']} not counted" if summary["not_counted"] else ""
    if report.get("kind") == "hold":
        print_holds(report, video, missed)
    else:
        print(f"{report['display_name']}: {summary['reps']} reps{missed} in {video} ({report['lifter']} 3D)")
    if reps:
        print(f"{'rep':>3}  {'start':>7}  {'end':>7}  {'score':>5}  {'ROM':>5}  {'time':>5}  faults")
        for r in reps:
            faults = "; ".join(f["message"] for f in r["faults"]) or "-"
            print(
                f"{r['index']:>3}  {r['start_ms'] / 1000:>6.2f}s  {r['end_ms'] / 1000:>6.2f}s  {r['score']:>5.1f}  "
                f"{r['rom_pct']:>4.0f}%  {r['duration_s']:>4.1f}s  {faults}"
            )
        top = summary["most_frequent_fault"]
        fault = f", most frequent fault: {top} ({summary['most_frequent_fault_count']} reps)" if top else ""
        print(
            f"mean score {summary['mean_score']}, best {summary['best_score']}, worst {summary['worst_score']}, "
            f"trend {summary['trend']}{fault}"
        )
    for item in report["not_counted"]:
        print(f"not counted at {item['start_ms'] / 1000:.1f}s: {item['reason']}")
    for warning in report["warnings"]:
        print(f"note: {warning}")
    if report["tips"]:
        print("coach:")
        for tip in report["tips"]:
            unit = "hold" if report.get("kind") == "hold" else "rep"
            label = f"{unit} {tip['rep']}" if tip["rep"] is not None else "set"
            print(f"  [{label}] {tip['text']}")
