"""Following the person who exercises when several are in the picture (``lifting.people``)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lifting.joints import H36M
from lifting.people import (
    LIMBS,
    SWITCH_HOLD_MS,
    OnlineFollower,
    PeopleTracker,
    follow_offline,
    running_median,
)
from lifting.types import Pose2D, Pose3D

SIZE = (1280, 720)
ELBOWS = LIMBS[:2]


def person(x: float, elbow_deg: float, t_ms: float, scale: float = 1.0) -> Pose2D:
    """A standing person whose torso is centred at ``x`` with both elbows bent to ``elbow_deg``."""
    k = np.zeros((17, 2), np.float32)
    s = 100.0 * scale
    k[H36M.PELVIS] = (x, 400)
    k[H36M.L_HIP], k[H36M.R_HIP] = (x + 0.2 * s, 400), (x - 0.2 * s, 400)
    k[H36M.L_KNEE], k[H36M.R_KNEE] = (x + 0.2 * s, 400 + s), (x - 0.2 * s, 400 + s)
    k[H36M.L_ANKLE], k[H36M.R_ANKLE] = (x + 0.2 * s, 400 + 2 * s), (x - 0.2 * s, 400 + 2 * s)
    k[H36M.SPINE], k[H36M.THORAX] = (x, 400 - 0.5 * s), (x, 400 - s)
    k[H36M.NECK_NOSE], k[H36M.HEAD] = (x, 400 - 1.2 * s), (x, 400 - 1.4 * s)
    bend = math.radians(180 - elbow_deg)
    for side, shoulder, elbow, wrist in ((1, H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST),
                                         (-1, H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST)):  # fmt: skip
        k[shoulder] = (x + side * 0.3 * s, 400 - s)
        k[elbow] = (x + side * 0.3 * s, 400 - 0.3 * s)  # upper arm straight down
        k[wrist] = k[elbow] + 0.6 * s * np.array([side * math.sin(bend), math.cos(bend)])
    return Pose2D(k, np.ones(17, np.float32), t_ms, SIZE)


def frames(duration_ms: float, still_x: float = 300.0, mover_x: float = 900.0, swap: bool = False):  # type: ignore[no-untyped-def]
    """Two people: one standing still, one bending the elbows 160 -> 70 -> 160 every 2 s; in each frame
    the detector lists them in either order (``swap``: alternately), as MediaPipe's trackers may."""
    out = []
    for i, t in enumerate(np.arange(0.0, duration_ms, 1000 / 30)):
        elbow = 115 + 45 * math.cos(2 * math.pi * t / 2000)
        pair = [person(still_x, 170.0, t), person(mover_x, elbow, t)]
        out.append((t, pair[::-1] if swap and i % 2 else pair))
    return out


def test_ids_stay_with_each_person_whatever_order_the_detector_lists_them() -> None:
    tracker = PeopleTracker(ELBOWS)
    seen = [tracker.update(people, t) for t, people in frames(1000, swap=True)]
    left = {pid for frame in seen for pid, pose in frame if pose.keypoints[H36M.PELVIS, 0] < 600}
    right = {pid for frame in seen for pid, pose in frame if pose.keypoints[H36M.PELVIS, 0] > 600}
    assert len(left) == len(right) == 1 and left != right


def test_the_live_follower_moves_to_the_person_exercising_and_stays() -> None:
    follower = OnlineFollower(ELBOWS)
    chosen = []
    for t, people in frames(8000, swap=True):
        pose = follower.choose(people, t, SIZE)
        chosen.append((t, float(pose.keypoints[H36M.PELVIS, 0]), pose.people))
    assert chosen[0][1] == 300.0  # both still at first: the first one found
    switched = next(t for t, x, _ in chosen if x == 900.0)
    # within one rep of the mover starting (the hold is part of it), and never back to the one standing
    assert SWITCH_HOLD_MS <= switched <= 2000
    assert all(x == 900.0 for t, x, _ in chosen if t >= switched)
    assert all(n == 2 for _, _, n in chosen)


def test_one_arm_wave_does_not_move_the_coach() -> None:
    follower = OnlineFollower(ELBOWS)
    t_all = np.arange(0.0, 6000.0, 1000 / 30)
    for t in t_all:  # the followed one exercises; the other bends an elbow once, briefly
        elbow = 115 + 45 * math.cos(2 * math.pi * t / 2000)
        wave = 100.0 if 3000 <= t < 3200 else 170.0
        pose = follower.choose([person(300.0, elbow, t), person(900.0, wave, t)], t, SIZE)
        assert pose.keypoints[H36M.PELVIS, 0] == 300.0


