"""Scoring on real clips and on the reference's own poses with faults injected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lifting.joints import H36M
from lifting.lifter import WorldLandmarkLifter
from lifting.pose2d import MediaPipeBackend
from lifting.types import Pose3D
from lifting.video import ReaderOptions, VideoReader
from scoring.core import ScoringCore, analyze_poses, analyze_track
from scoring.reference import Reference, ReferenceError, load_reference, validate_exercise_name
from scoring.types import RepScored
from server.cli import main

CLIPS = {"pushup_side_nasm.mp4": "pushup", "pushup_front_phone.mp4": "pushup", "squat_side.mp4": "squat"}


@pytest.fixture(scope="module")
def pushup(references_dir: Path) -> Reference:
    return load_reference(references_dir, "pushup")


@pytest.fixture(scope="module")
def squat(references_dir: Path) -> Reference:
    return load_reference(references_dir, "squat")


@pytest.mark.slow
@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_real_clips_give_the_labelled_reps(clip: str, labels: dict, pose_tracks, references_dir: Path) -> None:  # type: ignore[no-untyped-def]
    reference = load_reference(references_dir, CLIPS[clip])
    track = pose_tracks(clip)
    analysis = analyze_track(reference, track)
    label = labels[clip]
    assert len(analysis.reps) == label["reps"]
    assert analysis.summary.reps == label["reps"]
    if "rep_bottoms_frames" in label:  # bottoms checked frame by frame by eye
        bottoms = label["rep_bottoms_frames"]
    else:  # the squat: the lowest point of the hips in the picture, a 2D signal the 3D scoring never reads
        hips_y = track.keypoints_2d[:, H36M.PELVIS, 1]
        bottoms = [r.start_frame + int(np.nanargmax(hips_y[r.start_frame : r.end_frame + 1])) for r in analysis.reps]
    for rep, bottom in zip(analysis.reps, bottoms, strict=True):
        assert abs(rep.bottom_frame - bottom) <= 10, (rep.bottom_frame, bottom)
    for rep in analysis.reps:
        assert rep.start_frame < rep.bottom_frame < rep.end_frame
        assert rep.start_ms < rep.bottom_ms < rep.end_ms
        assert 0 <= rep.score <= 100


@pytest.mark.slow
def test_nothing_is_counted_for_the_wrong_exercise(pose_tracks, pushup: Reference, squat: Reference) -> None:  # type: ignore[no-untyped-def]
    assert analyze_track(pushup, pose_tracks("squat_side.mp4")).reps == []
    assert analyze_track(squat, pose_tracks("pushup_side_nasm.mp4")).reps == []
    assert analyze_track(squat, pose_tracks("pushup_front_phone.mp4")).reps == []


def reference_poses(reference: Reference, poses: np.ndarray | None = None) -> list[Pose3D]:
    joints = reference.poses_3d if poses is None else poses
    ts = reference.timestamps_ms
    return [
        Pose3D(joints[i], float(ts[i]), "mediapipe-world", bool(np.isfinite(joints[i]).all())) for i in range(len(ts))
    ]


@pytest.mark.parametrize("name", ["pushup", "squat"])
def test_the_reference_scored_against_itself_gets_95_on_every_rep(name: str, references_dir: Path) -> None:
    reference = load_reference(references_dir, name)
    analysis = analyze_poses(reference, reference_poses(reference))
    assert len(analysis.reps) == len(reference.calibration.reps) >= 2
    assert [r.bottom_frame for r in analysis.reps] == [s.bottom for s in reference.calibration.reps]
    for rep in analysis.reps:
        assert rep.score >= 95, rep
        assert rep.faults == ()


def forward_axis(p: np.ndarray) -> np.ndarray:
    up = p[:, H36M.THORAX] - p[:, H36M.PELVIS]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    left = p[:, H36M.L_HIP] - p[:, H36M.R_HIP]
    left -= np.sum(left * up, axis=-1, keepdims=True) * up
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    return np.cross(left, up)


def drop_hips(p: np.ndarray, degrees: float) -> np.ndarray:
    """Move the hips toward the floor (the chest's side) until the shoulder-hip-ankle line bends by ``degrees``."""
    out = p.copy()
    shoulders = (p[:, H36M.L_SHOULDER] + p[:, H36M.R_SHOULDER]) / 2
    hips = (p[:, H36M.L_HIP] + p[:, H36M.R_HIP]) / 2
    ankles = (p[:, H36M.L_ANKLE] + p[:, H36M.R_ANKLE]) / 2
    a = np.linalg.norm(shoulders - hips, axis=-1)
    b = np.linalg.norm(ankles - hips, axis=-1)
    # hips off the line by d bend it by atan(d/a) + atan(d/b) ~ d (a + b) / (a b)
    d = np.tan(np.radians(degrees)) * a * b / (a + b)
    shift = forward_axis(p) * d[:, None]
    for joint in (H36M.PELVIS, H36M.L_HIP, H36M.R_HIP):
        out[:, joint] += shift
    out[:, H36M.SPINE] += shift / 2
    return out - out[:, :1]


def half_depth(p: np.ndarray, reference: Reference) -> np.ndarray:
    """Each rep goes only half way: every frame is blended half way back to the rep's start pose."""
    out = p.copy()
    for span in reference.calibration.reps:
        start = p[span.start]
        out[span.start : span.end + 1] = start + 0.5 * (p[span.start : span.end + 1] - start)
    return out


def lag_left_arm(p: np.ndarray, frames: int) -> np.ndarray:
    """The left elbow and wrist follow the same motion ``frames`` later (relative to the left shoulder)."""
    out = p.copy()
    for joint in (H36M.L_ELBOW, H36M.L_WRIST):
        rel = p[:, joint] - p[:, H36M.L_SHOULDER]
        delayed = np.concatenate([np.repeat(rel[:1], frames, axis=0), rel[:-frames]])
        out[:, joint] = p[:, H36M.L_SHOULDER] + delayed
    return out


def scored(reference: Reference, poses: list[Pose3D]) -> tuple[list[float], list[set[str]], list[str]]:
    reps = analyze_poses(reference, poses).reps
    return (
        [r.score for r in reps],
        [{f.id for f in r.faults} for r in reps],
        [m.message for r in reps for m in r.faults],
    )


def test_injected_faults_lower_the_score_and_are_named(pushup: Reference) -> None:
    clean, _, _ = scored(pushup, reference_poses(pushup))
    p = pushup.poses_3d.astype(np.float64)

    sag, sag_faults, sag_messages = scored(pushup, reference_poses(pushup, drop_hips(p, 20)))
    assert len(sag) == len(clean)
    assert all("hips_sag" in f for f in sag_faults)
    assert max(sag) < min(clean)
    assert any("hips sag" in m and "deg below the shoulder-ankle line" in m for m in sag_messages)

    shallow, shallow_faults, shallow_messages = scored(pushup, reference_poses(pushup, half_depth(p, pushup)))
    assert len(shallow) == len(clean)
    assert all("shallow" in f for f in shallow_faults)
    assert max(shallow) < min(clean)
    assert any(m.startswith("depth ") and "% of reference" in m for m in shallow_messages)

    lagged, lag_faults, lag_messages = scored(pushup, reference_poses(pushup, lag_left_arm(p, 5)))
    assert len(lagged) == len(clean)
    assert all("arm_lag" in f for f in lag_faults)
    assert max(lagged) < min(clean)
    lags = [m for m in lag_messages if "lags" in m]
    assert len(lags) == len(lagged) and all(m.startswith("left arm lags the right") for m in lags)

    # Double speed: every other frame, shown at the original frame times.
    fast_poses = [Pose3D(p[i], float(pushup.timestamps_ms[i // 2]), "mediapipe-world") for i in range(0, len(p), 2)]
    fast, fast_faults, fast_messages = scored(pushup, fast_poses)
    assert len(fast) == len(clean)
    assert all("too_fast" in f for f in fast_faults)
    assert max(fast) < min(clean)
    assert any("rep took" in m for m in fast_messages)


@pytest.mark.slow
def test_live_frame_by_frame_equals_batch(media: Path, pose_tracks, pushup: Reference) -> None:  # type: ignore[no-untyped-def]
    clip = "pushup_front_phone.mp4"
    batch = analyze_track(pushup, pose_tracks(clip))
    core = ScoringCore(pushup)
    lift = WorldLandmarkLifter().stream()
    live = []
    with MediaPipeBackend() as backend, VideoReader(media / clip, ReaderOptions(max_side=640)) as reader:
        for frame in reader:
            pose2d = backend.detect(frame.image, frame.timestamp_ms, frame.source_size)
            for pose3d in lift.add(pose2d):
                live.extend(e.result for e in core.add(pose3d) if isinstance(e, RepScored))
    assert len(live) == len(batch.reps) == 2
    assert [r.as_dict() for r in live] == [r.as_dict() for r in batch.reps]


@pytest.mark.slow
def test_analyze_cli_json_report(media: Path, tmp_path: Path, capsys: pytest.CaptureFixture, tiny_lm: Path) -> None:
    report = tmp_path / "report.json"
    video = str(media / "pushup_front_phone.mp4")
    code = main(["analyze", video, "--exercise", "pushup", "--json", "-o", str(report), "--persona", "data_scientist",
                 "--tips-model", str(tiny_lm), "--tips-budget", "10"])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(report.read_text())
    assert len(printed["reps"]) == 2 and printed["summary"]["reps"] == 2
    for i, rep in enumerate(printed["reps"], start=1):
        assert rep["index"] == i
        assert {"start_ms", "end_ms", "score", "faults"} <= set(rep)
        assert all({"id", "message", "value"} <= set(f) for f in rep["faults"])
    # The persona's tips, written by the (tiny, nonsense) language model: one per rep and the summary.
    tips = printed["tips"]
    assert printed["persona"] == "data_scientist" and [t["rep"] for t in tips] == [1, 2, None]
    assert all(t["persona"] == "data_scientist" and t["source"] == "model" for t in tips), tips


def test_exercise_names_are_validated(references_dir: Path, capsys: pytest.CaptureFixture) -> None:
    for bad in ("../etc", "Pushup", "a/b", "", ".hidden", "x" * 41):
        with pytest.raises(ReferenceError, match="invalid exercise name"):
            validate_exercise_name(bad)
    with pytest.raises(ReferenceError, match="unknown exercise 'lunge'; known: \\['pushup', 'squat'\\]"):
        load_reference(references_dir, "lunge")
    assert main(["analyze", "whatever.mp4", "--exercise", "../../etc/passwd"]) == 2
    assert "invalid exercise name" in capsys.readouterr().err


@pytest.mark.slow
def test_a_coach_adds_an_exercise_from_a_video(media: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["reference", "build", "--exercise", "air_squat", "--video", str(media / "squat_side.mp4"),
            "--references-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 2
    assert "--driver" in capsys.readouterr().err  # a new exercise needs to say what drives a rep
    assert main([*args, "--driver", "knee_mean", "--parts", "left_leg,right_leg", "--reps", "1-2"]) == 0
    reference = load_reference(tmp_path, "air_squat")
    assert len(reference.calibration.reps) == 2
    assert reference.spec.display_name == "Air Squat"
    assert reference.calibration.top > reference.calibration.bottom + 60
    assert main([*args, "--reps", "3-4"]) == 2
    assert "outside the 2 reps" in capsys.readouterr().err
