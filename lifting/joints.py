"""Joint sets (H36M-17, COCO-17, BlazePose-33), their skeletons, and conversions between them.

Every conversion works on arrays whose last two axes are (joints, coords), so one frame
``(J, 2)``, a clip ``(T, J, 2)`` and 3D points ``(..., J, 3)`` all go through the same code.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np


class H36M(IntEnum):
    """Human3.6M 17-joint order (VideoPose3D / PoseFormerV2 convention). Joint 0 is the root."""

    PELVIS = 0
    R_HIP = 1
    R_KNEE = 2
    R_ANKLE = 3
    L_HIP = 4
    L_KNEE = 5
    L_ANKLE = 6
    SPINE = 7
    THORAX = 8
    NECK_NOSE = 9
    HEAD = 10
    L_SHOULDER = 11
    L_ELBOW = 12
    L_WRIST = 13
    R_SHOULDER = 14
    R_ELBOW = 15
    R_WRIST = 16


class COCO(IntEnum):
    """COCO 17-keypoint order (HRNet output)."""

    NOSE = 0
    L_EYE = 1
    R_EYE = 2
    L_EAR = 3
    R_EAR = 4
    L_SHOULDER = 5
    R_SHOULDER = 6
    L_ELBOW = 7
    R_ELBOW = 8
    L_WRIST = 9
    R_WRIST = 10
    L_HIP = 11
    R_HIP = 12
    L_KNEE = 13
    R_KNEE = 14
    L_ANKLE = 15
    R_ANKLE = 16


class BlazePose(IntEnum):
    """MediaPipe BlazePose 33-landmark order."""

    NOSE = 0
    L_EYE_INNER = 1
    L_EYE = 2
    L_EYE_OUTER = 3
    R_EYE_INNER = 4
    R_EYE = 5
    R_EYE_OUTER = 6
    L_EAR = 7
    R_EAR = 8
    MOUTH_L = 9
    MOUTH_R = 10
    L_SHOULDER = 11
    R_SHOULDER = 12
    L_ELBOW = 13
    R_ELBOW = 14
    L_WRIST = 15
    R_WRIST = 16
    L_PINKY = 17
    R_PINKY = 18
    L_INDEX = 19
    R_INDEX = 20
    L_THUMB = 21
    R_THUMB = 22
    L_HIP = 23
    R_HIP = 24
    L_KNEE = 25
    R_KNEE = 26
    L_ANKLE = 27
    R_ANKLE = 28
    L_HEEL = 29
    R_HEEL = 30
    L_FOOT_INDEX = 31
    R_FOOT_INDEX = 32


class Extra(IntEnum):
    """Points kept beside H36M-17 when the backend gives them (BlazePose): the feet and the hands,
    so heel lift, knees past toes and stance width can be measured."""

    L_HEEL = 0
    R_HEEL = 1
    L_TOE = 2
    R_TOE = 3
    L_HAND = 4
    R_HAND = 5


NUM_EXTRAS = len(Extra)

BLAZEPOSE_EXTRAS: tuple[BlazePose, ...] = (
    BlazePose.L_HEEL,
    BlazePose.R_HEEL,
    BlazePose.L_FOOT_INDEX,
    BlazePose.R_FOOT_INDEX,
    BlazePose.L_INDEX,
    BlazePose.R_INDEX,
)
"""The BlazePose landmark of each ``Extra`` (the hand is the index finger's tip)."""


H36M_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
"""Parent of each H36M joint (-1 for the root)."""

COCO_PARENTS: tuple[int, ...] = (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14)
"""Parent of each COCO keypoint in a tree rooted at the nose (shoulders hang off the nose)."""

BLAZEPOSE_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0,
    0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16,
    11, 12, 23, 24, 25, 26, 27, 28, 27, 28,
)  # fmt: skip
"""Parent of each BlazePose landmark in a tree rooted at the nose."""

H36M_LEFT: tuple[H36M, ...] = (H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE, H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST)
H36M_RIGHT: tuple[H36M, ...] = (H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE, H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST)

H36M_BONES: tuple[tuple[H36M, H36M], ...] = tuple(
    (H36M(child), H36M(parent)) for child, parent in enumerate(H36M_PARENTS) if parent >= 0
)
"""Bones as (joint, parent) pairs, for drawing a skeleton."""


def h36m_skeleton() -> dict[str, list[Any]]:
    """What a client needs to draw an H36M-17 pose, JSON-ready: ``joints`` (names in index order),
    ``bones`` ([joint, parent] index pairs), ``left`` and ``right`` (indices of each side's joints;
    the rest are the midline)."""
    return {
        "joints": [joint.name.lower() for joint in H36M],
        "bones": [[int(child), int(parent)] for child, parent in H36M_BONES],
        "left": [int(j) for j in H36M_LEFT],
        "right": [int(j) for j in H36M_RIGHT],
    }


