"""View- and scale-invariant features of a 3D pose: joint angles and body-frame angles, in degrees.

Everything here is an angle between body segments or between a segment and the body's own frame,
so it does not change when the camera moves around the person, zooms, or cuts: the features of
the same movement filmed from the side and from the front agree. The exceptions (``CAMERA_VERTICAL``)
are measured against the camera's vertical and assume an upright camera: ``TORSO_INCLINE`` for the
posture gate (it tells lying from standing, which no body-internal angle can), and the heights
``SHOULDER_HEIGHT`` and ``HIP_HEIGHT``, second depth signals that a turned camera does not shrink.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
from numba import njit

from lifting.joints import H36M, Extra


class Feature(IntEnum):
    """Columns of the feature matrix. All in degrees."""

    ELBOW_L = 0
    """Left elbow flexion: 180 straight arm, smaller when bent."""
    ELBOW_R = 1
    """Right elbow flexion."""
    SHOULDER_L = 2
    """Left arm against the torso (hip-shoulder-elbow angle)."""
    SHOULDER_R = 3
    """Right arm against the torso."""
    ARM_ABDUCTION_L = 4
    """Left upper arm out of the body's sagittal plane (elbow flare)."""
    ARM_ABDUCTION_R = 5
    """Right upper arm out of the sagittal plane."""
    HIP_L = 6
    """Left hip angle (shoulder-hip-knee): 180 straight body, smaller when folded."""
    HIP_R = 7
    """Right hip angle."""
    KNEE_L = 8
    """Left knee flexion: 180 straight leg."""
    KNEE_R = 9
    """Right knee flexion."""
    BODY_LINE = 10
    """Hips off the shoulder-ankle line, signed: + toward the body's front (sag in a push-up), - back."""
    TORSO_INCLINE = 11
    """Torso (pelvis -> thorax) against the camera's up axis: 0 upright, 90 lying. View-dependent."""
    ELBOW_MEAN = 12
    """Mean of both elbows."""
    KNEE_MEAN = 13
    """Mean of both knees."""
    HIP_MEAN = 14
    """Mean of both hip angles."""
    SHOULDER_HEIGHT = 15
    """Shoulders above the wrists, as an angle: asin(height / arm length), 90 = arms straight under the
    shoulders, 0 = shoulders down at the hands' height. Against the camera's vertical (like
    ``TORSO_INCLINE``), so it needs an upright camera; a second push-up depth signal that does not
    shrink when the camera turns, as the elbow angle does."""
    HIP_HEIGHT = 16
    """Hips above the knees, as an angle: asin(height / thigh length), 90 = standing, 0 = thighs
    parallel to the floor, negative below. Against the camera's vertical; a second squat depth signal."""
    KNEE_VALGUS = 17
    """The knee that sits further inside its hip-ankle line, toward the body's midline (knees caving in),
    as the angle it makes seen from the middle of that line; negative: bowed out. In the body's frame
    (seen best from the front or back: from the side the inward shift runs along the camera's depth)."""
    ARM_ABDUCTION_MAX = 18
    """The more flared upper arm (the larger of ``ARM_ABDUCTION_L`` and ``_R``): elbows out toward a T
    in a push-up. Judged only with both arms seen (from the front), a hidden arm's guess would decide it."""
    SHOULDER_MEAN = 19
    """Mean of both arms against the torso (``SHOULDER_L``/``_R``): about 10 with the arms hanging, 90 raised
    to shoulder height (forward or sideways), 170-180 overhead: a raise's or a jumping jack's driver."""
    ELBOW_MIN = 20
    """The more bent elbow (the smaller of ``ELBOW_L`` and ``_R``): drives curls done with both arms or one
    arm at a time (an alternating curl bends one elbow while the other hangs straight)."""
    LEG_SPREAD = 21
    """How far the legs open sideways: each hip-to-ankle line's angle out along the body's left axis,
    summed over both legs (0 with the feet under the hips, about 30-45 in a jumping jack's open
    position; negative with the feet crossed in)."""


NUM_FEATURES = len(Feature)

CAMERA_VERTICAL: frozenset[Feature] = frozenset({Feature.TORSO_INCLINE, Feature.SHOULDER_HEIGHT, Feature.HIP_HEIGHT})
"""The columns measured against the camera's vertical (they assume an upright camera); every other
column is an angle between body segments or against the body's own frame."""

