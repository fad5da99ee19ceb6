"""Where the camera sees the person from, estimated from the 3D skeleton alone.

The camera looks along +z (camera axes: x right, y down, z away). In the body's own frame (``up`` =
pelvis -> thorax; ``left`` = right -> left hip and shoulder, made orthogonal to ``up``; ``forward`` =
``left`` x ``up``, where the chest faces) the viewing direction has one component per axis. Which body
axis is vertical depends on the exercise (``up`` standing, ``forward`` in a push-up: the chest faces
the floor); ``gravity_axis`` finds it from a reference filmed with an upright camera. Then:

- ``overhead``: the camera looks along the vertical body axis (|component| >= ``OVERHEAD_COS``, within
  about 45 deg): from above (or below). For a prone exercise only with the back toward the camera:
  a chest facing the camera along that axis is somebody upright in front of it, a ``front`` view;
- ``side``: along the left-right axis within about 37 deg (|left| >= ``SIDE_COS``);
- ``oblique``: the left-right axis between about 37 and 66 deg from the viewing direction
  (|left| >= ``OBLIQUE_COS``);
- ``front`` / ``back``: the remaining horizontal axis toward / away from the camera (for a standing
  person the chest; for a push-up the head: a phone on the floor ahead of you films the "front").

Measured on the shared clips (MediaPipe world landmarks, median |left|): labelled side views 0.85-0.99,
the labelled 45 deg oblique and rear-oblique views 0.51-0.69, front-oblique views (20-30 deg) 0.51-0.58,
front views 0.04-0.17: the thresholds sit between those groups.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from typing import Literal

import numpy as np
from numba import njit

from lifting.joints import H36M

CameraView = Literal["side", "oblique", "front", "back", "overhead"]
"""Where the camera sees the person from."""

VIEWS: tuple[CameraView, ...] = ("side", "oblique", "front", "back", "overhead")
"""Every view told apart."""

JUDGED_VIEWS: tuple[CameraView, ...] = ("side", "oblique", "front", "back")
"""Where a fault rule can be judged unless it says otherwise (not from above: the body hides itself)."""

VIEW_WORDS: dict[CameraView, str] = {
    "side": "from the side",
    "oblique": "at an angle",
    "front": "from the front",
    "back": "from behind",
    "overhead": "from above",
}

BodyAxis = Literal["left", "up", "forward"]

SIDE_COS = 0.8
OBLIQUE_COS = 0.4
OVERHEAD_COS = 0.7


def body_axes(joints: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` unit rows ``left``, ``up``, ``forward`` of ``(..., 17, 3)`` poses (camera axes);
    NaN where the pose is degenerate."""
    up = joints[..., H36M.THORAX, :] - joints[..., H36M.PELVIS, :]
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    left = (joints[..., H36M.L_SHOULDER, :] - joints[..., H36M.R_SHOULDER, :]) + (
        joints[..., H36M.L_HIP, :] - joints[..., H36M.R_HIP, :]
    )
    left = left - np.sum(left * up, axis=-1, keepdims=True) * up
    left = left / np.linalg.norm(left, axis=-1, keepdims=True)
    forward = np.cross(left, up)
    return np.stack([left, up, forward], axis=-2)


def vertical_axis(joints: np.ndarray) -> BodyAxis | None:
    """The body axis closest to the camera's vertical in one ``(17, 3)`` pose (an upright camera): ``up``
    standing, ``forward`` lying face down or up, ``left`` lying on a side; None when degenerate."""
    axes = body_axes(np.asarray(joints, dtype=np.float64))
    vertical = np.abs(axes[:, 1])
    if not np.isfinite(vertical).all():
        return None
    names: tuple[BodyAxis, ...] = ("left", "up", "forward")
    return names[int(np.argmax(vertical))]


def gravity_axis(joints: np.ndarray) -> BodyAxis:
    """The body axis closest to the camera's vertical over ``(T, 17, 3)`` poses filmed with an upright
    camera (a reference): ``up`` for standing exercises, ``forward`` for a push-up."""
    axes = body_axes(np.asarray(joints, dtype=np.float64))
    vertical = np.nanmedian(np.abs(axes[..., 1]), axis=0)  # |y| of left, up, forward
    names: tuple[BodyAxis, ...] = ("left", "up", "forward")
    return names[int(np.nanargmax(vertical))]


