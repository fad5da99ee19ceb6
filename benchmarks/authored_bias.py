"""How far correct reps measured by our pose pipeline sit from an authored (keyframe) reference.

An authored reference is drawn on an ideal skeleton; a real person filmed through MediaPipe differs from
it by more than the drawn reps differ from each other (the estimator reads a straight arm at 150-168
deg, bodies differ, styles differ). This script measures that gap where we have both kinds: push-ups and
squats are authored here from textbook angles (not from our clips), and the shared correct clips are
scored against them. The per-part angle deviation of those correct reps gives
``scoring.authored.AUTHORED_FORM_TOLERANCE_DEG``; the new exercises' own clips are never used for it.

    .venv/bin/python -m benchmarks.authored_bias [--cache /tmp/acc3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.accuracy import Tracks
from scoring.authored import build_authored
from scoring.core import analyze_track
from scoring.reference import ExerciseSpec, load_reference, read_spec

AUTHORED = {
    "pushup": {
        "duration_s": 2.0,
        "source": "push-up: body straight, arms vertical at the top; elbows about 90 deg, chest near the floor at "
        "the bottom (ACE exercise library)",
        "keyframes": [
            {"at": 0.0, "angles": {"trunk_pitch": 78, "shoulder_flex": 78, "elbow_flex": 20, "hip_flex": -2}},
            {"at": 0.5, "angles": {"trunk_pitch": 88, "shoulder_flex": 35, "elbow_flex": 95}},
        ],
    },
    "squat": {
        "duration_s": 2.4,
        "source": "bodyweight squat to parallel: knees about 80-90 deg, hips about 75-80 deg, torso about 35-40 deg "
        "from vertical at the bottom (NSCA Essentials, 4th ed.)",
        "keyframes": [
            {"at": 0.0, "angles": {"knee_flex": 12, "hip_flex": 5}},
            {"at": 0.5, "angles": {"trunk_pitch": 38, "hip_flex": 100, "knee_flex": 95}},
        ],
    },
}

CLIPS = {
    "pushup": ["pushup_side_nasm", "pushup_front_phone", "fit__incline-pushup", "fit__wall-pushup"],
    "squat": ["squat_side", "fit__bodyweight-squat", "2DPoseToAR__Squat", "tfjs-models__pose_squats"],
}


def authored_spec(name: str, references: Path) -> ExerciseSpec:
    """The shipped exercise with the keyframes above instead of its video."""
    data = read_spec(references / name).as_dict()
    data["authored"] = AUTHORED[name]
    return ExerciseSpec.from_dict(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/acc3"))
    parser.add_argument("--media", type=Path, default=Path("../shared/media"))
    args = parser.parse_args()
    tracks = Tracks(args.cache)
    deviations: list[float] = []
    roms: list[float] = []
    for name, clips in CLIPS.items():
        shipped = load_reference(Path("references"), name)
        reference = build_authored(authored_spec(name, Path("references")))
        for clip in clips:
            video = next(p for p in (args.media / f"{clip}.mp4", args.media / "dev" / f"{clip}.mp4") if p.is_file())
            analysis = analyze_track(reference, tracks(video, clip, shipped))
            parts = [r.part_deviation_deg for r in analysis.reps]
            deviations += [v for p in parts for v in p.values()]
            roms += [r.rom_pct for r in analysis.reps]
            print(
                f"{name:7} {clip:26} reps {len(analysis.reps)} scores {[round(r.score) for r in analysis.reps]} "
                f"dev {[{k: round(v) for k, v in p.items()} for p in parts]}"
            )
    r = np.array(roms)
    print(
        f"range of motion of correct reps, % of the authored: n {r.size}, p10 {np.percentile(r, 10):.0f}, "
        f"median {np.median(r):.0f}, min {r.min():.0f}"
    )
    d = np.array(deviations)
    print(
        f"part deviations of correct reps: n {d.size}, median {np.median(d):.1f}, p75 {np.percentile(d, 75):.1f}, "
        f"p90 {np.percentile(d, 90):.1f}, max {d.max():.1f} deg"
    )


if __name__ == "__main__":
    main()