BODY_PARTS: dict[str, tuple[Feature, ...]] = {
    "left_arm": (Feature.ELBOW_L, Feature.SHOULDER_L, Feature.ARM_ABDUCTION_L),
    "right_arm": (Feature.ELBOW_R, Feature.SHOULDER_R, Feature.ARM_ABDUCTION_R),
    "left_leg": (Feature.HIP_L, Feature.KNEE_L),
    "right_leg": (Feature.HIP_R, Feature.KNEE_R),
    "core": (Feature.BODY_LINE,),
}
"""Body parts and the features that describe them (used for per-part scores)."""

JointGroup = tuple[str, tuple[H36M, ...]]
"""A named set of joints of which at least one must be seen (e.g. ``("ankles", (L_ANKLE, R_ANKLE))``)."""

FEATURE_JOINTS: dict[Feature, tuple[JointGroup, ...]] = {
    Feature.ELBOW_L: (
        ("left shoulder", (H36M.L_SHOULDER,)),
        ("left elbow", (H36M.L_ELBOW,)),
        ("left wrist", (H36M.L_WRIST,)),
    ),
    Feature.ELBOW_R: (
        ("right shoulder", (H36M.R_SHOULDER,)),
        ("right elbow", (H36M.R_ELBOW,)),
        ("right wrist", (H36M.R_WRIST,)),
    ),
    Feature.SHOULDER_L: (
        ("left hip", (H36M.L_HIP,)),
        ("left shoulder", (H36M.L_SHOULDER,)),
        ("left elbow", (H36M.L_ELBOW,)),
    ),
    Feature.SHOULDER_R: (
        ("right hip", (H36M.R_HIP,)),
        ("right shoulder", (H36M.R_SHOULDER,)),
        ("right elbow", (H36M.R_ELBOW,)),
    ),
    Feature.ARM_ABDUCTION_L: (
        ("left shoulder", (H36M.L_SHOULDER,)),
        ("left elbow", (H36M.L_ELBOW,)),
        ("hips", (H36M.L_HIP, H36M.R_HIP)),
    ),
    Feature.ARM_ABDUCTION_R: (
        ("right shoulder", (H36M.R_SHOULDER,)),
        ("right elbow", (H36M.R_ELBOW,)),
        ("hips", (H36M.L_HIP, H36M.R_HIP)),
    ),
    Feature.HIP_L: (("left shoulder", (H36M.L_SHOULDER,)), ("left hip", (H36M.L_HIP,)), ("left knee", (H36M.L_KNEE,))),
    Feature.HIP_R: (
        ("right shoulder", (H36M.R_SHOULDER,)),
        ("right hip", (H36M.R_HIP,)),
        ("right knee", (H36M.R_KNEE,)),
    ),
    Feature.KNEE_L: (("left hip", (H36M.L_HIP,)), ("left knee", (H36M.L_KNEE,)), ("left ankle", (H36M.L_ANKLE,))),
    Feature.KNEE_R: (("right hip", (H36M.R_HIP,)), ("right knee", (H36M.R_KNEE,)), ("right ankle", (H36M.R_ANKLE,))),
    Feature.BODY_LINE: (
        ("shoulders", (H36M.L_SHOULDER, H36M.R_SHOULDER)),
        ("hips", (H36M.L_HIP, H36M.R_HIP)),
        ("ankles", (H36M.L_ANKLE, H36M.R_ANKLE)),
    ),
    Feature.TORSO_INCLINE: (("shoulders", (H36M.L_SHOULDER, H36M.R_SHOULDER)), ("hips", (H36M.L_HIP, H36M.R_HIP))),
    Feature.ELBOW_MEAN: (("elbows", (H36M.L_ELBOW, H36M.R_ELBOW)), ("wrists", (H36M.L_WRIST, H36M.R_WRIST))),
    Feature.KNEE_MEAN: (("knees", (H36M.L_KNEE, H36M.R_KNEE)), ("ankles", (H36M.L_ANKLE, H36M.R_ANKLE))),
    Feature.HIP_MEAN: (("hips", (H36M.L_HIP, H36M.R_HIP)), ("knees", (H36M.L_KNEE, H36M.R_KNEE))),
    Feature.SHOULDER_HEIGHT: (
        ("shoulders", (H36M.L_SHOULDER, H36M.R_SHOULDER)),
        ("wrists", (H36M.L_WRIST, H36M.R_WRIST)),
    ),
    Feature.HIP_HEIGHT: (("hips", (H36M.L_HIP, H36M.R_HIP)), ("knees", (H36M.L_KNEE, H36M.R_KNEE))),
    Feature.ARM_ABDUCTION_MAX: (
        ("left shoulder", (H36M.L_SHOULDER,)),
        ("right shoulder", (H36M.R_SHOULDER,)),
        ("left elbow", (H36M.L_ELBOW,)),
        ("right elbow", (H36M.R_ELBOW,)),
        ("hips", (H36M.L_HIP, H36M.R_HIP)),
    ),
    Feature.SHOULDER_MEAN: (
        ("hips", (H36M.L_HIP, H36M.R_HIP)),
        ("shoulders", (H36M.L_SHOULDER, H36M.R_SHOULDER)),
        ("elbows", (H36M.L_ELBOW, H36M.R_ELBOW)),
    ),
    Feature.ELBOW_MIN: (
        ("left elbow", (H36M.L_ELBOW,)),
        ("right elbow", (H36M.R_ELBOW,)),
        ("wrists", (H36M.L_WRIST, H36M.R_WRIST)),
    ),
    Feature.LEG_SPREAD: (
        ("hips", (H36M.L_HIP, H36M.R_HIP)),
        ("left ankle", (H36M.L_ANKLE,)),
        ("right ankle", (H36M.R_ANKLE,)),
    ),
    Feature.KNEE_VALGUS: (
        ("left hip", (H36M.L_HIP,)),
        ("right hip", (H36M.R_HIP,)),
        ("left knee", (H36M.L_KNEE,)),
        ("right knee", (H36M.R_KNEE,)),
        ("left ankle", (H36M.L_ANKLE,)),
        ("right ankle", (H36M.R_ANKLE,)),
    ),
}
"""What must be seen for a feature to be judged: every group, by at least one of its joints (in a side
view the far arm or leg is hidden, but the midpoint of a pair is still well placed by the near one)."""

