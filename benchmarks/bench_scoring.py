"""Scoring speed: online DTW per rep and the whole scoring core per frame, after warm-up.

    .venv/bin/python -m benchmarks.bench_scoring [--exercise pushup] [--repeat 20] [--append]

Feeds the reference video's own 3D poses through ``ScoringCore.add`` (features, segmentation,
one online-DTW row per frame during a rep, scoring at the rep's end), frame by frame as live mode
does. "DTW per rep" is every DTW call a rep costs: its rows as the frames arrive plus the closing
backtrack, measured by timing the same calls outside the core on each rep of the reference.

Targets (issue 3): DTW per rep <= 1 ms; scoring <= 0.2 ms per frame.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._env import commit, machine, report
from lifting.types import Pose3D
from scoring.core import ScoringCore
from scoring.dtw import OnlineDTW, warm_up
from scoring.reference import load_reference
from scoring.score import RepScorer

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exercise", default="pushup")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--append", action="store_true", help="add a row to benchmarks/RESULTS.md")
    args = parser.parse_args()

    reference = load_reference(ROOT / "references", args.exercise)
    poses = [
        Pose3D(reference.poses_3d[i], float(reference.timestamps_ms[i]), "mediapipe-world")
        for i in range(len(reference.timestamps_ms))
    ]
    warm_up()
    ScoringCore(reference).add(poses[0])  # compiles the feature kernel

    per_frame = []
    for _ in range(args.repeat):
        core = ScoringCore(reference)
        t0 = time.perf_counter()
        for pose in poses:
            core.add(pose)
        core.finish()
        per_frame.append((time.perf_counter() - t0) / len(poses))
    reps = len(core.results)

    scorer = RepScorer(reference)
    dtw = OnlineDTW(scorer.template, capacity=512)
    per_rep = []
    rep_frames = []
    for span in reference.calibration.reps:
        rows = np.ascontiguousarray(reference.features[span.start : span.end + 1][:, scorer.columns])
        rep_frames.append(rows.shape[0])
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            dtw.reset()
            for row in rows:
                dtw.add(row)
            dtw.finish()
            per_rep.append(time.perf_counter() - t0)

    result = {
        "exercise": args.exercise,
        "frames": len(poses),
        "reps_counted": reps,
        "template_frames": int(scorer.template.shape[0]),
        "rep_frames": rep_frames,
        "scoring_ms_per_frame_median": round(1000 * statistics.median(per_frame), 4),
        "scoring_ms_per_frame_max": round(1000 * max(per_frame), 4),
        "dtw_ms_per_rep_median": round(1000 * statistics.median(per_rep), 4),
        "dtw_ms_per_rep_max": round(1000 * max(per_rep), 4),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
    }
    row = (
        f"scoring core, {args.exercise} reference video ({len(poses)} frames, {reps} reps, template "
        f"{result['template_frames']} frames) | **{result['scoring_ms_per_frame_median']} ms/frame** (max of runs "
        f"{result['scoring_ms_per_frame_max']}); **DTW {result['dtw_ms_per_rep_median']} ms/rep** "
        f"(max {result['dtw_ms_per_rep_max']})"
    )
    report(result, row if args.append else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