H36M_FLIP_PERMUTATION: np.ndarray = np.arange(17)
H36M_FLIP_PERMUTATION[list(H36M_LEFT)] = list(H36M_RIGHT)
H36M_FLIP_PERMUTATION[list(H36M_RIGHT)] = list(H36M_LEFT)
H36M_FLIP_PERMUTATION.setflags(write=False)
"""Index array that swaps every left joint with its right partner (an involution)."""

# BlazePose contains every COCO keypoint; this is the exact index subset.
BLAZEPOSE_TO_COCO_INDEX: np.ndarray = np.array(
    [
        BlazePose.NOSE, BlazePose.L_EYE, BlazePose.R_EYE, BlazePose.L_EAR, BlazePose.R_EAR,
        BlazePose.L_SHOULDER, BlazePose.R_SHOULDER, BlazePose.L_ELBOW, BlazePose.R_ELBOW,
        BlazePose.L_WRIST, BlazePose.R_WRIST, BlazePose.L_HIP, BlazePose.R_HIP,
        BlazePose.L_KNEE, BlazePose.R_KNEE, BlazePose.L_ANKLE, BlazePose.R_ANKLE,
    ],
    dtype=np.intp,
)  # fmt: skip
BLAZEPOSE_TO_COCO_INDEX.setflags(write=False)

# H36M joints copied straight from a COCO keypoint (PoseFormerV2 demo, spec section 8.1 step 1).
_COCO_DIRECT: tuple[tuple[H36M, COCO], ...] = (
    (H36M.NECK_NOSE, COCO.NOSE),
    (H36M.L_SHOULDER, COCO.L_SHOULDER),
    (H36M.R_SHOULDER, COCO.R_SHOULDER),
    (H36M.L_ELBOW, COCO.L_ELBOW),
    (H36M.R_ELBOW, COCO.R_ELBOW),
    (H36M.L_WRIST, COCO.L_WRIST),
    (H36M.R_WRIST, COCO.R_WRIST),
    (H36M.L_HIP, COCO.L_HIP),
    (H36M.R_HIP, COCO.R_HIP),
    (H36M.L_KNEE, COCO.L_KNEE),
    (H36M.R_KNEE, COCO.R_KNEE),
    (H36M.L_ANKLE, COCO.L_ANKLE),
    (H36M.R_ANKLE, COCO.R_ANKLE),
)


def _check_joints(points: np.ndarray, joints: int, name: str) -> None:
    if points.ndim < 2 or points.shape[-2] != joints:
        raise ValueError(f"{name} must have shape (..., {joints}, D), got {points.shape}")


def coco_to_h36m(keypoints: np.ndarray) -> np.ndarray:
    """COCO-17 image points -> H36M-17, exactly as the PoseFormerV2 demo converts them.

    Args:
        keypoints: ``(..., 17, 2)`` COCO order, pixels (x right, y down).
    Returns:
        ``(..., 17, 2)`` float64, H36M order, pixels. The order of the steps matters and follows
        the demo: thorax and spine use the first thorax value, the neck and thorax are adjusted last.
    """
    _check_joints(keypoints, 17, "COCO keypoints")
    if keypoints.shape[-1] != 2:
        raise ValueError(f"COCO keypoints must be 2D (..., 17, 2), got {keypoints.shape}")
    c = np.asarray(keypoints, dtype=np.float64)
    h = np.zeros_like(c)
    for h_joint, c_joint in _COCO_DIRECT:
        h[..., h_joint, :] = c[..., c_joint, :]
    nose = c[..., COCO.NOSE, :]
    eye_y_sum = c[..., COCO.L_EYE, 1] + c[..., COCO.R_EYE, 1]
    h[..., H36M.HEAD, 0] = c[..., [COCO.L_EYE, COCO.R_EYE, COCO.L_EAR, COCO.R_EAR], 0].mean(axis=-1)
    h[..., H36M.HEAD, 1] = eye_y_sum - nose[..., 1]
    shoulder_mid = (c[..., COCO.L_SHOULDER, :] + c[..., COCO.R_SHOULDER, :]) / 2
    thorax = shoulder_mid + (nose - shoulder_mid) / 3
    h[..., H36M.THORAX, :] = thorax
    h[..., H36M.PELVIS, :] = (c[..., COCO.L_HIP, :] + c[..., COCO.R_HIP, :]) / 2
    h[..., H36M.SPINE, :] = c[..., [COCO.L_SHOULDER, COCO.R_SHOULDER, COCO.L_HIP, COCO.R_HIP], :].mean(axis=-2)
    h[..., H36M.NECK_NOSE, :] -= (h[..., H36M.NECK_NOSE, :] - shoulder_mid) / 4
    spine_x = h[..., H36M.SPINE, 0]
    h[..., H36M.SPINE, 0] = spine_x + 2 * (spine_x - (h[..., H36M.PELVIS, 0] + thorax[..., 0]) / 2)
    h[..., H36M.THORAX, 1] -= (eye_y_sum / 2 - nose[..., 1]) * 2 / 3
    return h