VISIBLE_SCORE = 0.5
"""A joint whose 2D confidence reaches this was seen (MediaPipe's visibility is the likelihood that the
landmark is visible in the picture, so 0.5 is its even-odds point); below, it was guessed."""


def visible_frames(visibility: np.ndarray, feature: Feature) -> tuple[np.ndarray, list[str]]:
    """Frames in which ``feature`` can be judged, and the names of the groups never seen.

    Args:
        visibility: ``(n, 17)`` joint confidences in [0, 1], H36M order.
    Returns:
        ``(n,)`` bool, and the names of the joint groups missing in every frame (empty when some frame is fine).
    """
    seen = visibility >= VISIBLE_SCORE
    ok = np.ones(visibility.shape[0], dtype=bool)
    never: list[str] = []
    for name, joints in FEATURE_JOINTS[feature]:
        group = seen[:, list(joints)].any(axis=1)
        ok &= group
        if not group.any():
            never.append(name)
    return ok, never


def unseen_groups(visibility: np.ndarray, feature: Feature) -> list[str]:
    """The joint groups of ``feature`` seen in fewer than half of the given frames (``(n, 17)``
    confidences), by name: what kept a rule from being judged there."""
    seen = visibility >= VISIBLE_SCORE
    return [name for name, joints in FEATURE_JOINTS[feature] if seen[:, list(joints)].any(axis=1).mean() < 0.5]


SYMMETRIC_PAIRS: dict[str, tuple[Feature, Feature]] = {
    "elbows": (Feature.ELBOW_L, Feature.ELBOW_R),
    "shoulders": (Feature.SHOULDER_L, Feature.SHOULDER_R),
    "hips": (Feature.HIP_L, Feature.HIP_R),
    "knees": (Feature.KNEE_L, Feature.KNEE_R),
}
"""Left/right feature pairs (used for symmetry)."""


