"""Hold exercises (scoring/hold.py): the tracker fed hand-built feature rows with their own timestamps,
the shipped hold references, and real plank clips of other people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lifting.joints import H36M
from lifting.types import Pose3D
from realtime.events import SummaryEvent
from scoring.core import ScoringCore, analyze_poses, analyze_track
from scoring.features import NUM_FEATURES, Feature, feature_by_name
from scoring.hold import EPISODE_MIN_MS, SETTLE_MS, HoldTracker, build_hold_reference, summarize_holds
from scoring.reference import Calibration, Reference, ReferenceError, RepSpan, list_exercises, load_reference, read_spec
from scoring.types import (
    HoldEnded,
    HoldFault,
    HoldProgress,
    HoldStarted,
    PostureChanged,
    RepDiscarded,
    SetFinished,
)

SEEN = np.ones(17)
FPS = 30.0


def plank_row() -> np.ndarray:
    """A good forearm plank's features (degrees)."""
    row = np.zeros(NUM_FEATURES)
    row[[Feature.TORSO_INCLINE, Feature.BODY_LINE, Feature.HIP_MEAN, Feature.HIP_L, Feature.HIP_R]] = (
        88, 2, 172, 172, 172,
    )  # fmt: skip
    row[[Feature.KNEE_MEAN, Feature.KNEE_L, Feature.KNEE_R, Feature.SHOULDER_HEIGHT, Feature.HIP_HEIGHT]] = (
        170, 170, 170, 38, 14,
    )  # fmt: skip
    return row


