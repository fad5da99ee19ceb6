"""Scoring on real clips and on the reference's own poses with faults injected."""

from __future__ import annotations

import dataclasses
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
from scoring.features import Feature, compute_features
from scoring.reference import Reference, ReferenceError, list_exercises, load_reference, validate_exercise_name
from scoring.reps import RepSegmenter, SegmenterOptions
from scoring.types import RepScored
from server.cli import main
from tests.support.inject import drop_hips, in_ascent, lag_left_arm, lean_forward, shallow_to

CLIPS = {"pushup_side_nasm.mp4": "pushup", "pushup_front_phone.mp4": "pushup", "squat_side.mp4": "squat"}


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


def spans(reference: Reference) -> list[tuple[int, int, int]]:
    return [(s.start, s.bottom, s.end) for s in reference.calibration.reps]


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

    # 25 deg of sag over the whole rep: past the 20 deg bound wherever the reference's own line sits.
    sag, sag_faults, sag_messages = scored(pushup, reference_poses(pushup, drop_hips(p, 25)))
    assert len(sag) == len(clean)
    assert all("hips_sag" in f for f in sag_faults)
    assert max(sag) < min(clean)
    assert all("hips sag" in m and "deg below the shoulder-ankle line" in m for m in sag_messages if "sag" in m)
    # The hips raised instead: a pike, never a sag.
    _, pike_faults, _ = scored(pushup, reference_poses(pushup, drop_hips(p, -25)))
    assert all("hips_pike" in f and "hips_sag" not in f for f in pike_faults) and len(pike_faults) == len(clean)

    shallow, shallow_faults, shallow_messages = scored(
        pushup, reference_poses(pushup, shallow_to(p, spans(pushup), 0.5))
    )
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

    # Three times the speed (0.6-0.7 s reps): uncontrolled, whatever the reference's pace.
    fast, fast_faults, fast_messages = scored(pushup, retimed(pushup, 3))
    assert len(fast) == len(clean)
    assert all("too_fast" in f for f in fast_faults)
    assert max(fast) < min(clean)
    assert all(m.startswith("rep took 0.") and "under 0.8 s" in m for m in fast_messages if "rep took" in m)
    # Twice the speed (about 1 s a rep) is a brisk, normal pace, not a fault.
    _, brisk_faults, _ = scored(pushup, retimed(pushup, 2))
    assert len(brisk_faults) == len(clean) and not any("too_fast" in f for f in brisk_faults)