@njit(nogil=True, cache=True, inline="always")
def _angle3(p: np.ndarray, a: int, b: int, c: int) -> float:
    """Angle at joint b between b->a and b->c, degrees; p is one (17, 3) pose."""
    ux, uy, uz = p[a, 0] - p[b, 0], p[a, 1] - p[b, 1], p[a, 2] - p[b, 2]
    vx, vy, vz = p[c, 0] - p[b, 0], p[c, 1] - p[b, 1], p[c, 2] - p[b, 2]
    nu = math.sqrt(ux * ux + uy * uy + uz * uz)
    nv = math.sqrt(vx * vx + vy * vy + vz * vz)
    cos = (ux * vx + uy * vy + uz * vz) / max(nu * nv, 1e-12)
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


@njit(nogil=True, cache=True, inline="always")
def _height(p: np.ndarray, top: int, mid: int, end: int) -> float:
    """How far ``top`` is above ``end`` (camera y points down) over the chain top-mid-end's length, as
    an angle in degrees; ``mid == top`` for a single segment."""
    a = math.sqrt((p[mid, 0] - p[top, 0]) ** 2 + (p[mid, 1] - p[top, 1]) ** 2 + (p[mid, 2] - p[top, 2]) ** 2)
    b = math.sqrt((p[end, 0] - p[mid, 0]) ** 2 + (p[end, 1] - p[mid, 1]) ** 2 + (p[end, 2] - p[mid, 2]) ** 2)
    ratio = (p[end, 1] - p[top, 1]) / max(a + b, 1e-12)
    return math.degrees(math.asin(min(1.0, max(-1.0, ratio))))


@njit(nogil=True, cache=True, inline="always")
def _valgus(p: np.ndarray, hip: int, knee: int, ankle: int, mx: float, my: float, mz: float) -> float:
    """How far the knee sits inside the hip-ankle line, toward the body's midline (m: the medial unit
    direction), as the angle it makes seen from the line's middle; degrees, negative outward."""
    ux, uy, uz = p[ankle, 0] - p[hip, 0], p[ankle, 1] - p[hip, 1], p[ankle, 2] - p[hip, 2]
    length = math.sqrt(ux * ux + uy * uy + uz * uz)
    if length < 1e-9:
        return 0.0
    ux, uy, uz = ux / length, uy / length, uz / length
    vx, vy, vz = p[knee, 0] - p[hip, 0], p[knee, 1] - p[hip, 1], p[knee, 2] - p[hip, 2]
    along = vx * ux + vy * uy + vz * uz
    offset = (vx - along * ux) * mx + (vy - along * uy) * my + (vz - along * uz) * mz
    return math.degrees(math.atan2(offset, length / 2))