def test_a_followed_person_who_leaves_is_replaced_by_whoever_is_there() -> None:
    follower = OnlineFollower(ELBOWS)
    xs = []
    for t in np.arange(0.0, 4000.0, 1000 / 30):
        people = [person(300.0, 170.0, t)] if t < 2000 else [person(900.0, 170.0, t)]
        pose = follower.choose(people, t, SIZE)
        xs.append((t, pose.detected, float(pose.keypoints[H36M.PELVIS, 0]) if pose.detected else None))
    assert all(x == 300.0 for t, _, x in xs if t < 2000)
    gone = [detected for t, detected, _ in xs if 2000 <= t < 2900]
    assert not any(gone)  # the followed person is missing: no one else is scored in their place yet
    assert all(x == 900.0 for t, _, x in xs if t >= 3100)


def test_with_the_whole_clip_known_the_exerciser_is_followed_from_the_first_frame() -> None:
    clip = frames(6000, swap=True)
    poses = follow_offline([people for _, people in clip], ELBOWS)
    assert len(poses) == len(clip)
    assert all(p.keypoints[H36M.PELVIS, 0] == 900.0 for p in poses)
    assert len({p.person for p in poses}) == 1


def test_a_phantom_whose_limbs_are_guessed_is_not_followed_however_they_jump() -> None:
    """The second detector's phantom (a cushion taken for a small person, ``dev/fit__biceps-curl.mp4``
    mirrored): limbs below even odds of being seen (``SEEN_SCORE``), their angles jumping between 30
    and 170 deg from frame to frame. Beside it one person curls confidently seen elbows 160 -> 70 ->
    160; the curler is followed, live and batch."""
    rng = np.random.default_rng(0)
    clip = []
    for t in np.arange(0.0, 6000.0, 1000 / 30):
        curler = person(400.0, 115 + 45 * math.cos(2 * math.pi * t / 2000), t)
        ghost = person(60.0, float(rng.uniform(30.0, 170.0)), t, scale=0.3)
        guessed = np.full(17, 0.3, np.float32)  # the phantom's elbows and wrists: 0.2-0.4
        clip.append((t, [curler, Pose2D(ghost.keypoints, guessed, t, SIZE)]))
    poses = follow_offline([people for _, people in clip], ELBOWS)
    assert all(p.keypoints[H36M.PELVIS, 0] == 400.0 for p in poses) and len({p.person for p in poses}) == 1
    follower = OnlineFollower(ELBOWS)
    assert all(follower.choose(people, t, SIZE).keypoints[H36M.PELVIS, 0] == 400.0 for t, people in clip)


def test_confident_one_frame_misreadings_do_not_outweigh_a_rep() -> None:
    """A person standing still whose elbow the detector misreads, confidently, in one frame of three
    (170 deg read as 60) is not taken for the one exercising: the running median removes the misreadings
    that the 10th-90th percentile range alone keeps (a third of the frames)."""
    clip = []
    for i, t in enumerate(np.arange(0.0, 6000.0, 1000 / 30)):
        still = person(300.0, 60.0 if i % 3 == 0 else 170.0, t)
        clip.append([still, person(900.0, 115 + 45 * math.cos(2 * math.pi * t / 2000), t)])
    poses = follow_offline(clip, ELBOWS)
    assert all(p.keypoints[H36M.PELVIS, 0] == 900.0 for p in poses)


def test_running_median_small_enough_to_check_by_hand() -> None:
    nan = math.nan
    values = np.array([[1, nan], [5, 2], [2, nan], [100, 4], [3, 6], [nan, 8]], float)
    expected = np.array([[2, nan], [3.5, 3], [3, nan], [4, 5], [3, 6], [nan, 6]], float)
    np.testing.assert_array_equal(running_median(values, 5), expected)
    np.testing.assert_array_equal(running_median(values, 1), values)
    with pytest.raises(ValueError, match="odd"):
        running_median(values, 4)