@pytest.fixture(scope="module")
def plank(references_dir: Path) -> Reference:
    """The shipped plank's spec over a synthetic good hold of 5 s (the reference's own held posture)."""
    spec = read_spec(references_dir / "plank")
    n = int(5 * FPS)
    rng = np.random.default_rng(1)
    features = plank_row() + rng.normal(0, 1.0, (n, NUM_FEATURES))
    cal = Calibration(
        top=172.0, bottom=172.0, posture_value=88.0, reps=(RepSpan(0, n // 2, n - 1),), template=0,
        source_video="synthetic", backend="test", lifter="test",
    )  # fmt: skip
    poses = load_reference(references_dir, "plank").poses_3d[:n]  # a plank's skeleton: the body's vertical axis
    return Reference(spec, cal, poses, np.arange(n) * 1000 / FPS, features)


def run(tracker: HoldTracker, rows: list[np.ndarray | None], views: list[str] | None = None) -> list:
    events = []
    for i, row in enumerate(rows):
        view = views[i] if views is not None else "side"
        events += tracker.add(i, i * 1000 / FPS, row, SEEN if row is not None else np.zeros(17), view)  # type: ignore[arg-type]
    return events + tracker.finish()


def frames(seconds: float, row: np.ndarray | None, noise: float = 1.5, seed: int = 0) -> list[np.ndarray | None]:
    if row is None:
        return [None] * round(seconds * FPS)
    rng = np.random.default_rng(seed)
    return list(row + rng.normal(0, noise, (round(seconds * FPS), NUM_FEATURES)))


def standing() -> np.ndarray:
    row = plank_row()
    row[Feature.TORSO_INCLINE] = 5.0
    return row


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_a_clean_noisy_hold_counts_its_time_and_names_no_fault(plank: Reference) -> None:
    rows = frames(1, standing()) + frames(12, plank_row(), seed=2) + frames(1.5, standing())
    rng = np.random.default_rng(3)
    for i in rng.choice(np.arange(40, 380), 12, replace=False):  # single frames of pose noise: a joint jumps
        rows[i] = rows[i].copy()  # type: ignore[union-attr]
        rows[i][Feature.BODY_LINE] += rng.choice([-30.0, 30.0])  # type: ignore[index]
    events = run(HoldTracker(plank), rows)
    [ended] = of(events, HoldEnded)
    hold = ended.result
    assert abs(hold.start_ms - 1000) <= 40 and abs(hold.duration_s - 12.0) <= 0.1
    assert hold.faults == () and hold.checks_skipped == {} and hold.fault_s == 0
    assert hold.held_share > 0.99 and hold.score >= 95 and hold.view == "side"
    # the events in order: out of position, a hold begun after SETTLE_MS, a progress event each second, ended
    started = of(events, HoldStarted)[0]
    assert started.start_ms == hold.start_ms and started.target_s == 30.0
    assert [p.seconds for p in of(events, HoldProgress)] == list(range(1, 12))
    assert [e.state for e in of(events, PostureChanged)] == ["out_of_position", "holding", "out_of_position"]
    assert events.index(started) < events.index(of(events, HoldProgress)[0]) < events.index(ended)
    holding = next(e for e in events if isinstance(e, PostureChanged) and e.state == "holding")
    assert abs(holding.timestamp_ms - 1000 - SETTLE_MS) <= 40


def test_short_breaks_are_bridged_and_long_ones_end_the_hold(plank: Reference) -> None:
    """grace_s = 1: a 0.6 s break (or 0.6 s without a person) is part of the hold, a 1.5 s break ends it."""
    for gap in (standing(), None):
        rows = frames(5, plank_row()) + frames(0.6, gap) + frames(5, plank_row())
        [ended] = of(run(HoldTracker(plank), rows), HoldEnded)
        assert abs(ended.result.duration_s - 10.6) <= 0.1
        assert 0.9 < ended.result.held_share < 0.96  # the break is bridged, not seen in position
    rows = frames(5, plank_row()) + frames(1.5, standing()) + frames(5, plank_row())
    holds = [e.result for e in of(run(HoldTracker(plank), rows), HoldEnded)]
    assert [h.index for h in holds] == [1, 2] and all(abs(h.duration_s - 5.0) <= 0.1 for h in holds)


def test_a_hold_under_min_s_is_not_counted_and_says_why(plank: Reference) -> None:
    tracker = HoldTracker(plank)
    events = run(tracker, frames(1, standing()) + frames(1.25, plank_row()) + frames(2, standing()))
    assert of(events, HoldEnded) == [] and len(of(events, HoldStarted)) == 1
    [short] = of(events, RepDiscarded)
    assert short.reason == "held 1.2 s, under the 2 s that count"
    assert tracker.not_counted == [short]
    # a flicker into position (under SETTLE_MS) is no hold at all: nothing to report
    events = run(HoldTracker(plank), frames(1, standing()) + frames(0.3, plank_row()) + frames(1, standing()))
    assert of(events, HoldStarted) == of(events, RepDiscarded) == []


def faulty(seconds: float, feature: Feature, value: float) -> list[np.ndarray | None]:
    row = plank_row()
    row[feature] = value
    return frames(seconds, row, seed=5)


@pytest.mark.parametrize(("rule", "value"), [("hips_sag", 25.0), ("hips_pike", -22.0)])
def test_a_fault_episode_is_reported_with_when_and_how_long(plank: Reference, rule: str, value: float) -> None:
    rows = frames(3, plank_row()) + faulty(3.2, Feature.BODY_LINE, value) + frames(4, plank_row())
    events = run(HoldTracker(plank), rows)
    [ended] = of(events, HoldEnded)
    [fault] = ended.result.faults
    assert fault.id == rule and fault.phase == "hold"
    assert abs(float(fault.details["start_s"]) - 3.0) <= 0.2 and abs(float(fault.details["duration_s"]) - 3.2) <= 0.2
    assert abs(fault.value - abs(value)) <= 4
    assert fault.message.endswith(f"for {fault.details['duration_s']:.1f} s from {fault.details['start_s']:.1f} s")
    assert abs(ended.result.fault_s - 3.2) <= 0.2 and ended.result.score < 85
    # said while it happens: once the episode has lasted EPISODE_MIN_MS
    [live] = of(events, HoldFault)
    assert live.fault.id == rule and 3000 + EPISODE_MIN_MS <= live.timestamp_ms <= 3000 + EPISODE_MIN_MS + 300
    assert events.index(live) < events.index(ended)


def test_brief_excursions_are_not_episodes_and_breaks_within_one_are_bridged(plank: Reference) -> None:
    brief = frames(3, plank_row()) + faulty(0.3, Feature.BODY_LINE, 30.0) + frames(3, plank_row())
    assert of(run(HoldTracker(plank), brief), HoldEnded)[0].result.faults == ()
    split = (frames(2, plank_row()) + faulty(1.5, Feature.BODY_LINE, 25.0) + frames(0.3, plank_row())
             + faulty(1.5, Feature.BODY_LINE, 25.0) + frames(2, plank_row()))  # fmt: skip
    [fault] = of(run(HoldTracker(plank), split), HoldEnded)[0].result.faults
    assert abs(float(fault.details["duration_s"]) - 3.3) <= 0.2


def test_rules_are_judged_only_from_their_views_and_on_seen_joints(plank: Reference) -> None:
    rows = frames(2, plank_row()) + faulty(3, Feature.BODY_LINE, 25.0)
    [ended] = of(run(HoldTracker(plank), rows, ["front"] * len(rows)), HoldEnded)
    assert ended.result.faults == ()
    assert ended.result.checks_skipped == dict.fromkeys(("hips_sag", "hips_pike"), "not judged from the front")
    tracker = HoldTracker(plank)
    hidden = np.ones(17)
    hidden[[H36M.L_ANKLE, H36M.R_ANKLE]] = 0.1  # the legs out of the picture: the body line is not judged
    events = [e for i, row in enumerate(rows) for e in tracker.add(i, i * 1000 / FPS, row, hidden, "side")]
    [ended] = of(events + tracker.finish(), HoldEnded)
    assert ended.result.faults == ()
    assert ended.result.checks_skipped["hips_sag"].endswith("not seen for 0.15 s during the hold")


def test_bounds_end_the_hold_unless_their_joints_were_unseen(plank: Reference) -> None:
    kneeling = plank_row()
    kneeling[[Feature.KNEE_MEAN, Feature.KNEE_L, Feature.KNEE_R]] = 95.0
    tracker = HoldTracker(plank)
    assert tracker.in_position(kneeling, SEEN) == (False, "knee mean 95 deg, outside 120-180")
    legs_unseen = np.ones(17)
    legs_unseen[[H36M.L_KNEE, H36M.R_KNEE, H36M.L_ANKLE, H36M.R_ANKLE]] = 0.0
    assert tracker.in_position(kneeling, legs_unseen) == (True, "")
    assert tracker.in_position(standing(), SEEN)[0] is False and tracker.in_position(None, SEEN) == (False, "")


def test_the_set_summary_of_holds(plank: Reference) -> None:
    rows = (frames(4, plank_row()) + frames(2, standing()) + frames(6, plank_row()) + faulty(2, Feature.BODY_LINE, 25)
            + frames(2, standing()) + frames(1, plank_row()))  # fmt: skip
    tracker = HoldTracker(plank)
    run(tracker, rows)
    summary = summarize_holds(tracker.results, len(tracker.not_counted))
    assert (summary.kind, summary.holds, summary.reps, summary.not_counted) == ("hold", 2, 0, 1)
    assert abs(summary.hold_total_s - 12.0) <= 0.2 and abs(summary.hold_longest_s - 8.0) <= 0.1
    assert summary.fault_counts == {"hips_sag": 1} and summary.most_frequent_fault == "hips_sag"
    assert summarize_holds([]).holds == 0 and summarize_holds([]).kind == "hold"


def test_the_core_follows_a_hold_and_hold_references_never_watch(plank: Reference, references_dir: Path) -> None:
    """ScoringCore picks the hold tracker for a hold; the rep exercises' mix-up watchers skip holds, so a
    hold's reference never has to give rep-segmenter options."""
    pushup = load_reference(references_dir, "pushup")

    def no_segmenter(self: Reference) -> None:
        raise AssertionError(f"segmenter_options called for {self.spec.name}")

    original = Reference.segmenter_options
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            Reference, "segmenter_options", lambda self: (no_segmenter if self.spec.kind == "hold" else original)(self)
        )
        rep_core = ScoringCore(pushup, alternatives=[plank])
        hold_core = ScoringCore(plank, alternatives=[pushup])
    assert rep_core.hold is None and not rep_core._watchers
    assert hold_core.hold is not None and not hold_core._watchers
    poses = [Pose3D(np.full((17, 3), np.nan), i * 33.3, "test", False) for i in range(5)]
    analysis = analyze_poses(plank, poses)
    assert analysis.holds == [] and analysis.summary.kind == "hold" and isinstance(analysis.events[-1], SetFinished)


def test_every_shipped_hold_rule_fires_on_its_injection(references_dir: Path) -> None:
    """Each fault rule of each shipped hold exercise, pushed past its bound in the middle of the
    reference's own hold, is named there with its time; the reference's own hold names none."""
    holds = [n for n in list_exercises(references_dir) if read_spec(references_dir / n).kind == "hold"]
    assert {"plank", "side_plank"} <= set(holds)
    for name in holds:
        reference = load_reference(references_dir, name)
        span = reference.template
        features = reference.features[span.start : span.end + 1]
        ts = reference.timestamps_ms[span.start : span.end + 1]

        def hold(rows: np.ndarray, reference: Reference = reference, ts: np.ndarray = ts) -> list:
            tracker = HoldTracker(reference)
            for i, row in enumerate(rows):
                tracker.add(i, float(ts[i]), row if np.isfinite(row).all() else None, SEEN)
            tracker.finish()
            return tracker.results

        [clean] = hold(features)
        assert clean.faults == (), (name, [f.message for f in clean.faults])
        for rule in HoldTracker(reference).rules:
            column = feature_by_name(rule.feature)
            directed = rule.direction * np.nanmedian(features[:, column])
            bound = rule.limit if not rule.relative else directed + rule.threshold
            rows = features.copy()
            middle = (ts >= ts[0] + 2000) & (ts <= ts[0] + 4000)
            rows[middle, column] = rule.direction * (bound + 4.0)
            [result] = hold(rows)
            found = [f for f in result.faults if f.id == rule.id]
            assert len(found) == 1, (name, rule.id, [f.message for f in result.faults], result.checks_skipped)
            assert abs(float(found[0].details["start_s"]) * 1000 - (ts[0] + 2000)) <= 250
            assert abs(float(found[0].details["duration_s"]) - 2.0) <= 0.3


def test_a_hold_reference_needs_a_long_enough_hold(plank: Reference) -> None:
    from lifting.track import PoseTrack

    empty = PoseTrack(
        keypoints_2d=np.zeros((3, 17, 2), np.float32), scores=np.zeros((3, 17), np.float32),
        poses_3d=np.full((3, 17, 3), np.nan, np.float32), timestamps_ms=np.arange(3) * 33.3,
        detected=np.zeros(3, bool), backend="test", lifter="test", image_size=(640, 480), source="empty.mp4",
    )  # fmt: skip
    with pytest.raises(ReferenceError, match="no person was found"):
        build_hold_reference(plank.spec, empty)


LABELS_TOLERANCE_S = 1.0


@pytest.fixture(scope="module")
def dev_labels(labels_dev: dict[str, dict]) -> dict[str, dict]:
    """The labels of the clips in media/dev (other people, not used to build anything)."""
    return labels_dev


@pytest.mark.slow
def test_real_planks_of_other_people(pose_tracks, dev_labels, references_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """MrPose__plank (forearm plank, good form, held the whole 6.9 s) counts one hold within a second of
    the label and no fault; fit__plank (high plank, hips piked ~146-157 deg, the legs out of the picture
    after ~5 s) counts its hold and names the pike while the legs are seen, from the start."""
    plank = load_reference(references_dir, "plank")
    good = analyze_track(plank, pose_tracks("dev/MrPose__plank.mp4"))
    [hold] = good.holds
    assert abs(hold.duration_s - dev_labels["MrPose__plank.mp4"]["hold_s"]) <= LABELS_TOLERANCE_S
    assert hold.faults == () and hold.checks_skipped == {} and good.warnings == []
    assert hold.score >= 85
    piked = analyze_track(plank, pose_tracks("dev/fit__plank.mp4"))
    [hold] = piked.holds
    assert abs(hold.duration_s - dev_labels["fit__plank.mp4"]["hold_s"]) <= LABELS_TOLERANCE_S
    [pike] = [f for f in hold.faults if f.id == "hips_pike"]
    assert float(pike.details["start_s"]) <= 1.0 and 3.5 <= float(pike.details["duration_s"]) <= 6.0
    assert 15 <= pike.value <= 30 and "hips_sag" not in {f.id for f in hold.faults}
    assert hold.score < 60


@pytest.mark.slow
def test_a_real_side_plank(pose_tracks, dev_labels, references_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """fit__side-plank (front view, gets into position 0-1.1 s, then holds ~7.5 s): one hold within a
    second of the label, no fault (the slight drop at the end is within the bound)."""
    analysis = analyze_track(load_reference(references_dir, "side_plank"), pose_tracks("dev/fit__side-plank.mp4"))
    [hold] = analysis.holds
    assert abs(hold.duration_s - dev_labels["fit__side-plank.mp4"]["hold_s"]) <= LABELS_TOLERANCE_S
    assert hold.start_ms >= 400 and hold.faults == ()
    assert load_reference(references_dir, "side_plank").calibration.kind == "authored"  # the clip is held out


@pytest.mark.slow
def test_a_plank_is_no_side_plank_and_a_side_plank_no_plank(pose_tracks, references_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """The angles of a forearm plank and a side plank read alike (both about 77 deg from vertical, hips and
    knees straight); which side of the body faces the floor tells them apart."""
    plank, side = load_reference(references_dir, "plank"), load_reference(references_dir, "side_plank")
    assert (plank.gravity, side.gravity) == ("forward", "left")
    for clip in ("dev/MrPose__plank.mp4", "dev/fit__plank.mp4"):
        assert analyze_track(side, pose_tracks(clip)).holds == []
    assert analyze_track(plank, pose_tracks("dev/fit__side-plank.mp4")).holds == []
    tracker = HoldTracker(side)
    lying = np.full(NUM_FEATURES, 0.0)
    lying[feature_by_name(side.spec.posture_feature)] = side.calibration.posture_value
    for name, (lo, hi) in side.spec.hold.bounds.items():  # type: ignore[union-attr]
        lying[feature_by_name(name)] = (lo + hi) / 2
    assert tracker.in_position(lying, SEEN, "left") == (True, "")
    assert tracker.in_position(lying, SEEN, "forward") == (False, "lying face down or up, the hold lies on a side")


def test_hold_tips_in_every_persona_voice(plank: Reference) -> None:
    """A fault episode as it begins, progress at the milestones, the hold's end and the set summary: each
    persona says them in its own words, naming the measured value."""
    from scoring.coach.select import TipOptions
    from scoring.coach.writer import create_tip_writer

    rows = frames(2, plank_row()) + faulty(3, Feature.BODY_LINE, 25.0) + frames(26, plank_row()) + frames(2, standing())
    events = run(HoldTracker(plank), rows)
    events.append(SetFinished(summarize_holds([e.result for e in of(events, HoldEnded)])))
    texts: dict[str, list[str]] = {}
    for persona in ("plain", "data_scientist", "hype_beast", "mindful_aligner", "no_nonsense_pro"):
        writer = create_tip_writer(persona, options=TipOptions(cooldown_s=5.0))
        tips = [tip for event in events for tip in writer.add(event)]
        kinds = [t.kind for t in tips]
        assert kinds[0] == "fault" and tips[0].fault == "hips_sag" and tips[0].rep == 1  # safety: at once
        assert "progress" in kinds and kinds[-2:] == ["praise", "summary"], kinds
        assert "{" not in " ".join(t.text for t in tips)
        progress = [t for t in tips if t.kind == "progress"]
        assert all(str(int(t.value or 0)) in t.text for t in progress)  # the seconds held
        assert "31" in tips[-2].text or "30" in tips[-2].text  # the hold's time
        texts[persona] = [t.text for t in tips]
    assert len({tuple(v) for v in texts.values()}) == 5


def test_the_live_pipeline_sends_hold_events_and_a_hold_summary(references_dir: Path) -> None:
    """Frame by frame as the inference thread feeds it (the plank reference's own poses, 6 s, then nobody):
    a timer event when the hold begins and each second, the scored hold, the summary with the holds."""
    from realtime.events import HoldEvent, HoldProgressEvent, TipEvent
    from tests.test_realtime import scoring_pipeline

    plank, pushup = load_reference(references_dir, "plank"), load_reference(references_dir, "pushup")
    pipeline = scoring_pipeline(plank, pushup)
    p, ts = plank.poses_3d, plank.timestamps_ms
    n = int(np.searchsorted(ts, ts[0] + 6000))
    out = []
    for i in range(n):
        out += pipeline.score(Pose3D(p[i], float(ts[i]), "mediapipe-world", True))
        if i == n // 2:
            assert pipeline.posture == "holding" and pipeline.kind == "hold" and pipeline.hold_seconds is not None
    for i in range(n, n + 45):
        out += pipeline.score(Pose3D(np.full((17, 3), np.nan), float(ts[0] + i * 33.3), "mediapipe-world", False))
    out += pipeline.finish("stopped by the client")
    events = [item.event for item in out]
    assert [e.seconds for e in events if isinstance(e, HoldProgressEvent)] == [0, 1, 2, 3, 4, 5]
    [hold] = [e for e in events if isinstance(e, HoldEvent)]
    assert hold.as_json()["hold"] == 1 and abs(hold.as_json()["duration_s"] - 6.0) <= 0.1
    assert pipeline.holds == 1 and pipeline.hold_seconds is None
    summary = next(e for e in events if isinstance(e, SummaryEvent)).as_json()
    assert (summary["kind"], summary["holds"], summary["reps"]) == ("hold", 1, 0)
    assert len(summary["hold_results"]) == 1 and abs(summary["hold_total_s"] - 6.0) <= 0.1
    tips = [e.tip for e in events if isinstance(e, TipEvent)]
    assert [t.kind for t in tips][-2:] == ["praise", "summary"]


@pytest.mark.slow
def test_the_report_of_a_recorded_plank(pose_tracks, references_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """What `coach analyze` prints and an upload's job returns: the hold with its pike episode, tips, and
    the reference's held posture drawn over the hold."""
    from scoring.coach.report import build_report
    from scoring.coach.writer import create_tip_writer

    report = build_report(
        load_reference(references_dir, "plank"), pose_tracks("dev/fit__plank.mp4"), create_tip_writer("plain")
    )
    assert report["kind"] == "hold" and report["reps"] == [] and len(report["holds"]) == 1
    [pike] = [f for f in report["holds"][0]["faults"] if f["id"] == "hips_pike"]
    assert "for" in pike["message"] and pike["details"]["duration_s"] >= 3.5
    assert report["summary"]["holds"] == 1 and report["summary"]["most_frequent_fault"] == "hips_pike"
    assert report["tips"][0]["kind"] == "fault" and report["tips"][-1]["kind"] == "summary"
    line = report["curves"]["reference"]["body_line"]
    assert line[0] is not None and abs(line[0]) < 5  # the held posture: a straight body line