@njit(nogil=True, cache=True)
def _njit_features(poses: np.ndarray, out: np.ndarray) -> None:
    """poses (T, 17, 3) float64 -> out (T, NUM_FEATURES) float64; see ``Feature`` for the columns."""
    for t in range(poses.shape[0]):
        p = poses[t]
        o = out[t]
        o[Feature.ELBOW_L] = _angle3(p, H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST)
        o[Feature.ELBOW_R] = _angle3(p, H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST)
        o[Feature.SHOULDER_L] = _angle3(p, H36M.L_HIP, H36M.L_SHOULDER, H36M.L_ELBOW)
        o[Feature.SHOULDER_R] = _angle3(p, H36M.R_HIP, H36M.R_SHOULDER, H36M.R_ELBOW)
        o[Feature.HIP_L] = _angle3(p, H36M.L_SHOULDER, H36M.L_HIP, H36M.L_KNEE)
        o[Feature.HIP_R] = _angle3(p, H36M.R_SHOULDER, H36M.R_HIP, H36M.R_KNEE)
        o[Feature.KNEE_L] = _angle3(p, H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE)
        o[Feature.KNEE_R] = _angle3(p, H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE)
        # Body frame: up = pelvis -> thorax; left = R hip -> L hip made orthogonal to up;
        # forward = left x up (the direction the chest faces).
        up = p[H36M.THORAX] - p[H36M.PELVIS]
        up = up / (math.sqrt(up[0] ** 2 + up[1] ** 2 + up[2] ** 2) + 1e-12)
        left = p[H36M.L_HIP] - p[H36M.R_HIP]
        left = left - (left[0] * up[0] + left[1] * up[1] + left[2] * up[2]) * up
        left = left / (math.sqrt(left[0] ** 2 + left[1] ** 2 + left[2] ** 2) + 1e-12)
        fwd = np.empty(3)
        fwd[0] = left[1] * up[2] - left[2] * up[1]
        fwd[1] = left[2] * up[0] - left[0] * up[2]
        fwd[2] = left[0] * up[1] - left[1] * up[0]
        for col, sh, el in (
            (Feature.ARM_ABDUCTION_L, H36M.L_SHOULDER, H36M.L_ELBOW),
            (Feature.ARM_ABDUCTION_R, H36M.R_SHOULDER, H36M.R_ELBOW),
        ):
            arm = p[el] - p[sh]
            norm = math.sqrt(arm[0] ** 2 + arm[1] ** 2 + arm[2] ** 2) + 1e-12
            side = abs(arm[0] * left[0] + arm[1] * left[1] + arm[2] * left[2]) / norm
            o[col] = math.degrees(math.asin(min(1.0, side)))
        o[Feature.ARM_ABDUCTION_MAX] = max(o[Feature.ARM_ABDUCTION_L], o[Feature.ARM_ABDUCTION_R])
        shoulders = (p[H36M.L_SHOULDER] + p[H36M.R_SHOULDER]) / 2
        hips = (p[H36M.L_HIP] + p[H36M.R_HIP]) / 2
        ankles = (p[H36M.L_ANKLE] + p[H36M.R_ANKLE]) / 2
        a = shoulders - hips
        b = ankles - hips
        cos = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / max(
            math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2) * math.sqrt(b[0] ** 2 + b[1] ** 2 + b[2] ** 2), 1e-12
        )
        bend = 180.0 - math.degrees(math.acos(min(1.0, max(-1.0, cos))))
        # Sign: which side of the shoulder-ankle line the hips are on, along the chest's direction.
        line = ankles - shoulders
        line = line / (math.sqrt(line[0] ** 2 + line[1] ** 2 + line[2] ** 2) + 1e-12)
        off = hips - shoulders
        off = off - (off[0] * line[0] + off[1] * line[1] + off[2] * line[2]) * line
        forward = off[0] * fwd[0] + off[1] * fwd[1] + off[2] * fwd[2] >= 0
        o[Feature.BODY_LINE] = bend if forward else -bend
        # Against the camera's up axis (0, -1, 0).
        o[Feature.TORSO_INCLINE] = math.degrees(math.acos(min(1.0, max(-1.0, -up[1]))))
        o[Feature.ELBOW_MEAN] = (o[Feature.ELBOW_L] + o[Feature.ELBOW_R]) / 2
        o[Feature.KNEE_MEAN] = (o[Feature.KNEE_L] + o[Feature.KNEE_R]) / 2
        o[Feature.HIP_MEAN] = (o[Feature.HIP_L] + o[Feature.HIP_R]) / 2
        o[Feature.SHOULDER_HEIGHT] = (
            _height(p, H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST)
            + _height(p, H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST)
        ) / 2
        o[Feature.HIP_HEIGHT] = (
            _height(p, H36M.L_HIP, H36M.L_HIP, H36M.L_KNEE) + _height(p, H36M.R_HIP, H36M.R_HIP, H36M.R_KNEE)
        ) / 2
        o[Feature.SHOULDER_MEAN] = (o[Feature.SHOULDER_L] + o[Feature.SHOULDER_R]) / 2
        o[Feature.ELBOW_MIN] = min(o[Feature.ELBOW_L], o[Feature.ELBOW_R])
        lx, ly, lz = (
            p[H36M.L_ANKLE, 0] - p[H36M.L_HIP, 0],
            p[H36M.L_ANKLE, 1] - p[H36M.L_HIP, 1],
            p[H36M.L_ANKLE, 2] - p[H36M.L_HIP, 2],
        )
        rx, ry, rz = (
            p[H36M.R_ANKLE, 0] - p[H36M.R_HIP, 0],
            p[H36M.R_ANKLE, 1] - p[H36M.R_HIP, 1],
            p[H36M.R_ANKLE, 2] - p[H36M.R_HIP, 2],
        )
        # Only the legs' sideways opening: each leg's component along the body's left axis against its length.
        ln = math.sqrt(lx * lx + ly * ly + lz * lz) + 1e-12
        rn = math.sqrt(rx * rx + ry * ry + rz * rz) + 1e-12
        ls = (lx * left[0] + ly * left[1] + lz * left[2]) / ln
        rs = (rx * left[0] + ry * left[1] + rz * left[2]) / rn
        o[Feature.LEG_SPREAD] = math.degrees(math.asin(min(1.0, max(-1.0, ls)))) - math.degrees(
            math.asin(min(1.0, max(-1.0, rs)))
        )
        o[Feature.KNEE_VALGUS] = max(
            _valgus(p, H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE, -left[0], -left[1], -left[2]),
            _valgus(p, H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE, left[0], left[1], left[2]),
        )