def retimed(reference: Reference, speed: int) -> list[Pose3D]:
    """The reference's poses played ``speed`` times faster (every ``speed``-th frame at the original frame times)."""
    p, ts = reference.poses_3d, reference.timestamps_ms
    return [Pose3D(p[i], float(ts[i // speed]), "mediapipe-world") for i in range(0, len(p), speed)]


def test_a_sag_only_on_the_way_up_is_found_there(pushup: Reference) -> None:
    """The hips drop only while pushing up: the bottom looks like the reference's, the fault is named
    where it happens."""
    p = pushup.poses_3d.astype(np.float64)
    up = in_ascent(spans(pushup), len(p))
    sagged = np.where(up[:, None, None], drop_hips(p, 25), p)
    reps = analyze_poses(pushup, reference_poses(pushup, sagged)).reps
    assert len(reps) == len(pushup.calibration.reps)
    for rep in reps:
        [sag] = [f for f in rep.faults if f.id == "hips_sag"]
        assert sag.phase == "ascent" and sag.message.endswith("below the shoulder-ankle line on the way up"), sag
        assert sag.value > 20
        # when it was measured: after the turning point, inside the rep (a chart marks it there)
        start, end = float(sag.details["phase_start_ms"]), float(sag.details["phase_end_ms"])
        assert rep.bottom_ms < start < end <= rep.end_ms, (rep.bottom_ms, start, end, rep.end_ms)


def test_a_one_frame_spike_is_not_a_fault(pushup: Reference) -> None:
    p = pushup.poses_3d.astype(np.float64)
    spikes = np.zeros(len(p), dtype=bool)
    for span in pushup.calibration.reps:
        spikes[span.bottom] = spikes[span.bottom + 1] = True  # two frames (0.07 s) of a wild hip estimate
    noisy = np.where(spikes[:, None, None], drop_hips(p, 45), p)
    assert all(not r.faults for r in analyze_poses(pushup, reference_poses(pushup, noisy)).reps)
    held = np.zeros(len(p), dtype=bool)
    for span in pushup.calibration.reps:
        held[span.bottom - 4 : span.bottom + 5] = True  # nine frames (0.3 s): a real sag
    sagging = np.where(held[:, None, None], drop_hips(p, 45), p)
    assert all(
        "hips_sag" in {f.id for f in r.faults} for r in analyze_poses(pushup, reference_poses(pushup, sagging)).reps
    )


def test_a_rule_whose_joints_were_not_seen_is_skipped_not_judged(pushup: Reference) -> None:
    """Ankles out of the picture (a close-up): the body line is guessed, so no verdict on it either way."""
    p = drop_hips(pushup.poses_3d.astype(np.float64), 25)
    scores = np.ones(17, dtype=np.float32)
    scores[[H36M.L_ANKLE, H36M.R_ANKLE]] = 0.1
    ts = pushup.timestamps_ms
    poses = [Pose3D(p[i], float(ts[i]), "mediapipe-world", scores=scores) for i in range(len(ts))]
    reps = analyze_poses(pushup, poses).reps
    assert len(reps) == len(pushup.calibration.reps)
    for rep in reps:
        assert not {"hips_sag", "hips_pike"} & {f.id for f in rep.faults}
        assert rep.checks_skipped == {
            "hips_sag": "ankles not seen for 0.15 s in any part of the rep",
            "hips_pike": "ankles not seen for 0.15 s in any part of the rep",
            "elbow_flare": "not judged from the side",
        }


def test_forward_lean_needs_both_the_absolute_bound_and_more_than_the_reference(squat: Reference) -> None:
    p = squat.poses_3d.astype(np.float64)
    clean = analyze_poses(squat, reference_poses(squat)).reps
    incline = compute_features(p)[:, Feature.TORSO_INCLINE]
    # The rotation's sense depends on which way the person faces: take the one that tips the torso forward.
    sign = 1 if np.nanmean(compute_features(lean_forward(p, 10))[:, Feature.TORSO_INCLINE] - incline) > 0 else -1
    leaned = analyze_poses(squat, reference_poses(squat, lean_forward(p, sign * 25))).reps
    assert len(leaned) == len(clean)
    for rep in leaned:
        [lean] = [f for f in rep.faults if f.id == "forward_lean"]
        assert lean.value > 55 and lean.details["delta"] > 15 and lean.phase in ("descent", "bottom", "ascent")
    # 12 deg more than the reference stays under both bounds: a squat style, not a fault.
    mild = analyze_poses(squat, reference_poses(squat, lean_forward(p, sign * 12))).reps
    assert len(mild) == len(clean) and not any("forward_lean" in {f.id for f in r.faults} for r in mild)


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
    known = ", ".join(list_exercises(references_dir))
    with pytest.raises(ReferenceError, match=rf"unknown exercise 'cartwheel' \(known: {known}\)$"):
        load_reference(references_dir, "cartwheel")
    assert main(["analyze", "whatever.mp4", "--exercise", "../../etc/passwd"]) == 2  # never a path
    err = capsys.readouterr().err
    assert "unknown exercise '../../etc/passwd' (known: " in err and "pushup" in err and "squat" in err


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


def _segment(driver: list[float], posture: list[float]) -> list[tuple[str, str]]:
    options = SegmenterOptions(
        top=170.0, bottom=90.0, posture_value=20.0, posture_tolerance=40.0, min_duration_ms=400.0,
        max_duration_ms=10_000.0, posture_rep_tolerance=65.0, smoothing=1.0,
    )  # fmt: skip
    segmenter = RepSegmenter(options)
    events = []
    for i, (d, p) in enumerate(zip(driver, posture, strict=True)):
        events += [(e.kind, e.state) for e in segmenter.add(i, i * 100.0, d, p) if e.kind != "posture"]
    return events


def test_a_rep_may_lean_more_than_at_the_start_but_must_end_in_the_start_posture() -> None:
    knees = [170.0] * 3 + [150.0, 120.0, 95.0, 90.0, 95.0, 120.0, 150.0] + [170.0] * 3
    leaning = (
        [20.0] * 3 + [35.0, 55.0, 75.0, 80.0, 75.0, 55.0, 35.0] + [20.0] * 3
    )  # 60 deg past the start at the bottom
    assert _segment(knees, leaning) == [("start", ""), ("end", "")]
    getting_down = [20.0] * 3 + [35.0, 55.0, 75.0, 80.0, 80.0, 82.0, 84.0] + [84.0] * 3  # knees straighten on the floor
    assert _segment(knees, getting_down) == [("start", ""), ("discard", "it did not end in the start posture")]
    lying = [20.0] * 3 + [35.0, 55.0, 75.0, 90.0, 75.0, 55.0, 35.0] + [20.0] * 3  # past the in-rep gate: not a squat
    assert _segment(knees, lying)[-1] == ("discard", "left the exercise posture")


def test_a_rep_closes_once_the_person_stops_straightening_at_the_top() -> None:
    """The rep ends where it comes back into the top band (frame 10, mirroring its start), but closes only
    once no straighter frame came for ``top_hold_ms`` (0.2 s): its top frame is the straightest (frame
    12, 178 deg), where the lockout is judged."""
    options = SegmenterOptions(
        top=170.0, bottom=90.0, posture_value=20.0, posture_tolerance=40.0, min_duration_ms=400.0,
        max_duration_ms=10_000.0, smoothing=1.0,
    )  # fmt: skip
    knees = [170.0] * 3 + [150.0, 120.0, 95.0, 90.0, 95.0, 120.0, 150.0, 165.0, 172.0, 178.0, 177.0, 178.0, 176.0]
    segmenter = RepSegmenter(options)
    ends = []
    for i, knee in enumerate(knees):
        ends += [(i, e) for e in segmenter.add(i, i * 100.0, knee, 20.0) if e.kind == "end"]
    [(closed_at, end)] = ends
    assert (end.frame, end.top_frame, closed_at) == (10, 12, 14)


def test_two_reps_without_a_lockout_between_them_are_not_merged() -> None:
    """Down, three quarters of the way up, down again: the first is told ("never came back up", with how
    far down it stayed), the second starts where the movement turned and counts once back at the top; a
    set cut off on the way back up says so."""
    knees = [170.0] * 3 + [150.0, 120.0, 95.0, 90.0, 100.0, 130.0, 145.0, 130.0, 100.0, 90.0, 120.0, 150.0]
    knees += [170.0] * 4
    events = _segment(knees, [20.0] * len(knees))
    assert events == [
        ("start", ""),
        ("discard", "it never came back up to the start position (stayed 31% of the way down): straighten fully "
                    "between reps"),
        ("start", ""),
        ("end", ""),
    ]  # fmt: skip
    cut = [*knees[:6], 90.0, 110.0, 130.0]  # the clip ends on the way up
    segmenter = RepSegmenter(
        SegmenterOptions(top=170.0, bottom=90.0, posture_value=20.0, posture_tolerance=40.0, min_duration_ms=400.0,
                         max_duration_ms=10_000.0, smoothing=1.0)
    )  # fmt: skip
    for i, knee in enumerate(cut):
        segmenter.add(i, i * 100.0, knee, 20.0)
    [flushed] = segmenter.flush()
    assert flushed.kind == "discard"
    assert flushed.state == "the set ended before it came back up to the start position (still 50% of the way down)"


def test_lockout_is_judged_against_the_persons_own_top(pushup: Reference) -> None:
    """Short of the person's own lockout by more than 15 deg: told; a body whose straight arms read lower
    than the reference's is not a fault (only its own top counts), nor is a finish straight by any
    standard (165 deg), nor a rep whose top or whose person's lockout was not seen."""
    from scoring.score import RepScorer

    [rule] = [r for r in pushup.spec.faults if r.id == "lockout"]
    scorer = RepScorer(pushup)
    value, fields, fires = scorer._lockout(rule, (140.0, 160.0))
    assert fires and value == 20.0 and fields["phase"] == "top"
    assert rule.message.format(**fields) == (
        "arms not straight at the top: elbows at 140 deg, 20 deg short of your own lockout: push all the way up"
    )
    assert not scorer._lockout(rule, (140.0, 150.0))[2]  # 10 deg short of a lower own top
    assert not scorer._lockout(rule, (166.0, 185.0))[2]  # straight, though the person went straighter before
    assert scorer._lockout(rule, None) == (pytest.approx(float("nan"), nan_ok=True), {}, False)
    assert not scorer._lockout(rule, (140.0, float("nan")))[1]
    with pytest.raises(ReferenceError, match="threshold > 0"):
        dataclasses.replace(rule, threshold=0.0)


def test_a_rep_like_cycle_in_a_steady_wrong_posture_is_explained_not_counted() -> None:
    """Upright elbow-bends with push-up chosen (a wall push-up): not counted, and said why with the posture
    measured; the knees bending while getting down to the floor (the posture swinging) is no such cycle."""
    knees = [170.0] * 3 + [150.0, 120.0, 95.0, 90.0, 95.0, 120.0, 150.0] + [170.0] * 3
    lying = [85.0] * len(knees)  # the gate expects 20 +- 40 deg
    assert _segment(knees, lying) == [
        ("discard", "out of position: your body was at 85 deg from upright, the exercise is done at 0-60 deg")
    ]
    swinging = [85.0] * 3 + [75.0, 65.0, 62.0, 70.0, 80.0, 88.0, 90.0] + [90.0] * 3  # 28 deg of swing: moving
    assert _segment(knees, swinging) == []
    half = [170.0] * 3 + [155.0, 148.0, 145.0, 148.0, 155.0] + [170.0] * 3  # 31 % of the range: no rep-like cycle
    assert _segment(half, [85.0] * len(half)) == []


def test_every_movement_is_accounted_for(pushup: Reference) -> None:
    """Reps about a third as deep do not count, and each says why, with its depth, instead of a silent 0."""
    p = pushup.poses_3d.astype(np.float64)
    analysis = analyze_poses(pushup, reference_poses(pushup, shallow_to(p, spans(pushup), 0.25)))
    assert analysis.reps == [] and analysis.summary.reps == 0
    assert len(analysis.not_counted) == len(pushup.calibration.reps) == analysis.summary.not_counted
    for item, span in zip(analysis.not_counted, pushup.calibration.reps, strict=True):
        assert item.reason.startswith("too shallow: depth ") and item.reason.endswith("of the reference's, go lower")
        assert item.depth_pct is not None and 20 <= item.depth_pct <= 40
        assert item.start_ms <= pushup.timestamps_ms[span.bottom] <= item.end_ms  # type: ignore[operator]
    assert analysis.mismatch is None  # shallow push-ups are still push-ups


def test_the_wrong_exercise_is_named(pushup: Reference, squat: Reference) -> None:
    as_pushup = analyze_poses(pushup, reference_poses(squat), alternatives=[squat])
    assert as_pushup.reps == [] and as_pushup.mismatch is not None
    assert as_pushup.mismatch.message == "this looks like a squat, not a push-up: pick Squat to count it"
    assert as_pushup.summary.looks_like == "squat"
    as_squat = analyze_poses(squat, reference_poses(pushup), alternatives=[pushup])
    assert as_squat.mismatch is not None and as_squat.mismatch.looks_like == "pushup"
    # The right exercise with the others watching: counted, no mix-up claimed.
    right = analyze_poses(pushup, reference_poses(pushup), alternatives=[squat])
    assert len(right.reps) == len(pushup.calibration.reps) and right.mismatch is None


def test_the_report_lists_what_did_not_count_and_why(pushup: Reference, squat: Reference) -> None:
    from lifting.track import PoseTrack
    from scoring.coach.report import build_report
    from scoring.coach.writer import create_tip_writer

    def track(poses: np.ndarray, ts: np.ndarray) -> PoseTrack:
        n = len(ts)
        return PoseTrack(
            np.full((n, 17, 2), 100.0, np.float32), np.ones((n, 17), np.float32), poses.astype(np.float32),
            ts, np.isfinite(poses).all(axis=(1, 2)), "test", "mediapipe-world", (640, 480),
        )  # fmt: skip

    shallow = shallow_to(pushup.poses_3d.astype(np.float64), spans(pushup), 0.25)
    report = build_report(pushup, track(shallow, pushup.timestamps_ms), create_tip_writer("plain"), detail=False)
    assert len(report["not_counted"]) == report["summary"]["not_counted"] == len(pushup.calibration.reps)
    assert all(d["reason"].startswith("too shallow") for d in report["not_counted"]) and report["warnings"] == []
    squats = track(squat.poses_3d, squat.timestamps_ms)
    report = build_report(pushup, squats, create_tip_writer("plain"), detail=False, alternatives=[squat])
    assert report["warnings"] == ["this looks like a squat, not a push-up: pick Squat to count it"]
    assert report["summary"]["looks_like"] == "squat" and report["reps"] == []


def test_a_view_from_above_is_warned_about_and_rules_skip_views_they_cannot_judge(pushup: Reference) -> None:
    p = pushup.poses_3d.astype(np.float64)
    above = np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)  # the camera overhead, looking down on the back
    analysis = analyze_poses(pushup, reference_poses(pushup, above))
    assert analysis.warnings == [
        "the camera saw you from above: Push-up is coached from the side, at an angle or from the front"
    ]
    for rep in analysis.reps:  # counted, but no verdict claimed from up there
        assert rep.view == "overhead" and rep.faults == ()
        assert set(rep.checks_skipped.values()) == {"not judged from above"}
    # Sagging push-ups with the camera moved a quarter turn toward the head (a phone on the floor ahead):
    # the reference was filmed a little obliquely, so some reps come out front-on, some still oblique.
    # From the front the body line is not judged; at an angle it is, and the sag is named.
    t = np.radians(90)
    rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    analysis = analyze_poses(pushup, reference_poses(pushup, drop_hips(p, 25) @ rot.T))
    assert analysis.warnings == [] and len(analysis.reps) == len(pushup.calibration.reps)
    by_view = {view: [r for r in analysis.reps if r.view == view] for view in ("front", "oblique")}
    assert by_view["front"] and by_view["oblique"] and len(by_view["front"]) + len(by_view["oblique"]) == 4
    for rep in by_view["front"]:
        assert "hips_sag" not in {f.id for f in rep.faults}
        assert rep.checks_skipped["hips_sag"] == "not judged from the front"
    for rep in by_view["oblique"]:
        assert "hips_sag" in {f.id for f in rep.faults} and "hips_sag" not in rep.checks_skipped


def test_a_second_depth_signal_keeps_a_deep_rep_from_being_called_shallow(pushup: Reference) -> None:
    """A turned camera shrinks the elbow angle's range (MediaPipe measured a deep push-up at 45 deg
    bottoming at 106 deg instead of 81): the shoulders still came down to the hands."""
    from scoring.dtw import dtw
    from scoring.score import RepScorer, hold_fill

    scorer = RepScorer(pushup)
    span = pushup.template
    ts = pushup.timestamps_ms[span.start : span.end + 1]
    frames, turn = np.arange(len(ts)), span.bottom - span.start

    def scored_rep(shrink: tuple[Feature, ...]) -> tuple[float, set[str]]:
        rep = hold_fill(pushup.template_features())
        for column in shrink:  # 60 % of the way from the start posture, frame by frame
            rep[:, column] = rep[0, column] + 0.6 * (rep[:, column] - rep[0, column])
        result = scorer.score(1, rep, ts, frames, turn, dtw(rep[:, scorer.columns], scorer.template))
        return result.rom_pct, {f.id for f in result.faults}

    elbows = (Feature.ELBOW_L, Feature.ELBOW_R, Feature.ELBOW_MEAN)
    rom, faults = scored_rep(elbows)
    assert rom >= 95 and "shallow" not in faults  # the shoulders' height says it was deep
    rom, faults = scored_rep((*elbows, Feature.SHOULDER_HEIGHT))
    assert 55 <= rom <= 65 and "shallow" in faults  # both signals say 60 %: shallow it is


def test_full_depth_by_the_standard_is_not_shallow_whatever_the_reference(pushup: Reference) -> None:
    """The reference's elbows bend to 81 deg; a rep from a slightly bent top (140) down to 95 covers 62 %
    of that range yet reaches the 90 deg standard (within the rule's 100 deg limit): no fault. Down to
    112 only: shallow."""
    from scoring.dtw import dtw
    from scoring.score import RepScorer, hold_fill

    scorer = RepScorer(pushup)
    span = pushup.template
    ts = pushup.timestamps_ms[span.start : span.end + 1]
    frames, turn = np.arange(len(ts)), span.bottom - span.start
    [rule] = [r for r in pushup.spec.faults if r.id == "shallow"]
    assert rule.limit == 100.0

    def scored_rep(top: float, bottom: float) -> tuple[float, set[str]]:
        rep = hold_fill(pushup.template_features())
        for column in (Feature.ELBOW_L, Feature.ELBOW_R, Feature.ELBOW_MEAN):
            x = rep[:, column]
            rep[:, column] = top + (x - x.max()) / np.ptp(x) * (top - bottom)
        height = rep[:, Feature.SHOULDER_HEIGHT]  # the shoulders' height shrunk alike, so it cannot rescue
        rep[:, Feature.SHOULDER_HEIGHT] = height[0] + 0.5 * (height - height[0])
        result = scorer.score(1, rep, ts, frames, turn, dtw(rep[:, scorer.columns], scorer.template))
        return result.rom_pct, {f.id for f in result.faults}

    rom, faults = scored_rep(140.0, 95.0)
    assert rom < 70 and "shallow" not in faults
    rom, faults = scored_rep(140.0, 112.0)
    assert rom < 60 and "shallow" in faults


@pytest.mark.slow
def test_from_the_side_depth_is_also_read_in_the_picture(media: Path, pushup: Reference) -> None:
    """A close, cropped side view of another person's incline push-ups (media/dev): MediaPipe's 3D puts
    the near elbow 20 deg straighter than the picture shows, and the hidden far arm straighter still,
    so on the 3D alone the first rep reads shallow. With the picture's angle too, no rep is; and the
    same clip made genuinely shallow, in 3D and in the picture alike, still is."""
    import dataclasses

    from lifting.pipeline import PosePipeline

    with MediaPipeBackend() as backend:
        track, _ = PosePipeline(backend, WorldLandmarkLifter()).run(media / "dev" / "fit__incline-pushup.mp4")
    assert pushup.calibration.image_top is not None and pushup.calibration.image_bottom is not None
    analysis = analyze_track(pushup, track)
    assert len(analysis.reps) == 3 and all(r.view == "side" for r in analysis.reps)
    assert all("shallow" not in {f.id for f in r.faults} for r in analysis.reps)
    no_picture = [dataclasses.replace(pose, keypoints_2d=None) for pose in _poses(track)]
    assert any("shallow" in {f.id for f in r.faults} for r in analyze_poses(pushup, no_picture).reps)
    reps = [(r.start_frame, r.bottom_frame, r.end_frame) for r in analysis.reps]
    shallow = dataclasses.replace(
        track,
        poses_3d=shallow_to(track.poses_3d.astype(np.float64), reps, 0.5).astype(np.float32),
        keypoints_2d=shallow_to(track.keypoints_2d.astype(np.float64), reps, 0.5).astype(np.float32),
    )
    made = analyze_track(pushup, shallow)  # half of this person's travel: elbows near 120 deg in the picture
    assert all("shallow" in {f.id for f in r.faults} for r in made.reps)
    dropped = sum(d.reason.startswith("too shallow") for d in made.not_counted)
    assert len(made.reps) + dropped >= 2


def _poses(track) -> list[Pose3D]:  # type: ignore[no-untyped-def]
    return [
        Pose3D(
            track.poses_3d[i], float(track.timestamps_ms[i]), track.lifter, bool(track.detected[i]), track.scores[i],
            keypoints_2d=track.keypoints_2d[i] if track.detected[i] else None,
        )
        for i in range(track.frames)
    ]  # fmt: skip


def test_left_right_rules_are_not_judged_on_a_hidden_arm(pushup: Reference) -> None:
    """From the side the far arm is guessed: comparing it with the near one (lag, symmetry) would judge
    the guess. Skipped, with the reason; with both arms seen, the lagging arm is named."""
    p = lag_left_arm(pushup.poses_3d.astype(np.float64), 5)
    ts = pushup.timestamps_ms
    hidden = np.ones(17, dtype=np.float32)
    hidden[[H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST]] = 0.2
    for scores, judged in ((hidden, False), (np.ones(17, dtype=np.float32), True)):
        poses = [Pose3D(p[i], float(ts[i]), "mediapipe-world", scores=scores) for i in range(len(ts))]
        reps = analyze_poses(pushup, poses).reps
        assert len(reps) == len(pushup.calibration.reps)
        for rep in reps:
            assert ("arm_lag" in {f.id for f in rep.faults}) is judged
            if not judged:
                assert rep.checks_skipped["arm_lag"] == "the right elbow not seen in most of the rep"
                assert rep.checks_skipped["uneven_arms"] == "the right elbow not seen in most of the rep"


def test_knees_caving_in_are_judged_from_the_front_only(squat: Reference) -> None:
    from tests.support.inject import knees_in

    p = squat.poses_3d.astype(np.float64)
    # Square the reference up, then walk a quarter turn around it: a front (or back) view.
    left = p[:, H36M.L_HIP] - p[:, H36M.R_HIP]
    yaw = np.radians(90 - np.degrees(np.nanmedian(np.arctan2(left[:, 0], left[:, 2]))))
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    front = p @ rot.T
    clean = analyze_poses(squat, reference_poses(squat, front)).reps
    assert len(clean) == 2 and all(r.view in ("front", "back") for r in clean)
    assert not any("knee_valgus" in {f.id for f in r.faults} for r in clean)
    caved = analyze_poses(squat, reference_poses(squat, knees_in(front, 20))).reps
    assert len(caved) == 2
    for rep in caved:
        [valgus] = [f for f in rep.faults if f.id == "knee_valgus"]
        assert valgus.value > 16 and valgus.severity == "safety" and "knees cave in" in valgus.message
    # From the side the inward shift runs along the camera's depth: not judged, and said so.
    side = analyze_poses(squat, reference_poses(squat, knees_in(p, 20))).reps
    assert all(r.checks_skipped.get("knee_valgus") == "not judged from the side" for r in side)


def test_a_rule_on_the_feet_needs_a_pipeline_that_tracks_them(pushup: Reference) -> None:
    """A coach's rule on the heels: judged when the 2D backend gives the feet, skipped with the reason
    when it does not (COCO-17 has no feet)."""
    import dataclasses

    from lifting.joints import Extra
    from scoring.reference import FaultRule

    rule = FaultRule(
        id="heels_up", kind="offset", message="heels {value:.0f} deg up {where}", feature="heel_lift",
        phases=("descent", "bottom", "ascent"), limit=30.0, relative=False,
    )  # fmt: skip
    with pytest.raises(ReferenceError, match="absolute limit"):
        dataclasses.replace(rule, relative=True)
    reference = dataclasses.replace(pushup, spec=dataclasses.replace(pushup.spec, faults=(rule,)))
    p, ts = pushup.poses_3d, pushup.timestamps_ms

    def poses(heel_up_deg: float | None) -> list[Pose3D]:
        out = []
        for i in range(len(ts)):
            feet = None
            if heel_up_deg is not None:  # feet 60 px long in the picture, the heels up by the angle
                feet = np.zeros((6, 2))
                t = np.radians(heel_up_deg)
                for heel, toe, x in ((Extra.L_HEEL, Extra.L_TOE, 300.0), (Extra.R_HEEL, Extra.R_TOE, 320.0)):
                    feet[toe] = (x, 500.0)
                    feet[heel] = feet[toe] + (-60 * np.cos(t), -60 * np.sin(t))  # behind the toe, y down
            out.append(Pose3D(p[i], float(ts[i]), "mediapipe-world", bool(np.isfinite(p[i]).all()), extras_2d=feet,
                              extra_scores=np.ones(6) if feet is not None else None))  # fmt: skip
        return out

    flat = analyze_poses(reference, poses(5.0)).reps
    assert len(flat) == len(pushup.calibration.reps) and all(r.faults == () and not r.checks_skipped for r in flat)
    raised = analyze_poses(reference, poses(40.0)).reps
    assert all([f.id for f in r.faults] == ["heels_up"] and 39 < r.faults[0].value < 41 for r in raised) and raised
    unknown = analyze_poses(reference, poses(None)).reps
    assert unknown and all(
        r.checks_skipped == {"heels_up": "this pose pipeline does not track the feet"} for r in unknown
    )


def test_foot_angles_are_read_in_the_picture_per_foot() -> None:
    """Each foot's angle, heel above toe, whichever way the person faces; unseen or end-on feet give none."""
    from lifting.joints import Extra
    from scoring.features import compute_extra_features

    feet = np.full((4, 6, 2), np.nan)
    feet[:, Extra.L_TOE] = feet[:, Extra.R_TOE] = (400.0, 600.0)
    feet[0, Extra.L_HEEL], feet[0, Extra.R_HEEL] = (340.0, 600.0), (460.0, 600.0)  # flat, facing either way
    feet[1, Extra.L_HEEL], feet[1, Extra.R_HEEL] = (350.0, 550.0), (450.0, 650.0)  # 45 deg up; 45 deg down
    feet[2, Extra.L_HEEL], feet[2, Extra.R_HEEL] = (400.0, 599.0), (340.0, 600.0)  # end-on (1 px): no angle
    feet[3, Extra.L_HEEL], feet[3, Extra.R_HEEL] = (340.0, 560.0), (340.0, 560.0)
    scores = np.ones((4, 6))
    scores[3, Extra.R_TOE] = 0.2  # the right toe guessed in the last frame
    angles = compute_extra_features(feet, scores)[:, :2]  # the feet's own angles (HEEL_LIFT's columns)
    np.testing.assert_allclose(angles[:2], [[0.0, 0.0], [45.0, -45.0]], atol=1e-9)
    assert np.isnan(angles[2, 0]) and angles[2, 1] == 0.0
    assert angles[3, 0] == pytest.approx(np.degrees(np.arctan2(40, 60))) and np.isnan(angles[3, 1])
    with pytest.raises(ValueError, match="extras_2d must have shape"):
        compute_extra_features(np.zeros((4, 6, 3)))


def test_knees_past_toes_and_stance_width_are_read_in_the_picture() -> None:
    """A knee straight above its toe tip is 0 deg, ahead of it (the way the foot points) positive, behind
    it negative, whichever way the person faces; heels 0.4 m apart under hips 0.9 m up (500 px a metre)
    make the textbook 25 deg stance. Without the skeleton, or with a knee guessed, nothing is claimed."""
    from lifting.joints import Extra
    from scoring.features import EXTRA_COLUMNS, ExtraFeature, compute_extra_features

    feet = np.full((3, 6, 2), np.nan)
    skeleton = np.full((3, 17, 2), np.nan)
    for i, facing in enumerate((1.0, -1.0, 1.0)):  # right, left (mirrored), right
        feet[i, Extra.L_HEEL], feet[i, Extra.L_TOE] = (300.0, 600.0), (300.0 + 120 * facing, 600.0)
        feet[i, Extra.R_HEEL], feet[i, Extra.R_TOE] = (500.0, 600.0), (500.0 + 120 * facing, 600.0)
        skeleton[i, H36M.L_HIP], skeleton[i, H36M.R_HIP] = (380.0, 150.0), (420.0, 150.0)
    skeleton[:, H36M.L_KNEE] = [(420.0, 400.0), (180.0, 400.0), (420.0, 400.0)]  # straight above the toe
    skeleton[:, H36M.R_KNEE] = [(620.0 + 200 * np.tan(np.radians(20)), 400.0), (380.0 - 50.0, 400.0), (500.0, 400.0)]
    joint_scores = np.ones((3, 17))
    joint_scores[2, H36M.L_KNEE] = 0.1  # the left knee guessed in the last frame
    x = compute_extra_features(feet, None, skeleton, joint_scores)
    left, right = EXTRA_COLUMNS[ExtraFeature.KNEE_OVER_TOES]
    np.testing.assert_allclose(x[:2, left], 0.0, atol=1e-9)
    assert x[0, right] == pytest.approx(20.0) and x[1, right] == pytest.approx(np.degrees(np.arctan2(50, 200)))
    assert np.isnan(x[2, left]) and x[2, right] == pytest.approx(-np.degrees(np.arctan2(120, 200)))
    [stance] = EXTRA_COLUMNS[ExtraFeature.STANCE_WIDTH]
    heels_apart = 2 * np.degrees(np.arctan2(100, 450))  # 200 px apart, 450 px below the hips' midpoint
    np.testing.assert_allclose(x[:, stance], heels_apart)
    assert heels_apart == pytest.approx(25.06, abs=0.01)
    assert np.isnan(compute_extra_features(feet)[:, left:]).all()  # no skeleton: only the feet's own angles


@pytest.mark.slow
def test_knees_travel_past_the_toes_in_a_squat_and_a_wide_stance_reads_wide(pose_tracks, squat: Reference) -> None:  # type: ignore[no-untyped-def]
    """On real clips: from the side the knees start behind the toe tips and travel at least 10 deg
    forward by the bottom of each squat; from the front the wide-stance squat (labelled so) stands
    wider than shoulder width (25 deg) at the start of every rep. Both are measures a coach's rule
    can judge (``"feature": "knee_over_toes"`` / ``"stance_width"``); neither is a shipped rule."""
    from scoring.features import EXTRA_COLUMNS, ExtraFeature, compute_extra_features

    knees = list(EXTRA_COLUMNS[ExtraFeature.KNEE_OVER_TOES])
    [stance] = EXTRA_COLUMNS[ExtraFeature.STANCE_WIDTH]
    side = pose_tracks("squat_side.mp4")
    x = compute_extra_features(side.extras_2d, side.extra_scores, side.keypoints_2d, side.scores)
    reps = analyze_track(squat, side).reps
    assert len(reps) == 2
    for rep in reps:
        start, bottom = np.nanmax(x[rep.start_frame, knees]), np.nanmax(x[rep.bottom_frame, knees])
        assert start < 0 < bottom and bottom - start > 10, (start, bottom)
    front = pose_tracks("dev/fit__bodyweight-squat.mp4")
    x = compute_extra_features(front.extras_2d, front.extra_scores, front.keypoints_2d, front.scores)
    starts = [x[rep.start_frame, stance] for rep in analyze_track(squat, front).reps]
    assert len(starts) >= 3 and all(width > 25 for width in starts), starts


@pytest.mark.slow
def test_heels_off_the_floor_are_named_from_the_side_only(pose_tracks, squat: Reference) -> None:  # type: ignore[no-untyped-def]
    """The squat's heel rule, read in the picture as each foot's change from the rep's own start: the
    side-view clip's own feet stay silent, the same reps with the heels raised 25 deg at the deepest
    bend are named on every rep in a phase of the movement, a lift of one foot alone is not called
    (the far foot, half hidden behind the near leg, drifts by itself), and from the front, where the
    foot points at the camera, the rule is skipped with the reason."""
    import dataclasses

    from lifting.joints import Extra
    from tests.support.inject import lift_heels

    assert "heel_lift" in {rule.id for rule in squat.spec.faults}
    track = pose_tracks("squat_side.mp4")
    assert track.extras_2d is not None
    clean = analyze_track(squat, track)
    assert len(clean.reps) == 2
    assert all(r.faults == () and "heel_lift" not in r.checks_skipped and r.view == "side" for r in clean.reps)
    spans = [(r.start_frame, r.bottom_frame, r.end_frame) for r in clean.reps]
    p = track.poses_3d.astype(np.float64)
    lifted = lift_heels(p, track.extras_2d.astype(np.float64), 25, spans)
    reps = analyze_track(squat, dataclasses.replace(track, extras_2d=lifted.astype(np.float32))).reps
    assert len(reps) == 2
    for rep in reps:
        [heels] = rep.faults
        assert heels.id == "heel_lift" and heels.value > 15 and heels.phase in ("descent", "bottom", "ascent")
        assert "heels come off the floor" in heels.message
    one_foot = track.extras_2d.copy()
    one_foot[:, Extra.L_HEEL] = lifted[:, Extra.L_HEEL]
    alone = analyze_track(squat, dataclasses.replace(track, extras_2d=one_foot)).reps
    assert len(alone) == 2 and all(r.faults == () for r in alone)
    # the same lift seen from the front: the foot points at the camera, so nothing is claimed
    front = pose_tracks("dev/fit__bodyweight-squat.mp4")
    front_spans = [(r.start_frame, r.bottom_frame, r.end_frame) for r in analyze_track(squat, front).reps]
    raised = lift_heels(front.poses_3d.astype(np.float64), front.extras_2d.astype(np.float64), 25, front_spans)
    seen_front = analyze_track(squat, dataclasses.replace(front, extras_2d=raised.astype(np.float32))).reps
    assert len(seen_front) >= 3
    assert all(r.checks_skipped.get("heel_lift") == "not judged from the front" for r in seen_front)
    assert not any(f.id == "heel_lift" for r in seen_front for f in r.faults)


def test_elbows_flaring_out_are_judged_from_the_front_with_both_arms_seen(pushup: Reference) -> None:
    from tests.support.inject import flare_elbows

    p = pushup.poses_3d.astype(np.float64)
    # a quarter turn toward the head: the camera ahead of the person (a phone on the floor)
    t = np.radians(90)
    rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    clean = analyze_poses(pushup, reference_poses(pushup, p @ rot.T)).reps
    front = [r for r in clean if r.view == "front"]
    assert front and not any("elbow_flare" in {f.id for f in r.faults} for r in clean)
    flared = analyze_poses(pushup, reference_poses(pushup, flare_elbows(p, 60) @ rot.T)).reps
    assert len(flared) == len(clean)
    for rep in flared:
        if rep.view in ("front", "oblique"):
            [flare] = [f for f in rep.faults if f.id == "elbow_flare"]
            assert flare.value > 65 and flare.phase in ("descent", "bottom", "ascent")
    # From the side the elbows move out along the camera's depth: not judged, and said so.
    side = analyze_poses(pushup, reference_poses(pushup, flare_elbows(p, 60))).reps
    assert side and all(r.checks_skipped.get("elbow_flare") == "not judged from the side" for r in side)
    # One arm hidden (seen from an angle): the guess about it decides nothing.
    scores = np.ones(17, dtype=np.float32)
    scores[[H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST]] = 0.1
    ts = pushup.timestamps_ms
    turned = flare_elbows(p, 60) @ rot.T
    hidden = [Pose3D(turned[i], float(ts[i]), "mediapipe-world", scores=scores) for i in range(len(ts))]
    for rep in analyze_poses(pushup, hidden).reps:
        assert "elbow_flare" not in {f.id for f in rep.faults}
        if rep.view in ("front", "oblique"):
            assert rep.checks_skipped["elbow_flare"].startswith("right shoulder and right elbow not seen")


def _inject_every_rule() -> dict[tuple[str, str], object]:
    """For each shipped rule, how to make the reference's own reps show it (pose array -> pose array,
    or a timing change), and the camera turn it must be seen from (None: as filmed, from the side)."""
    from tests.support.inject import flare_elbows, knees_in, lag_joints, one_side_shallow, short_of_top

    left_arm, left_leg = (H36M.L_ELBOW, H36M.L_WRIST), (H36M.L_KNEE, H36M.L_ANKLE)

    def elbows(p: np.ndarray) -> np.ndarray:
        return compute_features(p)[:, Feature.ELBOW_MEAN]

    def knees(p: np.ndarray) -> np.ndarray:
        return compute_features(p)[:, Feature.KNEE_MEAN]

    return {
        ("pushup", "hips_sag"): lambda p, s: drop_hips(p, 25),
        ("pushup", "hips_pike"): lambda p, s: drop_hips(p, -25),
        ("pushup", "shallow"): lambda p, s: shallow_to(p, s, 0.5),
        ("pushup", "too_fast"): 3.0,
        ("pushup", "too_slow"): 1 / 4.8,
        ("pushup", "uneven_arms"): lambda p, s: one_side_shallow(p, s, left_arm, H36M.L_SHOULDER, 0.1),
        ("pushup", "arm_lag"): lambda p, s: lag_left_arm(p, 5),
        ("pushup", "elbow_flare"): (lambda p, s: flare_elbows(p, 60), 90),
        ("pushup", "lockout"): lambda p, s: short_of_top(p, s, 20, elbows),
        ("squat", "lockout"): lambda p, s: short_of_top(p, s, 20, knees),
        ("squat", "shallow"): lambda p, s: shallow_to(p, s, 0.5),
        ("squat", "forward_lean"): lambda p, s: lean_forward(p, 25 if _leans_forward(p) else -25),
        ("squat", "knee_valgus"): (lambda p, s: knees_in(p, 20), "front"),
        ("squat", "heel_lift"): "heels",
        ("squat", "too_fast"): 4.0,
        ("squat", "too_slow"): 1 / 3.5,
        ("squat", "uneven_knees"): lambda p, s: one_side_shallow(p, s, left_leg, H36M.L_HIP, 0.1),
        ("squat", "knee_lag"): lambda p, s: lag_joints(p, left_leg, H36M.L_HIP, 6),
    }  # fmt: skip


def _picture_feet(p: np.ndarray) -> np.ndarray:
    """``(T, 6, 2)`` flat feet in a side view's picture (500 px a metre, y down): each heel a little
    behind and below its ankle, its toe 24 cm ahead, toward where the person faces."""
    from lifting.joints import Extra
    from tests.support.inject import forward_axis

    px = 500.0
    ahead = 1.0 if np.nanmedian(forward_axis(p)[:, 0]) >= 0 else -1.0
    feet = np.full((len(p), 6, 2), np.nan)
    for heel, toe, ankle in ((Extra.L_HEEL, Extra.L_TOE, H36M.L_ANKLE), (Extra.R_HEEL, Extra.R_TOE, H36M.R_ANKLE)):
        feet[:, heel] = p[:, ankle, :2] * px + (640.0 - 0.05 * px * ahead, 360.0 + 0.06 * px)
        feet[:, toe] = feet[:, heel] + (0.24 * px * ahead, 0.0)
    return feet


def _leans_forward(p: np.ndarray) -> bool:
    incline = compute_features(p)[:, Feature.TORSO_INCLINE]
    return bool(np.nanmean(compute_features(lean_forward(p, 10))[:, Feature.TORSO_INCLINE] - incline) > 0)


def _turned(p: np.ndarray, how: object) -> np.ndarray:
    if how == "front":  # square the person up to the camera
        left = p[:, H36M.L_HIP] - p[:, H36M.R_HIP]
        yaw = np.radians(90 - np.degrees(np.nanmedian(np.arctan2(left[:, 0], left[:, 2]))))
    else:
        yaw = np.radians(float(how))  # type: ignore[arg-type]
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    return p @ rot.T


@pytest.mark.parametrize(
    ("exercise", "rule"), [(r.split("/")[0], r.split("/")[1]) for r in (
        "pushup/hips_sag", "pushup/hips_pike", "pushup/shallow", "pushup/too_fast", "pushup/too_slow",
        "pushup/uneven_arms", "pushup/arm_lag", "pushup/elbow_flare", "pushup/lockout", "squat/shallow",
        "squat/lockout", "squat/forward_lean",
        "squat/knee_valgus", "squat/heel_lift", "squat/too_fast", "squat/too_slow", "squat/uneven_knees",
        "squat/knee_lag",
    )],
)  # fmt: skip
def test_every_shipped_rule_fires_on_its_injection(exercise: str, rule: str, references_dir: Path) -> None:
    """Each rule of each shipped exercise is named on every rep of the reference with its fault injected,
    and on no rep of the same view without it. The list above must name every shipped rule."""
    reference = load_reference(references_dir, exercise)
    shipped = {(name, r.id) for name in ("pushup", "squat") for r in load_reference(references_dir, name).spec.faults}
    assert shipped == set(_inject_every_rule()), "a shipped rule without an injection test (or one too many)"
    how = _inject_every_rule()[(exercise, rule)]
    turn = None
    if isinstance(how, tuple):
        how, turn = how
    p, ts = reference.poses_3d.astype(np.float64), reference.timestamps_ms
    clean_feet = faulty_feet = None
    if how == "heels":  # the feet, in the picture: flat, then raised 25 deg at the deepest bend
        from tests.support.inject import lift_heels

        clean_feet = _picture_feet(p)
        faulty_feet = lift_heels(p, clean_feet, 25, spans(reference))
        clean_poses, faulty_poses, clean_ts, faulty_ts = p, p, ts, ts
    elif isinstance(how, float):  # a tempo: the same poses played faster or slower
        keep = np.arange(0, len(p), how) if how > 1 else np.arange(len(p))
        times = ts[: len(keep)] if how > 1 else ts[0] + (ts - ts[0]) / how
        clean_poses, faulty_poses = p, p[np.round(keep).astype(int)] if how > 1 else p
        clean_ts, faulty_ts = ts, times
    else:
        clean_poses, faulty_poses = p, how(p, spans(reference))  # type: ignore[operator]
        clean_ts = faulty_ts = ts
    if turn is not None:
        clean_poses, faulty_poses = _turned(clean_poses, turn), _turned(faulty_poses, turn)

    def run(poses: np.ndarray, times: np.ndarray, feet: np.ndarray | None):  # type: ignore[no-untyped-def]
        return analyze_poses(reference, [
            Pose3D(poses[i], float(times[i]), "mediapipe-world", bool(np.isfinite(poses[i]).all()),
                   extras_2d=None if feet is None else feet[i], extra_scores=None if feet is None else np.ones(6))
            for i in range(len(times))
        ])  # fmt: skip

    clean, slowed = run(clean_poses, clean_ts, clean_feet).reps, run(faulty_poses, faulty_ts, faulty_feet)
    faulty = slowed.reps
    # a rep slowed past the longest movement that counts (10 s) is reported as not counted, too slow
    # ... and one that comes back up well short of the top, then goes down again, is not counted either,
    # but told why (the lockout rule judges the reps that still came back into the top band)
    dropped = [d for d in slowed.not_counted if rule == "too_slow" and d.reason.startswith("too slow")]
    dropped += [d for d in slowed.not_counted if rule == "lockout" and d.reason.startswith("it never came back up")]
    assert len(clean) == len(faulty) + len(dropped) == len(reference.calibration.reps), (len(clean), len(faulty))
    assert not any(rule in {f.id for f in r.faults} for r in clean)
    judged = [r for r in faulty if rule not in r.checks_skipped]
    assert judged and all(rule in {f.id for f in r.faults} for r in judged), [
        ([f.id for f in r.faults], r.checks_skipped.get(rule)) for r in faulty
    ]


OTHER_PEOPLE = {  # clips of other people, form labelled correct (media/dev/labels.json), and their counts
    "dev/fit__incline-pushup.mp4": ("pushup", (3, 4)),
    "dev/fit__bodyweight-squat.mp4": ("squat", (3, 4)),
    "dev/tfjs-models__pose_squats.mp4": ("squat", (2,)),
    "dev/2DPoseToAR__Squat.mp4": ("squat", (2,)),
}


@pytest.mark.slow
@pytest.mark.parametrize("clip", sorted(OTHER_PEOPLE))
def test_correct_reps_of_other_people_get_no_fault(clip: str, pose_tracks, references_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Other bodies, other views (side close-up, front, two oblique): counted, and no verdict against
    correct form. Every rule's bound must clear these, not just the reference's own reps."""
    exercise, counts = OTHER_PEOPLE[clip]
    analysis = analyze_track(load_reference(references_dir, exercise), pose_tracks(clip))
    assert len(analysis.reps) in counts
    assert [(r.index, [f.message for f in r.faults]) for r in analysis.reps if r.faults] == []
    assert analysis.warnings == []


def test_half_reps_that_never_come_back_up_are_explained() -> None:
    """Squats that bounce at the bottom without standing up: each is reported, with how far down it
    stayed; holding still at the bottom reports nothing."""
    start = [170.0] * 3 + [150.0, 120.0, 95.0]
    bounces = [90.0, 100.0, 115.0, 125.0, 115.0, 100.0] * 3 + [90.0]  # 90 <-> 125, never back to 170
    knees = [100.0] * 3 + bounces  # already down at the start: never at the top
    events = _segment(knees, [20.0] * len(knees))
    assert events and all(kind == "discard" for kind, _ in events)
    assert events[0][1].startswith("it never came back up to the start position (stayed ")
    assert events[0][1].endswith("of the way down): straighten fully between reps")
    assert len(events) >= 2
    assert _segment([100.0] * 20, [20.0] * 20) == []  # resting at the bottom
    shaking = [100.0, 104.0] * 10
    assert _segment(shaking, [20.0] * len(shaking)) == []
    # A normal set is untouched: full reps from the top count.
    full = start + [90.0, 95.0, 120.0, 150.0] + [170.0] * 3
    assert _segment(full, [20.0] * len(full)) == [("start", ""), ("end", "")]


def test_exercise_names_are_case_insensitive_and_near_misses_get_a_suggestion(references_dir: Path) -> None:
    from scoring.reference import resolve_exercise_name

    for typed in ("squat", "Squat", " SQUAT ", "squat"):
        assert resolve_exercise_name(references_dir, typed) == "squat"
    for typed in ("Push-up", "push up", "PUSHUP"):  # the display name "Push-up", punctuation aside
        assert resolve_exercise_name(references_dir, typed) == "pushup"
    with pytest.raises(ReferenceError, match=r"unknown exercise 'sqaut'; did you mean 'squat'\?"):
        resolve_exercise_name(references_dir, "sqaut")
    with pytest.raises(ReferenceError, match=r"unknown exercise 'cartwheel' \(known: bicep_curl, deadlift"):
        resolve_exercise_name(references_dir, "cartwheel")
    for typed in ("Bicep Curl", "bicep-curl", "JUMPING JACK", "Glute bridge"):  # the new ones, by display name
        assert resolve_exercise_name(references_dir, typed) == typed.lower().replace(" ", "_").replace("-", "_")
    assert load_reference(references_dir, "Squat").spec.name == "squat"


@pytest.mark.slow
def test_a_reference_is_never_built_from_a_movement_that_is_not_a_rep(pose_tracks) -> None:  # type: ignore[no-untyped-def]
    """The phone clip starts with the person walking in (the elbows move about 20 deg). Asked for that
    movement (--reps 1), the build refuses and lists what it found; by default it takes the real reps
    only, and the reference then counts the clip's own reps at about 100% of its range (a reference
    built from the walk-in counted 4 "reps" at up to 268%)."""
    from scoring.build import build_reference, find_reps
    from scoring.reference import ExerciseSpec

    track = pose_tracks("pushup_front_phone.mp4")
    spec = ExerciseSpec(
        name="phone_pushup", display_name="Phone push-up", camera="", body_parts=("left_arm", "right_arm"),
        driver="elbow_mean", driver_direction="decrease", views=("side", "oblique", "front"),
    )  # fmt: skip
    _, movements = find_reps(spec, track)
    assert [m.like_others for m in movements][:1] == [False] and sum(m.like_others for m in movements) == 2
    with pytest.raises(ReferenceError, match=r"rep 1 moved elbow_mean only \d+ deg.*not a rep of Phone push-up"):
        build_reference(spec, track, "1")
    reference = build_reference(spec, track)
    assert len(reference.calibration.reps) == 2
    counted = analyze_track(reference, track).reps
    assert len(counted) == 2 and all(80 <= r.rom_pct <= 125 for r in counted), [r.rom_pct for r in counted]
