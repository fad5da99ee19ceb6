"""Frozen messages that cross the stage boundaries of the pose pipeline.

Arrays inside them are read-only and checked on construction, so a stage can trust what it gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUM_JOINTS = 17
NUM_EXTRAS = 6
"""Feet and hands kept beside the joints (``lifting.joints.Extra``)."""


def _frozen_array(value: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.array(value, dtype=np.float32, copy=True)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Pose2D:
    """One frame's 2D pose of one person, H36M-17 order.

    A frame where the backend found nobody is still a Pose2D, with ``detected=False``, NaN
    keypoints and zero scores: frames are never dropped silently.
    """

    keypoints: np.ndarray
    """(17, 2) float32, pixels of the upright frame (x right, y down), H36M order; NaN if not detected."""
    scores: np.ndarray
    """(17,) float32 in [0, 1], per-joint confidence; 0 if not detected."""
    timestamp_ms: float
    """Presentation time of the source frame in milliseconds (from the container's pts or the track)."""
    image_size: tuple[int, int]
    """(width, height) in pixels of the upright frame the keypoints refer to."""
    detected: bool = True
    """False when no person was found in the frame."""
    world: np.ndarray | None = field(default=None)
    """(17, 3) float32, metres, root-relative, H36M order, camera-aligned axes (x right, y down,
    z away from the camera), when the backend estimates metric 3D itself (MediaPipe); else None."""
    extras: np.ndarray | None = field(default=None)
    """(6, 2) float32 pixels of the feet and hands (``lifting.joints.Extra`` order) when the backend
    gives them (BlazePose); None for a backend without them (COCO-17 has no feet)."""
    extra_scores: np.ndarray | None = field(default=None)
    """(6,) float32 in [0, 1], their confidence; None with ``extras``."""
    extras_world: np.ndarray | None = field(default=None)
    """(6, 3) float32 metres, relative to the same pelvis and axes as ``world``; None without them."""
    person: int = 0
    """Which person this is, an id that persists across the frames of a stream (``lifting.people``);
    0 for a backend that finds one person."""
    people: int = 1
    """How many people the backend found in the frame (1 for a backend that looks for one)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "keypoints", _frozen_array(self.keypoints, (NUM_JOINTS, 2), "keypoints"))
        object.__setattr__(self, "scores", _frozen_array(self.scores, (NUM_JOINTS,), "scores"))
        if self.world is not None:
            object.__setattr__(self, "world", _frozen_array(self.world, (NUM_JOINTS, 3), "world"))
        for name, shape in (
            ("extras", (NUM_EXTRAS, 2)),
            ("extra_scores", (NUM_EXTRAS,)),
            ("extras_world", (NUM_EXTRAS, 3)),
        ):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _frozen_array(getattr(self, name), shape, name))
        width, height = self.image_size
        if width <= 0 or height <= 0:
            raise ValueError(f"image_size must be positive (width, height), got {self.image_size}")
        object.__setattr__(self, "image_size", (int(width), int(height)))
        if not np.isfinite(self.timestamp_ms):
            raise ValueError(f"timestamp_ms must be finite, got {self.timestamp_ms}")

    @classmethod
    def missing(cls, timestamp_ms: float, image_size: tuple[int, int]) -> Pose2D:
        """The marker for a frame in which nobody was found."""
        return cls(
            keypoints=np.full((NUM_JOINTS, 2), np.nan, dtype=np.float32),
            scores=np.zeros(NUM_JOINTS, dtype=np.float32),
            timestamp_ms=timestamp_ms,
            image_size=image_size,
            detected=False,
        )


@dataclass(frozen=True)
class Pose3D:
    """One frame's 3D pose, root-relative, H36M-17 order."""

    joints: np.ndarray
    """(17, 3) float32, metres, root-relative (pelvis at 0), camera axes (x right, y down, z forward),
    H36M order; NaN when the frame had no person."""
    timestamp_ms: float
    """Source timestamp of the frame this pose belongs to, in milliseconds."""
    lifter: str
    """Name of the lifter that made it (e.g. ``poseformerv2``, ``mediapipe-world``)."""
    detected: bool = True
    """False when the frame had no person (joints are NaN)."""
    scores: np.ndarray | None = field(default=None)
    """(17,) float32 in [0, 1]: the 2D backend's confidence in each joint of the frame it was lifted
    from (whether the joint was seen, not guessed), H36M order; None when unknown."""
    extras: np.ndarray | None = field(default=None)
    """(6, 3) float32 metres, the feet and hands (``lifting.joints.Extra`` order) in the same frame as
    ``joints``; None when the lifter does not give them (PoseFormerV2 lifts the 17 joints only)."""
    extra_scores: np.ndarray | None = field(default=None)
    """(6,) float32 in [0, 1], their 2D confidence; None when the backend gives no feet and hands."""
    person: int = 0
    """The id of the person followed in this frame (``Pose2D.person``): a change mid-set is reported."""
    keypoints_2d: np.ndarray | None = field(default=None)
    """(17, 2) float32 pixels: the 2D pose this one was lifted from (H36M order); None when unknown.
    From the side, the picture shows a push-up's elbows or a squat's knees without the lifter's
    depth guess, so the scoring reads depth from it too (``scoring.features.image_angle``)."""
    extras_2d: np.ndarray | None = field(default=None)
    """(6, 2) float32 pixels: the feet and hands in the picture (``Pose2D.extras``), whatever the
    lifter; None when the backend gives none. From the side the picture shows a heel leave the floor
    without the lifter's depth guess (``scoring.features.compute_extra_features``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", _frozen_array(self.joints, (NUM_JOINTS, 3), "joints"))
        shapes = (
            ("scores", (NUM_JOINTS,)),
            ("extras", (NUM_EXTRAS, 3)),
            ("extra_scores", (NUM_EXTRAS,)),
            ("keypoints_2d", (NUM_JOINTS, 2)),
            ("extras_2d", (NUM_EXTRAS, 2)),
        )
        for name, shape in shapes:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _frozen_array(getattr(self, name), shape, name))

    @classmethod
    def missing(cls, timestamp_ms: float, lifter: str) -> Pose3D:
        """The marker for a frame in which nobody was found."""
        return cls(np.full((NUM_JOINTS, 3), np.nan, dtype=np.float32), timestamp_ms, lifter, detected=False)