def compute_features(poses: np.ndarray) -> np.ndarray:
    """Features of 3D poses.

    Args:
        poses: ``(T, 17, 3)`` float, metres (any scale), root-relative or not, H36M order, camera
            axes (x right, y down, z away). NaN rows (no person) give NaN features.
    Returns:
        ``(T, NUM_FEATURES)`` float64, degrees, columns as ``Feature``.
    """
    p = np.ascontiguousarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (len(H36M), 3):
        raise ValueError(f"poses must have shape (T, 17, 3), got {p.shape}")
    out = np.empty((p.shape[0], NUM_FEATURES), dtype=np.float64)
    _njit_features(p, out)
    out[~np.isfinite(p).all(axis=(1, 2))] = np.nan  # the kernel's clamps would turn NaN into numbers
    return out


def feature_by_name(name: str) -> Feature:
    """``"elbow_mean"`` -> ``Feature.ELBOW_MEAN``; ValueError naming the choices otherwise."""
    try:
        return Feature[name.upper()]
    except KeyError:
        raise ValueError(f"unknown feature {name!r}; choose one of {[f.name.lower() for f in Feature]}") from None


class ExtraFeature(IntEnum):
    """Measures of the feet (``lifting.joints.Extra``) in the picture, kept apart from ``Feature``: only
    some 2D backends give these points (MediaPipe's BlazePose does, COCO-17 does not). Each is made of
    one or more columns of ``compute_extra_features`` (``EXTRA_COLUMNS``), combined per frame after a
    rule's ``from_start`` is taken per column (``EXTRA_COMBINE``)."""

    HEEL_LIFT = 0
    """How far the heels rose off the floor, as the foot's angle in the picture: heel above its toe,
    ``atan2(toe y - heel y, |toe x - heel x|)``, degrees, about 0 with the foot flat on a level floor
    seen from the side. Judged on both feet: each foot's change from the rep's own start (a rule's
    ``from_start``), then the lower of the two (both heels up; a far foot half hidden behind the near
    leg drifts by itself). Only the side view shows a foot at its true angle."""
    KNEE_OVER_TOES = 1
    """How far a knee travelled past its toes, seen from the side: the angle at the toe tip between the
    vertical and the line to the knee, positive with the knee ahead of the toes (the way the foot
    points), degrees; 0 with the knee straight above the toe tip. The more forward of the two knees."""
    STANCE_WIDTH = 2
    """How far apart the feet stand, seen from the front or the back: the angle at the hips' midpoint
    between the lines to the two heels, degrees. Heels a shoulder width apart (about 0.4 m) under hips
    about 0.9 m above the floor make about 25 deg; feet together, about 8 deg."""


EXTRA_COLUMNS: dict[ExtraFeature, tuple[int, ...]] = {
    ExtraFeature.HEEL_LIFT: (0, 1),
    ExtraFeature.KNEE_OVER_TOES: (2, 3),
    ExtraFeature.STANCE_WIDTH: (4,),
}
"""The columns of ``compute_extra_features`` each extra feature is made of (left and right, or one)."""

EXTRA_COMBINE: dict[ExtraFeature, str] = {
    ExtraFeature.HEEL_LIFT: "min",
    ExtraFeature.KNEE_OVER_TOES: "max",
    ExtraFeature.STANCE_WIDTH: "max",
}
"""How the columns of an extra feature combine in a frame: ``min`` (both must show it) or ``max`` (either)."""