@njit(nogil=True, cache=True, error_model="numpy")  # a degenerate pose gives NaN, not an exception
def _njit_view_components(p: np.ndarray) -> tuple[float, float, float]:
    """The viewing direction (0, 0, 1) in the body frame of one (17, 3) float64 pose: the z of the
    ``left``, ``up`` and ``forward`` unit axes (as ``body_axes``; NaN when degenerate)."""
    ux = p[H36M.THORAX, 0] - p[H36M.PELVIS, 0]
    uy = p[H36M.THORAX, 1] - p[H36M.PELVIS, 1]
    uz = p[H36M.THORAX, 2] - p[H36M.PELVIS, 2]
    n = math.sqrt(ux * ux + uy * uy + uz * uz)
    ux, uy, uz = ux / n, uy / n, uz / n
    lx = p[H36M.L_SHOULDER, 0] - p[H36M.R_SHOULDER, 0] + p[H36M.L_HIP, 0] - p[H36M.R_HIP, 0]
    ly = p[H36M.L_SHOULDER, 1] - p[H36M.R_SHOULDER, 1] + p[H36M.L_HIP, 1] - p[H36M.R_HIP, 1]
    lz = p[H36M.L_SHOULDER, 2] - p[H36M.R_SHOULDER, 2] + p[H36M.L_HIP, 2] - p[H36M.R_HIP, 2]
    d = lx * ux + ly * uy + lz * uz
    lx, ly, lz = lx - d * ux, ly - d * uy, lz - d * uz
    m = math.sqrt(lx * lx + ly * ly + lz * lz)
    lx, ly, lz = lx / m, ly / m, lz / m
    forward_z = lx * uy - ly * ux  # z of left x up
    return lz, uz, forward_z


def warm_up() -> None:
    """Compile (or load from Numba's cache) the view kernel."""
    _njit_view_components(np.ones((17, 3)))


def classify(joints: np.ndarray, gravity: BodyAxis) -> CameraView | None:
    """The view of one ``(17, 3)`` pose (camera axes), or None when the skeleton is degenerate."""
    c_left, c_up, c_forward = _njit_view_components(np.ascontiguousarray(joints, dtype=np.float64))
    if not (math.isfinite(c_left) and math.isfinite(c_up) and math.isfinite(c_forward)):
        return None
    along = {"left": c_left, "up": c_up, "forward": c_forward}
    if abs(along[gravity]) >= OVERHEAD_COS:
        if gravity == "forward" and c_forward < 0:
            # The chest toward the camera: a prone body seen from below cannot be, so this is somebody
            # upright facing the camera (not in the exercise's posture yet): a front view.
            return "front"
        return "overhead"
    if gravity != "left":
        if abs(c_left) >= SIDE_COS:
            return "side"
        if abs(c_left) >= OBLIQUE_COS:
            return "oblique"
    facing = {"up": c_forward, "forward": c_up, "left": c_forward}[gravity]
    return "front" if facing < 0 else "back"


class ViewTracker:
    """The view over the last frames: the majority of ``history`` frames, changed only when another
    view holds the majority (so the guidance built on it does not flicker)."""

    def __init__(self, gravity: BodyAxis, history: int = 30) -> None:
        self.gravity = gravity
        self._recent: deque[CameraView] = deque(maxlen=history)
        self.view: CameraView | None = None
        """The settled view (None until ``history // 2`` frames agreed)."""

    def add(self, joints: np.ndarray | None) -> CameraView | None:
        """The next pose (None when nobody was seen); returns the settled view."""
        view = classify(joints, self.gravity) if joints is not None else None
        if view is not None:
            self._recent.append(view)
        if self._recent:
            top, count = Counter(self._recent).most_common(1)[0]
            if count * 2 > len(self._recent) and count >= (self._recent.maxlen or 2) // 2:
                self.view = top
        return self.view

    def reset(self) -> None:
        self._recent.clear()
        self.view = None


def majority_view(views: list[CameraView | None]) -> CameraView | None:
    """The most frequent view of a rep's frames (None when none was estimated)."""
    known = [v for v in views if v is not None]
    return Counter(known).most_common(1)[0][0] if known else None
