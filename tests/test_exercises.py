"""Every shipped exercise with an authored reference, end to end through the scoring core.

Good reps are drawn by a different route than the template: another body (shorter limbs), another
tempo, the camera turned, twice the template's joint jitter and another random draw; they must count
exactly, show no fault and score at least 90. Each declared fault must fire on every rep of its
injection. The authored references' real clips of other people are measured by the accuracy benchmark
(``benchmarks/accuracy.py``), where the labels' own doubts are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lifting.joints import H36M
from lifting.track import PoseTrack
from scoring.authored import ALL_DOFS, compile_track, keyframe_table, pose
from scoring.core import Analysis, analyze_track
from scoring.features import Feature, compute_features
from scoring.reference import (
    AuthoredSpec,
    Keyframe,
    Reference,
    ReferenceError,
    list_exercises,
    load_reference,
    read_spec,
)
from scoring.reference import segment as segment_reps
from tests.support.inject import knees_in, lag_joints, short_of_top

OTHER_BODY = {"thigh": 0.39, "shin": 0.38, "upper_arm": 0.26, "forearm": 0.23, "spine": 0.22, "shoulder_half": 0.15}
"""A smaller person than the standard skeleton (about 1.60 m)."""

REPS = 4


def authored_reps(references_dir: Path) -> list[str]:
    """The shipped rep exercises whose reference is authored."""
    specs = {name: read_spec(references_dir / name) for name in list_exercises(references_dir)}
    return [name for name, spec in specs.items() if spec.authored is not None and spec.kind == "reps"]


FRONT = 90.0
"""The turn that puts the drawn person (side-on, facing the picture's right) facing the camera."""

Injection = dict[str, Any]
"""``compile_track`` arguments (``tempo`` "fast"/"slow": beyond the rule's own bound), plus ``poses`` (an
edit of the drawn poses, ``POSE_EDITS``) and ``turn_deg`` (default: a view the rule is judged from)."""

INJECTIONS: dict[tuple[str, str], Injection] = {
    ("lunge", "shallow"): {"depth": 0.45},
    ("lunge", "lockout"): {"poses": "short_of_top"},
    ("lunge", "forward_lean"): {"in_rep": {"trunk_pitch": 40}},
    ("lunge", "knee_valgus"): {"poses": "knees_in"},
    ("lunge", "too_fast"): {"tempo": "fast"},
    ("lunge", "too_slow"): {"tempo": "slow"},
    ("bicep_curl", "partial_curl"): {"depth": 0.45},
    ("bicep_curl", "elbow_swing_l"): {"in_rep": {"shoulder_flex_l": 60}},
    ("bicep_curl", "elbow_swing_r"): {"in_rep": {"shoulder_flex_r": 60}},
    ("bicep_curl", "body_swing"): {"in_rep": {"trunk_pitch": -30}},
    ("bicep_curl", "too_fast"): {"tempo": "fast"},
    ("bicep_curl", "too_slow"): {"tempo": "slow"},
    ("shoulder_press", "partial_press"): {"depth": 0.5},
    ("shoulder_press", "back_arch"): {"in_rep": {"trunk_pitch": -30}},
    ("shoulder_press", "arm_lag"): {"poses": "lag_left_arm"},
    ("shoulder_press", "too_fast"): {"tempo": "fast"},
    ("shoulder_press", "too_slow"): {"tempo": "slow"},
    ("lateral_raise", "partial_raise"): {"depth": 0.55},
    ("lateral_raise", "too_high"): {"in_rep": {"shoulder_abd": 45}},
    ("lateral_raise", "bent_elbows"): {"in_rep": {"elbow_flex": 70}},
    ("lateral_raise", "too_fast"): {"tempo": "fast"},
    ("lateral_raise", "too_slow"): {"tempo": "slow"},
    ("jumping_jack", "arms_low"): {"depth": 0.45},
    ("jumping_jack", "feet_narrow"): {"in_rep": {"hip_abd": -11}},
    ("jumping_jack", "too_slow"): {"tempo": "slow"},
    ("glute_bridge", "hips_low"): {"depth": 0.5},
    ("glute_bridge", "feet_far"): {"offsets": {"knee_flex": -45}},
    ("glute_bridge", "too_fast"): {"tempo": "fast"},
    ("glute_bridge", "too_slow"): {"tempo": "slow"},
    ("deadlift", "no_lockout"): {"depth": 0.6},
    ("deadlift", "squatting"): {"offsets": {"knee_flex": 55}},
    ("deadlift", "knee_valgus"): {"poses": "knees_in"},
    ("deadlift", "too_fast"): {"tempo": "fast"},
    ("deadlift", "too_slow"): {"tempo": "slow"},
}
"""How each declared fault of each authored exercise is drawn into good reps."""


def run(reference: Reference, track: PoseTrack) -> Analysis:
    return analyze_track(reference, track)


def spans_of(reference: Reference, track: PoseTrack) -> list[tuple[int, int, int]]:
    features = compute_features(track.poses_3d)
    spans = segment_reps(features, track.timestamps_ms, reference.spec, reference.segmenter_options())
    return [(s.start, s.bottom, s.end) for s in spans]


POSE_EDITS: dict[str, Callable[[Reference, PoseTrack], np.ndarray]] = {
    "knees_in": lambda ref, t: knees_in(t.poses_3d.astype(np.float64), 30),
    "lag_left_arm": lambda ref, t: lag_joints(
        t.poses_3d.astype(np.float64), (H36M.L_ELBOW, H36M.L_WRIST), H36M.L_SHOULDER, 9
    ),
    "short_of_top": lambda ref, t: short_of_top(
        t.poses_3d.astype(np.float64), spans_of(ref, t), 25, lambda p: compute_features(p)[:, Feature.KNEE_MEAN]
    ),
}  # fmt: skip


@pytest.mark.parametrize("exercise", sorted({n for n, _ in INJECTIONS}))
def test_good_reps_of_another_body_count_exactly_with_no_fault(exercise: str, references_dir: Path) -> None:
    reference = load_reference(references_dir, exercise)
    assert reference.calibration.kind == "authored"
    for turn, tempo, seed in ((25.0, 1.25, 11), (FRONT if "front" in reference.spec.views else -20.0, 0.85, 12)):
        track = compile_track(
            reference.spec, reps=REPS, seed=seed, tempo=tempo, segments=OTHER_BODY, turn_deg=turn, jitter_m=0.016
        )
        analysis = run(reference, track)
        assert len(analysis.reps) == REPS, (turn, tempo, [d.reason for d in analysis.not_counted])
        assert [f.message for r in analysis.reps for f in r.faults] == []
        assert min(r.score for r in analysis.reps) >= 90, [r.score for r in analysis.reps]


def test_every_authored_rule_has_an_injection(references_dir: Path) -> None:
    shipped = {(n, r.id) for n in authored_reps(references_dir) for r in load_reference(references_dir, n).spec.faults}
    assert shipped == set(INJECTIONS), "a shipped rule without an injection (or one too many)"


@pytest.mark.parametrize(("exercise", "rule"), sorted(INJECTIONS))
def test_each_declared_fault_fires_on_its_injection(exercise: str, rule: str, references_dir: Path) -> None:
    reference = load_reference(references_dir, exercise)
    how = dict(INJECTIONS[(exercise, rule)])
    edit = how.pop("poses", None)
    views = next(r.views for r in reference.spec.faults if r.id == rule)
    turn = how.pop("turn_deg", 0.0 if "side" in views else FRONT)  # seen from a view the rule is judged from
    clean = compile_track(reference.spec, reps=REPS, seed=21, turn_deg=turn, spread="tempo" not in how)
    clean_run = run(reference, clean)
    if how.get("tempo") in ("fast", "slow"):  # about the shortest rep that counts, or 1.18 x the longest allowed
        drawn_s = np.mean([r.duration_s for r in clean_run.reps])  # a drawn rep measures shorter than drawn
        tempo_rule = next(r for r in reference.spec.faults if r.id == rule)
        shortest = reference.segmenter_options().min_duration_ms / 1000  # a quicker movement is no rep at all
        target = 0.85 * shortest if how["tempo"] == "fast" else 1.18 * tempo_rule.max_s  # short reps measure longer
        how["tempo"] = target / drawn_s / (0.9 if how["tempo"] == "slow" else 1.0)  # slow reps measure ~10% short
    faulty = compile_track(reference.spec, reps=REPS, seed=21, turn_deg=turn, spread="tempo" not in how, **how)
    if edit is not None:
        faulty = replace(faulty, poses_3d=POSE_EDITS[edit](reference, faulty).astype(np.float32))
    faulty_run = run(reference, faulty)
    assert len(clean_run.reps) == REPS
    assert not [f.id for r in clean_run.reps for f in r.faults if f.id == rule]
    named = [any(f.id == rule for f in r.faults) for r in faulty_run.reps]
    if rule == "lockout":  # the first rep ends at the true top; the later ones come back short of it
        named = named[1:]
        dropped = [d for d in faulty_run.not_counted if d.reason.startswith("it never came back up")]
        assert named or dropped
    if rule == "too_fast":  # a rep quicker still is no rep at all, and is told so: the same cue
        quick = [d for d in faulty_run.not_counted if d.reason.startswith("too quick")]
        assert sum(named) + len(quick) == REPS, ([r.duration_s for r in faulty_run.reps], quick)
        return
    assert faulty_run.reps or rule == "lockout"
    assert all(named), [[f.id for f in r.faults] for r in faulty_run.reps]


def test_the_standard_skeleton_has_the_angles_it_is_posed_with() -> None:
    """Forward kinematics against the feature kernel: the angles written are the angles measured."""
    cases = [
        ({"knee_flex": 90, "hip_flex": 90}, {Feature.KNEE_MEAN: 90, Feature.HIP_MEAN: 90, Feature.TORSO_INCLINE: 0}),
        ({"elbow_flex_l": 120}, {Feature.ELBOW_L: 60, Feature.ELBOW_R: 180, Feature.ELBOW_MIN: 60}),
        ({"trunk_pitch": 90, "shoulder_flex": 90}, {Feature.TORSO_INCLINE: 90, Feature.SHOULDER_MEAN: 90}),
        ({"trunk_pitch": 85, "shoulder_flex": 95, "hip_flex": -15}, {Feature.BODY_LINE: 15}),
        ({"hip_abd": 15}, {Feature.LEG_SPREAD: 30}),
        ({"trunk_pitch": -90}, {Feature.TORSO_INCLINE: 90}),
    ]  # fmt: skip
    for angles, expected in cases:
        measured = compute_features(pose(angles)[None])[0]
        for feature, value in expected.items():
            assert measured[feature] == pytest.approx(value, abs=0.5), (angles, feature)
    p = pose({"knee_flex": 90})
    assert p[H36M.L_ANKLE, 0] < p[H36M.L_KNEE, 0]  # the shin bends backward (the person faces +x)
    p = pose({"elbow_flex": 90})
    assert p[H36M.L_WRIST, 0] > p[H36M.L_ELBOW, 0]  # a curl brings the forearm forward
    p = pose({"trunk_pitch": 90, "shoulder_flex": 90, "elbow_flex": 90})
    assert p[H36M.L_WRIST, 0] > p[H36M.L_ELBOW, 0] and p[H36M.THORAX, 0] > 0  # forearms toward the head


def test_bad_keyframes_are_refused_with_the_reason() -> None:
    def table(*frames: Keyframe, still: tuple[str, ...] = ()) -> Any:
        return keyframe_table(AuthoredSpec(keyframes=frames, still=still))

    with pytest.raises(ReferenceError, match="unknown degree of freedom 'knee'"):
        table(Keyframe(0, {"knee": 10}))
    with pytest.raises(ReferenceError, match="first keyframe must be at 0"):
        table(Keyframe(0.2, {"knee_flex": 10}))
    with pytest.raises(ReferenceError, match="must rise"):
        table(Keyframe(0, {"knee_flex": 10}), Keyframe(0.6, {}), Keyframe(0.4, {}))
    with pytest.raises(ReferenceError, match="listed as still"):
        table(Keyframe(0, {"knee_flex": 10}), Keyframe(0.5, {"knee_flex_l": 90}), still=("knee_flex",))
    times, rows = table(Keyframe(0, {"knee_flex": 10}), Keyframe(0.5, {"knee_flex_l": 90}))
    assert times.tolist() == [0, 0.5, 1.0]  # the end is the start again
    assert rows[1, ALL_DOFS.index("knee_flex_l")] == 90 and rows[1, ALL_DOFS.index("knee_flex_r")] == 10


def test_each_exercise_says_which_kind_of_reference_it_has(references_dir: Path) -> None:
    authored = ("lunge", "bicep_curl", "shoulder_press", "lateral_raise", "jumping_jack", "glute_bridge", "deadlift")
    kinds = {n: load_reference(references_dir, n).calibration.kind for n in ("pushup", "squat", *authored)}
    assert kinds == {"pushup": "video", "squat": "video", **dict.fromkeys(authored, "authored")}


def _segment_events(driver: list[float], counts_at_turn: bool) -> list[tuple[str, str]]:
    from scoring.reps import RepSegmenter, SegmenterOptions

    options = SegmenterOptions(
        top=100.0, bottom=170.0, posture_value=45.0, posture_tolerance=55.0, min_duration_ms=400.0,
        max_duration_ms=10_000.0, smoothing=1.0, counts_at_turn=counts_at_turn,
    )  # fmt: skip
    segmenter = RepSegmenter(options)
    events = []
    for i, d in enumerate(driver):
        events += [(e.kind, e.state) for e in segmenter.add(i, i * 100.0, d, 45.0) if e.kind != "posture"]
    events += [(e.kind, e.state) for e in segmenter.flush() if e.kind != "posture"]
    return events


def test_a_set_that_ends_at_the_turn_counts_the_rep_only_where_the_work_is_done_there() -> None:
    """A deadlift that ends at lockout is a deadlift; a push-up that ends at the bottom is not; a lift still
    on its way up when the set ends is not counted either way."""
    rep = [100.0] * 3 + [110.0, 130.0, 150.0, 165.0, 170.0, 170.0, 150.0, 120.0, 100.0, 100.0, 100.0]
    held_at_lockout = [*rep, 110.0, 130.0, 150.0, 165.0, 170.0, 170.0, 170.0, 170.0, 170.0, 170.0, 170.0]
    still_rising = [*rep, 110.0, 130.0, 150.0, 160.0, 168.0]
    assert _segment_events(held_at_lockout, True) == [("start", ""), ("end", ""), ("start", ""), ("end", "cut")]
    assert _segment_events(held_at_lockout, False)[-1] == ("start", "")  # not counted, not claimed
    assert [k for k, s in _segment_events(still_rising, True) if k == "end"] == ["end"]


def _joined_events(driver: list[float], start_ms: float = 0.0) -> list[tuple[str, str]]:
    from scoring.reps import RepSegmenter, SegmenterOptions

    options = SegmenterOptions(
        top=170.0, bottom=90.0, posture_value=20.0, posture_tolerance=40.0, min_duration_ms=400.0,
        max_duration_ms=10_000.0, smoothing=1.0,
    )  # fmt: skip
    segmenter = RepSegmenter(options)
    events = [(e.kind, e.state) for e in segmenter.add(0, 0.0, None, None) if e.kind != "posture"]
    for i, d in enumerate(driver):
        events += [
            (e.kind, e.state) for e in segmenter.add(i + 1, start_ms + i * 100.0, d, 20.0) if e.kind != "posture"
        ]
    return events


def test_a_recording_that_begins_mid_rep_counts_it_only_on_its_way_down() -> None:
    """A clip cut from a longer set may open half way down a squat: that rep counts once it turns and comes
    back up. One that opens at the bottom, or in a held squat, is no rep under way; somebody who appears
    mid-movement later in a stream is walking in, not exercising."""
    rest = [170.0] * 4 + [150.0, 120.0, 95.0, 90.0, 95.0, 120.0, 150.0] + [170.0] * 4
    half_way_down = [130.0, 115.0, 100.0, 92.0, 95.0, 120.0, 150.0, 170.0, 170.0, 170.0]
    assert _joined_events(half_way_down + rest) == [("start", ""), ("end", "joined"), ("start", ""), ("end", "")]
    at_the_bottom = [92.0, 90.0, 95.0, 120.0, 150.0, 170.0, 170.0, 170.0]
    assert _joined_events(at_the_bottom + rest) == [("start", ""), ("end", "")]  # only the whole rep after it
    held_low = [110.0, 100.0, 96.0, 105.0, 112.0, 100.0, 96.0, 108.0]  # pulses in a held squat
    assert [k for k, _ in _joined_events(held_low + held_low)] == []
    assert ("end", "joined") not in _joined_events(half_way_down + rest, start_ms=800.0)  # walked in at 0.8 s


def test_a_rep_cut_at_the_turn_is_scored_on_what_was_seen(references_dir: Path) -> None:
    """Two deadlifts whose second stops at lockout, held there 0.6 s as the recording ends."""
    reference = load_reference(references_dir, "deadlift")
    assert reference.spec.authored is not None
    floor, lockout = reference.spec.authored.keyframes
    held = replace(
        reference.spec.authored, keyframes=(floor, lockout, Keyframe(0.7, {})), duration_s=2.6 / 0.7 * 0.45 + 0.6
    )  # up at the same speed, then lockout held to the end of the drawn rep
    track = compile_track(replace(reference.spec, authored=held), reps=2, seed=5, spread=False)
    hips = compute_features(track.poses_3d)[:, Feature.HIP_MEAN]
    top = int(np.nanargmax(np.where(np.arange(track.frames) > track.frames // 2, hips, -np.inf)))
    cut = top + round(0.3 * 30)  # 0.3 s after the middle of the held lockout, before the way down
    ends_at_lockout = replace(
        track,
        **{k: getattr(track, k)[:cut] for k in ("keypoints_2d", "scores", "poses_3d", "timestamps_ms", "detected")},
    )
    analysis = run(reference, ends_at_lockout)
    assert len(analysis.reps) == 2
    last = analysis.reps[-1]
    assert last.score >= 90 and not last.faults
    assert set(last.checks_skipped) >= {"too_fast", "too_slow"}  # its tempo is not judged
    assert "came back" in last.checks_skipped["too_fast"]


def test_an_alternating_curl_is_scored_on_the_working_arm(references_dir: Path) -> None:
    """One arm at a time: the resting arm is no fault and costs no points; each curl counts."""
    reference = load_reference(references_dir, "bicep_curl")
    assert reference.spec.authored is not None
    start = reference.spec.authored.keyframes[0].angles
    turn = reference.spec.authored.keyframes[1].angles

    def one_arm(side: str) -> Any:
        other = "r" if side == "l" else "l"
        frames = (
            Keyframe(0.0, {**start}),
            Keyframe(0.45, {f"elbow_flex_{side}": turn["elbow_flex"], f"shoulder_flex_{side}": turn["shoulder_flex"],
                            f"elbow_flex_{other}": start["elbow_flex"],
                            f"shoulder_flex_{other}": start["shoulder_flex"]}),
        )  # fmt: skip
        spec = replace(reference.spec, authored=replace(reference.spec.authored, keyframes=frames))
        return compile_track(spec, reps=1, seed=3 if side == "l" else 4, segments=OTHER_BODY, turn_deg=70.0)

    parts = [one_arm(side) for side in ("l", "r", "l", "r")]
    poses = np.concatenate([p.poses_3d for p in parts])
    alternating = replace(
        parts[0],
        keypoints_2d=np.concatenate([p.keypoints_2d for p in parts]),
        scores=np.concatenate([p.scores for p in parts]),
        poses_3d=poses,
        timestamps_ms=np.arange(poses.shape[0]) * 1000 / 30,
        detected=np.ones(poses.shape[0], bool),
    )
    analysis = run(reference, alternating)
    assert len(analysis.reps) == 4
    assert [f.id for r in analysis.reps for f in r.faults] == []
    assert min(r.score for r in analysis.reps) >= 90
    assert [sorted(r.part_scores) for r in analysis.reps] == [["left_arm"], ["right_arm"]] * 2


def test_an_angle_made_with_unseen_joints_is_not_scored(references_dir: Path) -> None:
    """Framed from the waist up, the hips are guessed: the shoulder angles (hip-shoulder-elbow) measure the
    guess, so they count for nothing in the form score, whatever the guess."""
    from scoring.score import RepScorer

    reference = load_reference(references_dir, "bicep_curl")
    track = compile_track(reference.spec, reps=1, seed=9)
    features = compute_features(track.poses_3d)
    guessed = features.copy()
    guessed[:, [Feature.SHOULDER_L, Feature.SHOULDER_R]] += 40.0  # a wild guess of where the hips are
    scorer = RepScorer(reference)
    spans = spans_of(reference, track)
    (start, bottom, end) = spans[0]
    rows = slice(start, end + 1)
    unseen_hips = np.ones((end + 1 - start, 17), np.float32)
    unseen_hips[:, [H36M.L_HIP, H36M.R_HIP, H36M.PELVIS]] = 0.1

    def deviation(f: np.ndarray, visibility: np.ndarray | None) -> dict[str, float]:
        from scoring.dtw import dtw

        alignment = dtw(f[rows][:, scorer.columns], scorer.template)
        return scorer.measure(f[rows], track.timestamps_ms[rows], bottom - start, alignment, visibility).deviation

    seen = deviation(guessed, None)
    assert min(seen.values()) > 10  # judged on the guess, the arms look far off
    unseen = deviation(guessed, unseen_hips)
    assert unseen == pytest.approx(deviation(features, unseen_hips), abs=1.0)  # the guess makes no difference
    assert max(unseen.values()) < 6


REAL_CLIPS = {
    "bicep_curl": ("dev/fit__biceps-curl.mp4", {2}),
    "lateral_raise": ("dev/fit__lateral-raise.mp4", {2, 3}),
    "jumping_jack": ("dev/fit__jumping-jack.mp4", {5}),
    "glute_bridge": ("dev/fit__glute-bridge.mp4", {2}),
    "deadlift": ("dev/2DPoseToAR__Deadlift.mp4", {2}),
    "shoulder_press": ("dev/fit__shoulder-press.mp4", {4, 5}),
    "lunge": ("dev/fit__reverse-lunge.mp4", {1}),
}
"""Real clips of other people, their labelled counts (``media/dev/labels.json``, with the labeller's
accepted alternatives: a press whose fifth lockout ends the clip is 4 strict or 5). The lunge clip starts
half way down its only full rep, the bridge at its top and the deadlift on its way down: the recording
began in the middle of a rep."""


@pytest.mark.slow
@pytest.mark.parametrize("exercise", sorted(REAL_CLIPS))
def test_real_clips_of_other_people_count_exactly_with_no_fault(
    exercise: str, references_dir: Path, pose_tracks, labels_dev: dict
) -> None:  # type: ignore[no-untyped-def]
    clip, counts = REAL_CLIPS[exercise]
    label = labels_dev[Path(clip).name]
    assert label["reps"] in counts
    analysis = analyze_track(load_reference(references_dir, exercise), pose_tracks(clip))
    assert len(analysis.reps) in counts, [d.reason for d in analysis.not_counted]
    assert [f.message for r in analysis.reps for f in r.faults] == []
    # a rep the set ended in at its turn, or the recording began in, is scored on what was seen
    partial = [r for r in analysis.reps if "too_fast" in r.checks_skipped]
    assert all(r.score >= 90 for r in analysis.reps if r not in partial), [r.score for r in analysis.reps]
    assert all(r.score >= 80 for r in partial) and len(partial) <= 1


@pytest.mark.parametrize("exercise", ["lunge", "deadlift", "bicep_curl", "squat", "jumping_jack", "glute_bridge"])
def test_a_mix_up_names_the_exercise_the_reps_look_most_like(exercise: str, references_dir: Path) -> None:
    """Good reps of one exercise analysed as the push-up (which counts none of them): several other
    exercises' counters count them (a squat is a deadlift's and a lunge's movement too), and the one
    whose template the reps look most like is named."""
    references = {n: load_reference(references_dir, n) for n in list_exercises(references_dir)}
    reference = references[exercise]
    if reference.calibration.kind == "authored":
        track = compile_track(reference.spec, reps=REPS, seed=31, segments=OTHER_BODY, turn_deg=20.0, jitter_m=0.012)
    else:  # the video reference's own poses, another route than any drawn template
        track = replace(
            compile_track(references["lunge"].spec, reps=1),
            poses_3d=reference.poses_3d,
            timestamps_ms=reference.timestamps_ms,
            keypoints_2d=np.zeros((len(reference.poses_3d), 17, 2), np.float32),
            scores=np.ones((len(reference.poses_3d), 17), np.float32),
            detected=np.isfinite(reference.poses_3d).all(axis=(1, 2)),
        )
    others = [r for n, r in references.items() if n != "pushup"]
    analysis = analyze_track(references["pushup"], track, others)
    assert analysis.reps == []
    assert analysis.mismatch is not None and analysis.mismatch.looks_like == exercise


def test_the_terminal_report_of_a_hold_lists_the_holds(references_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from scoring.coach.report import build_report
    from scoring.coach.writer import create_tip_writer
    from server.cli.analyze import print_report

    plank = load_reference(references_dir, "plank")
    track = compile_track(plank.spec, reps=1, seed=2, segments=OTHER_BODY, turn_deg=-15.0)
    report = build_report(plank, track, create_tip_writer("plain"), detail=False)
    print_report(report, "plank.mp4")
    out = capsys.readouterr().out
    held = report["holds"][0]["duration_s"]
    assert out.startswith(f"Plank: 1 hold, {held:.1f} s held in plank.mp4")
    assert "hold    start    held" in out and "[hold 1]" in out and "reps" not in out.split("\n")[0]