EXTRA_NEEDS: dict[ExtraFeature, str] = {
    ExtraFeature.HEEL_LIFT: "the heels and toes",
    ExtraFeature.KNEE_OVER_TOES: "the knees and toes",
    ExtraFeature.STANCE_WIDTH: "the hips and heels",
}
"""What must be seen for each extra feature, in words (a skipped rule's reason)."""

NUM_EXTRA_FEATURES = 5
"""Columns of ``compute_extra_features``: the left and right foot's angle, the left and right knee's
travel past its toes, the stance's width."""

EXTRA_FEET = ((Extra.L_HEEL, Extra.L_TOE), (Extra.R_HEEL, Extra.R_TOE))

MIN_FOOT_PX = 4.0
"""A foot shorter than this in the picture (pixels, heel to toe) points at the camera: no angle is read."""


def compute_extra_features(
    extras_2d: np.ndarray,
    scores: np.ndarray | None = None,
    keypoints_2d: np.ndarray | None = None,
    joint_scores: np.ndarray | None = None,
) -> np.ndarray:
    """Per-frame measures of the feet in the picture.

    Args:
        extras_2d: ``(T, 6, 2)`` pixels of the upright frame (y down), ``Extra`` order; NaN where not known.
        scores: ``(T, 6)`` their 2D confidence; a point not seen (< ``VISIBLE_SCORE``) is left out.
            None: every point counts as seen.
        keypoints_2d: ``(T, 17, 2)`` the skeleton in the same picture (H36M order), for the knees and
            hips; None: the measures that need them are NaN.
        joint_scores: ``(T, 17)`` the skeleton's 2D confidence; None: every joint counts as seen.
    Returns:
        ``(T, NUM_EXTRA_FEATURES)`` float64 degrees (columns: ``EXTRA_COLUMNS``); NaN where not seen.
    """
    e = np.asarray(extras_2d, dtype=np.float64)
    if e.ndim != 3 or e.shape[1:] != (len(Extra), 2):
        raise ValueError(f"extras_2d must have shape (T, {len(Extra)}, 2), got {e.shape}")
    if scores is not None and np.shape(scores) != e.shape[:2]:
        raise ValueError(f"scores must have shape {e.shape[:2]}, got {np.shape(scores)}")
    n = e.shape[0]
    if keypoints_2d is not None and np.shape(keypoints_2d) != (n, len(H36M), 2):
        raise ValueError(f"keypoints_2d must have shape ({n}, {len(H36M)}, 2), got {np.shape(keypoints_2d)}")
    seen = np.ones((n, len(Extra)), bool) if scores is None else np.asarray(scores) >= VISIBLE_SCORE
    k = None if keypoints_2d is None else np.asarray(keypoints_2d, dtype=np.float64)
    joint_seen = np.ones((n, len(H36M)), bool) if joint_scores is None else np.asarray(joint_scores) >= VISIBLE_SCORE
    out = np.full((n, NUM_EXTRA_FEATURES), np.nan)
    knees = (H36M.L_KNEE, H36M.R_KNEE)
    with np.errstate(invalid="ignore"):
        for side, (heel, toe) in enumerate(EXTRA_FEET):
            rise = e[:, toe, 1] - e[:, heel, 1]  # y grows downward: positive with the heel above the toe
            along = e[:, toe, 0] - e[:, heel, 0]
            foot = seen[:, heel] & seen[:, toe] & (np.hypot(rise, along) >= MIN_FOOT_PX)
            out[foot, side] = np.degrees(np.arctan2(rise, np.abs(along)))[foot]
            if k is None:
                continue
            knee = k[:, knees[side]]
            ahead = (knee[:, 0] - e[:, toe, 0]) * np.sign(along)  # toward where the foot points
            above = e[:, toe, 1] - knee[:, 1]
            ok = foot & joint_seen[:, knees[side]] & (np.abs(along) >= MIN_FOOT_PX)
            out[ok, 2 + side] = np.degrees(np.arctan2(ahead, above))[ok]
        if k is not None:
            hips = (k[:, H36M.L_HIP] + k[:, H36M.R_HIP]) / 2
            a, b = e[:, Extra.L_HEEL] - hips, e[:, Extra.R_HEEL] - hips
            cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            ok = seen[:, Extra.L_HEEL] & seen[:, Extra.R_HEEL] & joint_seen[:, H36M.L_HIP] & joint_seen[:, H36M.R_HIP]
            out[ok, 4] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))[ok]
    return out


