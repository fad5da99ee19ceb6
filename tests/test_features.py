"""Pose features: by-hand values and view/scale invariance."""

from __future__ import annotations

import numpy as np
import pytest

from lifting.joints import H36M
from scoring.features import CAMERA_VERTICAL, NUM_FEATURES, Feature, compute_features


def standing() -> np.ndarray:
    """A person facing the camera (camera axes: x right, y down, z away), arms bent 90 degrees forward."""
    p = np.zeros((17, 3))
    p[H36M.PELVIS] = (0, 0, 0)
    # shoulders, hips, knees and ankles in vertical lines; the person's left is image right
    p[H36M.L_HIP], p[H36M.R_HIP] = (0.18, 0, 0), (-0.18, 0, 0)
    p[H36M.L_KNEE], p[H36M.R_KNEE] = (0.18, 0.45, 0), (-0.18, 0.45, 0)
    p[H36M.L_ANKLE], p[H36M.R_ANKLE] = (0.18, 0.9, 0), (-0.18, 0.9, 0)
    p[H36M.SPINE], p[H36M.THORAX] = (0, -0.25, 0), (0, -0.5, 0)
    p[H36M.NECK_NOSE], p[H36M.HEAD] = (0, -0.6, 0), (0, -0.7, 0)
    p[H36M.L_SHOULDER], p[H36M.R_SHOULDER] = (0.18, -0.5, 0), (-0.18, -0.5, 0)
    p[H36M.L_ELBOW], p[H36M.R_ELBOW] = (0.18, -0.2, 0), (-0.18, -0.2, 0)
    p[H36M.L_WRIST], p[H36M.R_WRIST] = (0.18, -0.2, -0.3), (-0.18, -0.2, -0.3)  # forearms toward the camera
    return p


def test_angles_by_hand() -> None:
    f = compute_features(standing()[None])[0]
    assert f.shape == (NUM_FEATURES,)
    assert f[Feature.ELBOW_L] == pytest.approx(90.0) and f[Feature.ELBOW_R] == pytest.approx(90.0)
    assert f[Feature.KNEE_L] == pytest.approx(180.0) and f[Feature.HIP_L] == pytest.approx(180.0)
    assert f[Feature.SHOULDER_L] == pytest.approx(0.0, abs=1e-3)  # upper arm along the torso
    assert f[Feature.ARM_ABDUCTION_L] == pytest.approx(0.0, abs=1e-3)
    assert f[Feature.BODY_LINE] == pytest.approx(0.0, abs=1e-3)
    assert f[Feature.TORSO_INCLINE] == pytest.approx(0.0, abs=1e-3)
    assert f[Feature.ELBOW_MEAN] == pytest.approx(90.0)


def test_body_line_sign_follows_the_chest() -> None:
    p = standing()
    sag = p.copy()
    sag[[H36M.PELVIS, H36M.L_HIP, H36M.R_HIP]] += (0, 0, -0.1)  # hips toward the camera = the chest's side
    pike = p.copy()
    pike[[H36M.PELVIS, H36M.L_HIP, H36M.R_HIP]] += (0, 0, 0.1)
    f = compute_features(np.stack([sag, pike]))
    assert f[0, Feature.BODY_LINE] > 10 and f[1, Feature.BODY_LINE] < -10
    assert f[0, Feature.BODY_LINE] == pytest.approx(-f[1, Feature.BODY_LINE])


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    t = np.radians(degrees)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def test_features_ignore_camera_position_and_zoom() -> None:
    rng = np.random.default_rng(3)
    p = standing() + rng.normal(0, 0.02, size=(17, 3))
    base = compute_features(p[None])[0]
    yaw = (p @ rotation(np.array([0, 1.0, 0]), 73).T) * 2.5 + (0.3, -0.1, 4.0)  # walk around, zoom, move
    np.testing.assert_allclose(compute_features(yaw[None])[0], base, atol=1e-8)
    tilt = p @ rotation(np.array([1.0, 0.2, 0.3]), 40).T * 0.7
    tilted = compute_features(tilt[None])[0]
    body = [f for f in Feature if f not in CAMERA_VERTICAL]
    np.testing.assert_allclose(tilted[body], base[body], atol=1e-8)
    for column in CAMERA_VERTICAL:  # the columns measured against the camera's vertical
        assert abs(tilted[column] - base[column]) > 5, column


def test_missing_pose_gives_nan_and_shape_is_checked() -> None:
    f = compute_features(np.stack([standing(), np.full((17, 3), np.nan)]))
    assert np.isfinite(f[0]).all() and np.isnan(f[1]).all()
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        compute_features(np.zeros((17, 3)))