def coco_scores_to_h36m(scores: np.ndarray) -> np.ndarray:
    """COCO-17 keypoint scores ``(..., 17)`` -> H36M-17 scores ``(..., 17)`` (spec section 8.2)."""
    if scores.ndim < 1 or scores.shape[-1] != 17:
        raise ValueError(f"COCO scores must have shape (..., 17), got {scores.shape}")
    s = np.asarray(scores, dtype=np.float64)
    out = np.zeros_like(s)
    for h_joint, c_joint in _COCO_DIRECT:
        out[..., h_joint] = s[..., c_joint]
    out[..., H36M.PELVIS] = (s[..., COCO.L_HIP] + s[..., COCO.R_HIP]) / 2
    out[..., H36M.THORAX] = (s[..., COCO.L_SHOULDER] + s[..., COCO.R_SHOULDER]) / 2
    out[..., H36M.SPINE] = (out[..., H36M.PELVIS] + out[..., H36M.THORAX]) / 2
    out[..., H36M.HEAD] = s[..., [COCO.L_EYE, COCO.R_EYE, COCO.L_EAR, COCO.R_EAR]].mean(axis=-1)
    return out


def blazepose_to_coco(landmarks: np.ndarray) -> np.ndarray:
    """BlazePose-33 ``(..., 33, D)`` -> COCO-17 ``(..., 17, D)``: an exact subset, same units."""
    _check_joints(landmarks, 33, "BlazePose landmarks")
    return np.asarray(landmarks)[..., BLAZEPOSE_TO_COCO_INDEX, :]


def blazepose_to_h36m(landmarks: np.ndarray) -> np.ndarray:
    """BlazePose-33 ``(..., 33, D)`` -> H36M-17 ``(..., 17, D)`` float64, same units and frame.

    Used for BlazePose's metric world landmarks (D = 3), where the demo's image-space tweaks
    make no sense. Our choices for the joints H36M has and BlazePose does not:

    - pelvis: midpoint of the two hips (H36M's root is the hip centre);
    - thorax: a third of the way from the shoulder midpoint to the nose, the same geometry the
      PoseFormerV2 demo uses for COCO (H36M's thorax sits at the base of the neck, above the
      shoulder line);
    - spine: midpoint of pelvis and thorax (H36M's spine joint is mid-torso);
    - neck/nose: three quarters of the way from the shoulder midpoint to the nose, as the demo;
    - head (top): the nose mirrored through the midpoint of the eyes and ears, i.e.
      ``2 * mid(eyes, ears) - nose``, which lands on the crown for any head orientation.
    """
    _check_joints(landmarks, 33, "BlazePose landmarks")
    b = np.asarray(landmarks, dtype=np.float64)
    out = np.empty((*b.shape[:-2], 17, b.shape[-1]), dtype=np.float64)
    coco = b[..., BLAZEPOSE_TO_COCO_INDEX, :]
    for h_joint, c_joint in _COCO_DIRECT:
        out[..., h_joint, :] = coco[..., c_joint, :]
    nose = b[..., BlazePose.NOSE, :]
    shoulder_mid = (b[..., BlazePose.L_SHOULDER, :] + b[..., BlazePose.R_SHOULDER, :]) / 2
    pelvis = (b[..., BlazePose.L_HIP, :] + b[..., BlazePose.R_HIP, :]) / 2
    thorax = shoulder_mid + (nose - shoulder_mid) / 3
    head_mid = b[..., [BlazePose.L_EYE, BlazePose.R_EYE, BlazePose.L_EAR, BlazePose.R_EAR], :].mean(axis=-2)
    out[..., H36M.PELVIS, :] = pelvis
    out[..., H36M.THORAX, :] = thorax
    out[..., H36M.SPINE, :] = (pelvis + thorax) / 2
    out[..., H36M.NECK_NOSE, :] = 0.75 * nose + 0.25 * shoulder_mid
    out[..., H36M.HEAD, :] = 2 * head_mid - nose
    return out


def flip_h36m(points: np.ndarray) -> np.ndarray:
    """Mirror H36M points ``(..., 17, D)``: negate x and swap left/right joints. An involution."""
    _check_joints(points, 17, "H36M points")
    out = np.array(points, copy=True)[..., H36M_FLIP_PERMUTATION, :]
    out[..., 0] = -out[..., 0]
    return out
