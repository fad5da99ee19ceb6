"""The report of a recorded set (``scoring.coach.report``): the reference curve follows the scorer's DTW
alignment, the 3D poses for the 3D view, and the set summary's top fault."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lifting.track import PoseTrack
from scoring.coach.report import build_report, matched_template_frames
from scoring.coach.writer import create_tip_writer
from scoring.features import Feature, compute_features
from scoring.reference import Reference, load_reference
from scoring.score import set_statistics
from scoring.types import Fault, RepResult


def track_of(poses: np.ndarray, step_ms: float) -> PoseTrack:
    n = len(poses)
    detected = np.isfinite(poses).all(axis=(1, 2))
    return PoseTrack(
        np.full((n, 17, 2), 100.0, np.float32), np.ones((n, 17), np.float32), poses.astype(np.float32),
        np.arange(n) * step_ms, detected, "test", "mediapipe-world", (640, 480),
    )  # fmt: skip


def at(poses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Poses at fractional frame positions (linear between frames)."""
    lo = np.floor(positions).astype(int)
    hi = np.minimum(lo + 1, len(poses) - 1)
    w = (positions - lo)[:, None, None]
    return (1 - w) * poses[lo] + w * poses[hi]


def slow_down_fast_up(reference: Reference, down: float, up: float) -> np.ndarray:
    """The reference video's poses with each rep re-timed: the way down ``down`` times as long, the way
    up ``up`` times as long (between reps, unchanged)."""
    p = reference.poses_3d.astype(np.float64)
    positions: list[np.ndarray] = []
    last = 0
    for rep in reference.calibration.reps:
        positions.append(np.arange(last, rep.start, dtype=np.float64))
        positions.append(np.linspace(rep.start, rep.bottom, round((rep.bottom - rep.start) * down), endpoint=False))
        positions.append(np.linspace(rep.bottom, rep.end, round((rep.end - rep.bottom) * up) + 1))
        last = rep.end + 1
    positions.append(np.arange(last, len(p), dtype=np.float64))
    return at(p, np.concatenate(positions))


def test_the_reference_curve_follows_the_dtw_alignment_not_a_linear_stretch(pushup: Reference) -> None:
    """Reps done with a slow descent (2.2x) and a fast ascent (0.45x): the reference curve drawn beside
    each rep, matched frame by frame along the scorer's alignment, stays much closer to the user's curve
    than the template stretched evenly over the rep."""
    poses = slow_down_fast_up(pushup, 2.2, 0.45)
    step = float(np.median(np.diff(pushup.timestamps_ms)))
    report = build_report(pushup, track_of(poses, step), create_tip_writer("plain"))
    reps = report["reps"]
    assert len(reps) == len(pushup.calibration.reps)
    curves = report["curves"]
    template = compute_features(pushup.poses_3d)[pushup.template.start : pushup.template.end + 1]
    aligned_err, stretched_err = [], []
    for name in curves["angles"]:  # every scored angle
        user = np.array(curves["user"][name], dtype=np.float64)
        aligned = np.array(curves["reference"][name], dtype=np.float64)
        drawn = template[:, int(Feature[name.upper()])]
        for rep in reps:
            s, e = rep["start_frame"], rep["end_frame"]
            stretched = np.interp(np.linspace(0, 1, e - s + 1), np.linspace(0, 1, len(drawn)), drawn)
            assert np.isfinite(aligned[s : e + 1]).all()
            aligned_err.append(np.nanmean(np.abs(aligned[s : e + 1] - user[s : e + 1])))
            stretched_err.append(np.nanmean(np.abs(stretched - user[s : e + 1])))
    a, b = float(np.mean(aligned_err)), float(np.mean(stretched_err))
    assert a < 0.5 * b, f"aligned reference off by {a:.1f} deg, linear stretch by {b:.1f} deg"
    # outside the reps there is nothing to compare with
    first = reps[0]["start_frame"]
    assert all(v is None for v in curves["reference"][curves["angles"][0]][:first])