def resolve_feature(name: str) -> Feature | ExtraFeature:
    """A rule's angle by name, among ``Feature`` and ``ExtraFeature``; ValueError naming the choices."""
    try:
        return feature_by_name(name)
    except ValueError:
        try:
            return ExtraFeature[name.upper()]
        except KeyError:
            names = [f.name.lower() for f in Feature] + [f.name.lower() for f in ExtraFeature]
            raise ValueError(f"unknown feature {name!r}; choose one of {names}") from None


IMAGE_ANGLES: dict[Feature, tuple[tuple[H36M, H36M, H36M], tuple[H36M, H36M, H36M]]] = {
    Feature.ELBOW_MEAN: ((H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST), (H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST)),
    Feature.KNEE_MEAN: ((H36M.L_HIP, H36M.L_KNEE, H36M.L_ANKLE), (H36M.R_HIP, H36M.R_KNEE, H36M.R_ANKLE)),
}
"""Driving angles that can also be read in the picture: the (left, right) joint triples of each."""


_ELBOWS = ((H36M.L_SHOULDER, H36M.L_ELBOW, H36M.L_WRIST), (H36M.R_SHOULDER, H36M.R_ELBOW, H36M.R_WRIST))
FOCUS_TRIPLES: dict[Feature, tuple[tuple[H36M, H36M, H36M], ...]] = {
    **IMAGE_ANGLES,
    Feature.ELBOW_MIN: _ELBOWS,
    Feature.ELBOW_L: _ELBOWS[:1],
    Feature.ELBOW_R: _ELBOWS[1:],
}
"""The joint triples whose bending each driving angle measures (a curl's elbows). Not the angles made
with the hips (a raise's or a press's shoulders, a bridge's hips): framed from the waist up, the hips are
guessed and a person's movement is only counted where the joints were seen (``lifting.people``), so
every limb is watched for those instead."""


def focus_joints(driver: str) -> tuple[tuple[H36M, H36M, H36M], ...]:
    """The joint triples whose bending drives an exercise (a push-up's elbows): how the coach tells the
    person exercising from others in the picture (``lifting.people``); () when the driver is not one of
    ``FOCUS_TRIPLES`` (every limb is then watched)."""
    return FOCUS_TRIPLES.get(feature_by_name(driver), ())


def image_angle(keypoints_2d: np.ndarray, scores: np.ndarray | None, feature: Feature) -> float:
    """``feature`` measured in the picture, on the side the camera sees better; NaN when it cannot be.

    From the side, a push-up's elbows and a squat's knees bend in a plane that faces the camera, so
    the angle between the 2D segments is the joint's angle itself, without the depth guess the 3D
    lifter adds (on a close, cropped side view MediaPipe's world landmarks put the near elbow 20 deg
    straighter than the picture shows, and the hidden far arm straighter still). Only meaningful for
    a side view; the caller checks that.

    Args:
        keypoints_2d: ``(17, 2)`` pixels, H36M order.
        scores: ``(17,)`` joint confidences (None: all seen).
        feature: a key of ``IMAGE_ANGLES``.
    Returns:
        Degrees (180 straight), or NaN when no side's three joints were all seen (``VISIBLE_SCORE``).
    """
    best, best_seen = math.nan, -1.0
    for a, b, c in IMAGE_ANGLES[feature]:
        seen = 1.0 if scores is None else float(min(scores[a], scores[b], scores[c]))
        if seen < VISIBLE_SCORE or seen <= best_seen:
            continue
        u, v = keypoints_2d[a] - keypoints_2d[b], keypoints_2d[c] - keypoints_2d[b]
        norm = float(np.hypot(*u) * np.hypot(*v))
        if not norm > 0:
            continue
        cos = float(u[0] * v[0] + u[1] * v[1]) / norm
        best, best_seen = math.degrees(math.acos(min(1.0, max(-1.0, cos)))), seen
    return best