def test_a_change_of_person_mid_set_is_reported_not_scored(references_dir: Path) -> None:
    """Another person is followed in the middle of a push-up set: the rep under way is given up with the
    reason, the change is reported, and the new person's reps count from their own start."""
    from scoring.core import analyze_poses
    from scoring.reference import load_reference
    from scoring.types import PersonChanged

    pushup = load_reference(references_dir, "pushup")
    reps = pushup.calibration.reps
    middle = reps[1].bottom  # the second rep's turning point: a rep under way
    poses = [
        Pose3D(
            pushup.poses_3d[i], float(pushup.timestamps_ms[i]), "mediapipe-world",
            bool(np.isfinite(pushup.poses_3d[i]).all()), person=0 if i < middle else 1,
        )
        for i in range(len(pushup.timestamps_ms))
    ]  # fmt: skip
    analysis = analyze_poses(pushup, poses)
    assert len(analysis.reps) == len(reps) - 1  # rep 2 was split between two people: not scored
    assert [d.reason for d in analysis.not_counted] == ["the coach moved to another person during the rep: not scored"]
    changes = [e for e in analysis.events if isinstance(e, PersonChanged)]
    assert len(changes) == 1 and changes[0].person == 1
    assert analysis.warnings == [changes[0].message] and "another person" in changes[0].message
    # The same poses from one person: every rep counts, nothing reported.
    same = analyze_poses(pushup, [Pose3D(p.joints, p.timestamp_ms, p.lifter, p.detected) for p in poses])
    assert len(same.reps) == len(reps) and same.warnings == [] and same.not_counted == []


@pytest.mark.slow
def test_side_by_side_the_coach_follows_whoever_does_the_chosen_exercise(
    media: Path, ffmpeg: str, tmp_path: Path, references_dir: Path
) -> None:
    """The push-up clip beside the squat clip (the squatter stands through a long set-up, then squats
    once in the first 13.6 s). Analysed as a squat, the squatter is followed; MediaPipe alone (one
    person) locks onto the push-ups and counts no squat."""
    from lifting.lifter import WorldLandmarkLifter
    from lifting.pipeline import PosePipeline
    from lifting.pose2d import MediaPipeBackend, MediaPipeOptions
    from scoring.core import analyze_track
    from scoring.features import focus_joints
    from scoring.reference import load_reference

    video = tmp_path / "side_by_side.mp4"
    graph = "[0:v]scale=-2:540,fps=30[a];[1:v]scale=-2:540,fps=30[b];[a][b]hstack=inputs=2:shortest=1"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(media / "pushup_side_nasm.mp4"), "-i", str(media / "squat_side.mp4"),
         "-filter_complex", graph, "-c:v", "libx264", "-crf", "18", "-an", str(video)],
        check=True,
    )  # fmt: skip
    squat, pushup = load_reference(references_dir, "squat"), load_reference(references_dir, "pushup")
    results = {}
    for people in (1, 2):
        with MediaPipeBackend(MediaPipeOptions(max_people=people)) as backend:
            backend.follow(focus_joints(squat.spec.driver))
            track, _ = PosePipeline(backend, WorldLandmarkLifter()).run(video)
        results[people] = (track, analyze_track(squat, track, [pushup]))
    track, analysis = results[2]
    assert track.people is not None and np.median(track.people) == 2
    followed = track.keypoints_2d[:, H36M.PELVIS, 0]
    assert np.nanmedian(followed) > track.image_size[0] / 2  # the right half: the squat clip
    assert len(analysis.reps) == 1 and analysis.mismatch is None and analysis.warnings == []
    _, alone = results[1]
    assert alone.reps == [] and alone.mismatch is not None and alone.mismatch.looks_like == "pushup"


@pytest.mark.slow
def test_the_mirrored_curl_is_followed_past_the_phantom_on_the_sofa(
    media: Path, ffmpeg: str, tmp_path: Path, references_dir: Path
) -> None:
    """``dev/fit__biceps-curl.mp4`` mirrored: with the curler greyed out, MediaPipe's second tracker
    finds a small phantom in the sofa's cushions in most frames, its guessed limbs jumping. Looking for
    two people, the curler is followed through the clip (one person id), pose for pose as MediaPipe
    looking for one person alone sees her."""
    from lifting.lifter import WorldLandmarkLifter
    from lifting.pipeline import PosePipeline
    from lifting.pose2d import MediaPipeBackend, MediaPipeOptions
    from scoring.features import focus_joints
    from scoring.reference import load_reference

    video = tmp_path / "curl_mirrored.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(media / "dev" / "fit__biceps-curl.mp4"), "-vf", "hflip",
         "-c:v", "libx264", "-crf", "16", "-an", str(video)],
        check=True,
    )  # fmt: skip
    driver = load_reference(references_dir, "bicep_curl").spec.driver
    tracks = {}
    for people in (1, 2):
        with MediaPipeBackend(MediaPipeOptions(max_people=people)) as backend:
            backend.follow(focus_joints(driver))
            tracks[people], _ = PosePipeline(backend, WorldLandmarkLifter()).run(video)
    track, alone = tracks[2], tracks[1]
    assert track.people is not None and (track.people == 2).mean() > 0.5  # the phantom is there
    assert track.person is not None and len(set(track.person[track.detected].tolist())) == 1
    np.testing.assert_array_equal(track.keypoints_2d, alone.keypoints_2d)  # the curler, every frame
