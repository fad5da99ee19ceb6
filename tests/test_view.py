"""Camera views from the skeleton: the references turned to every view, checked by construction."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lifting.joints import H36M
from scoring.reference import Reference, load_reference
from scoring.view import ViewTracker, classify, gravity_axis


def turn_about_vertical(p: np.ndarray, degrees: float) -> np.ndarray:
    """Walk the camera around the person: rotate about the camera's vertical (y) axis."""
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    return p @ rot.T


def from_above(p: np.ndarray) -> np.ndarray:
    """The camera moved overhead, looking down: what was down (y) is now away from it (z)."""
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def views(reference: Reference, poses: np.ndarray) -> Counter:
    """Views of every frame of the reference's reps."""
    frames = [i for s in reference.calibration.reps for i in range(s.start, s.end + 1)]
    return Counter(classify(poses[i], reference.gravity) for i in frames)


def most(counts: Counter) -> str:
    return counts.most_common(1)[0][0]


@pytest.fixture(scope="module", params=["pushup", "squat"])
def reference(request: pytest.FixtureRequest, references_dir: Path) -> Reference:
    return load_reference(references_dir, request.param)


def test_the_exercises_know_which_way_is_up(references_dir: Path) -> None:
    assert load_reference(references_dir, "pushup").gravity == "forward"  # the chest faces the floor
    assert load_reference(references_dir, "squat").gravity == "up"


def test_every_view_of_a_reference_is_told_apart(reference: Reference) -> None:
    p = reference.poses_3d.astype(np.float64)
    assert most(views(reference, p)) == "side"  # both were filmed from the side (the push-up a little obliquely)
    # Which of front and back a quarter turn gives depends on the side the person faced: one each way.
    assert {most(views(reference, turn_about_vertical(p, a))) for a in (90, -90)} == {"front", "back"}
    assert set(views(reference, from_above(p))) == {"overhead"}
    assert gravity_axis(p[[s.start for s in reference.calibration.reps]]) == reference.gravity


def test_angles_between_side_and_front(references_dir: Path) -> None:
    squat = load_reference(references_dir, "squat")
    p = squat.poses_3d.astype(np.float64)
    # Square the reference up first: turn it so its left-right axis points exactly at the camera.
    left = p[:, H36M.L_HIP] - p[:, H36M.R_HIP]
    p = turn_about_vertical(p, -np.degrees(np.nanmedian(np.arctan2(left[:, 0], left[:, 2]))))
    assert set(views(squat, p)) == {"side"}
    assert set(views(squat, turn_about_vertical(p, 20))) == {"side"}  # within about 37 deg: still side
    assert most(views(squat, turn_about_vertical(p, 50))) == "oblique"
    assert most(views(squat, turn_about_vertical(p, 80))) in ("front", "back")


def test_the_settled_view_needs_a_majority() -> None:
    tracker = ViewTracker("up", history=10)
    side = np.zeros((17, 3))

    side[H36M.THORAX] = [0, -0.5, 0]  # upright torso
    side[[H36M.L_SHOULDER, H36M.L_HIP], 2] = 0.2  # the left side nearer the back of the scene: a side view
    side[[H36M.R_SHOULDER, H36M.R_HIP], 2] = -0.2
    side[H36M.L_SHOULDER, 1] = side[H36M.R_SHOULDER, 1] = -0.5
    front = turn_about_vertical(side, 90)
    assert classify(side, "up") == "side" and classify(front, "up") in ("front", "back")
    for _ in range(4):
        assert tracker.add(side) is None  # not settled yet
    assert tracker.add(side) == "side"
    for _ in range(3):
        assert tracker.add(front) == "side"  # a few frames are not a majority: no flicker
    assert tracker.add(None) == "side"  # nobody seen: nothing changes