def test_the_report_carries_the_3d_poses_and_the_matched_reference_frame(pushup: Reference) -> None:
    poses = pushup.poses_3d.astype(np.float64).copy()
    poses[5:9] = np.nan  # nobody in four frames
    report = build_report(pushup, track_of(poses, 33.3), create_tip_writer("plain"))
    user = report["poses_3d"]
    assert len(user) == report["frames"] == len(poses)
    assert user[5:9] == [None] * 4 and report["keypoints"][5:9] == [None] * 4
    assert np.allclose(np.array(user[20]), poses[20], atol=0.0005)  # to the mm
    ref = report["reference_poses_3d"]
    assert len(ref) == pushup.template.end - pushup.template.start + 1
    matched = report["reference_frame"]
    assert len(matched) == len(poses)
    for rep in report["reps"]:
        inside = matched[rep["start_frame"] : rep["end_frame"] + 1]
        # from the template's start to its end (a frame matched with a run of them takes its middle)
        assert inside[0] <= 2 and len(ref) - 4 <= inside[-1] <= len(ref) - 1, inside
        assert (np.diff(inside) >= 0).all()  # never backwards
    counted = {f for rep in report["reps"] for f in range(rep["start_frame"], rep["end_frame"] + 1)}
    assert all(m is None for f, m in enumerate(matched) if f not in counted)
    json.dumps(report, allow_nan=False)  # JSON-ready: nulls, never NaN


def test_matched_frames_take_the_middle_of_a_run() -> None:
    # rep frame 0 with template 0; rep frame 1 with template 1, 2, 3; rep frame 2 and 3 with template 4
    path = np.array([[0, 0], [1, 1], [1, 2], [1, 3], [2, 4], [3, 4]])
    assert matched_template_frames(path, 4).tolist() == [0, 2, 4, 4]
    with pytest.raises(ValueError, match="cover rep frames 0 to 4"):
        matched_template_frames(path, 5)


def _rep(index: int, *faults: tuple[str, str]) -> RepResult:
    found = tuple(
        Fault(id=f, message=f, value=1.0, reference=0.0, severity=s, body_parts=())  # type: ignore[arg-type]
        for f, s in faults
    )
    return RepResult(
        index, 0.0, 1.0, 2.0, 0, 1, 2, 80.0, {}, {}, 100.0, 1.0, 1.0, 0.5, 0.5, 0.0, 100.0, faults=found
    )  # fmt: skip


def test_equally_frequent_faults_name_the_more_severe_one() -> None:
    # "a_form" and "z_safety" each in two reps: safety wins whatever the ids' order
    reps = [
        _rep(1, ("a_form", "form")),
        _rep(2, ("a_form", "form"), ("z_safety", "safety")),
        _rep(3, ("z_safety", "safety")),
    ]
    summary = set_statistics(reps)
    assert (summary.most_frequent_fault, summary.most_frequent_fault_severity) == ("z_safety", "safety")
    assert summary.most_frequent_fault_count == 2
    # more frequent still beats more severe
    reps.append(_rep(4, ("a_form", "form")))
    summary = set_statistics(reps)
    assert (summary.most_frequent_fault, summary.most_frequent_fault_severity) == ("a_form", "form")
    # same count and severity: the earlier id, whatever the order they were seen in
    summary = set_statistics([_rep(1, ("b_form", "form")), _rep(2, ("a_form", "form"))])
    assert summary.most_frequent_fault == "a_form"
    assert set_statistics([_rep(1)]).most_frequent_fault_severity is None


def test_a_hold_report_shows_the_reference_held_posture(references_dir: Path) -> None:
    """A plank held as the reference holds it: one reference pose (its held posture, a real frame of
    the reference) matched with every frame of the hold; the angle charts know their body parts."""
    plank = load_reference(references_dir, "plank")
    report = build_report(plank, track_of(plank.poses_3d, 33.3), create_tip_writer("plain"))
    [hold] = report["holds"]
    assert len(report["reference_poses_3d"]) == 1
    frames = range(plank.template.start, plank.template.end + 1)
    shown = np.array(report["reference_poses_3d"][0])
    assert min(np.abs(plank.poses_3d[f] - shown).max() for f in frames) < 0.0006  # one of its frames, to the mm
    matched = report["reference_frame"]
    assert all(matched[f] == 0 for f in range(hold["start_frame"], hold["end_frame"] + 1))
    assert all(m is None for f, m in enumerate(matched) if not hold["start_frame"] <= f <= hold["end_frame"])
    assert report["curves"]["body_parts"]["body_line"] == ["core"]
