"""A whole clip's poses as arrays: what the batch pipeline produces and the scoring core reads.

Only NumPy and the pose messages: importing it loads neither torch nor PyAV, so the scoring core can
take a track without pulling in the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lifting.types import NUM_EXTRAS, NUM_JOINTS, Pose2D, Pose3D


def _or_nan(values: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, np.nan, np.float32) if values is None else values


def _or_zero(values: np.ndarray | None) -> np.ndarray:
    return np.zeros(NUM_EXTRAS, np.float32) if values is None else values


@dataclass(frozen=True)
class PoseTrack:
    """A whole clip's poses, one row per decoded frame."""

    keypoints_2d: np.ndarray
    """(T, 17, 2) float32, pixels of the upright source frame, H36M order; NaN where not detected."""
    scores: np.ndarray
    """(T, 17) float32 per-joint confidence in [0, 1]; 0 where not detected."""
    poses_3d: np.ndarray
    """(T, 17, 3) float32, metres, root-relative, camera axes, H36M order; NaN where not detected."""
    timestamps_ms: np.ndarray
    """(T,) float64, strictly increasing source timestamps in milliseconds."""
    detected: np.ndarray
    """(T,) bool, whether a person was found in the frame."""
    backend: str
    """2D backend name."""
    lifter: str
    """Lifter name."""
    image_size: tuple[int, int]
    """(width, height) of the upright source frames."""
    source: str = ""
    """The video the track came from."""
    extras_3d: np.ndarray | None = None
    """(T, 6, 3) float32 metres, the feet and hands (``lifting.joints.Extra``) in the frame of
    ``poses_3d``; NaN where not known; None when the lifter gives none."""
    extra_scores: np.ndarray | None = None
    """(T, 6) float32 the feet and hands' 2D confidence (0 where not known); None when the backend gives
    none."""
    extras_2d: np.ndarray | None = None
    """(T, 6, 2) float32 pixels of the upright source frame, the feet and hands in the picture; NaN where
    not known; None when the backend gives none (COCO-17 has no feet)."""
    person: np.ndarray | None = None
    """(T,) int32 the id of the person followed in each frame (``lifting.people``); None: one person
    looked for (all 0)."""
    people: np.ndarray | None = None
    """(T,) int32 how many people were found in each frame; None: one person looked for."""

    @classmethod
    def from_poses(
        cls, poses_2d: list[Pose2D], poses_3d: list[Pose3D], backend: str, lifter: str, source: str = ""
    ) -> PoseTrack:
        """Stack per-frame messages into arrays."""
        if len(poses_2d) != len(poses_3d):
            raise ValueError(f"{len(poses_2d)} 2D poses but {len(poses_3d)} 3D poses")
        n = len(poses_2d)
        has_extras = any(p.extras is not None for p in poses_3d)
        has_extras_2d = any(p.extras is not None for p in poses_2d)
        several = any(p.person != 0 or p.people > 1 for p in poses_2d)
        return cls(
            keypoints_2d=np.stack([p.keypoints for p in poses_2d]) if n else np.zeros((0, NUM_JOINTS, 2), np.float32),
            scores=np.stack([p.scores for p in poses_2d]) if n else np.zeros((0, NUM_JOINTS), np.float32),
            poses_3d=np.stack([p.joints for p in poses_3d]) if n else np.zeros((0, NUM_JOINTS, 3), np.float32),
            timestamps_ms=np.array([p.timestamp_ms for p in poses_2d], dtype=np.float64),
            detected=np.array([p.detected for p in poses_2d], dtype=bool),
            backend=backend,
            lifter=lifter,
            image_size=poses_2d[0].image_size if n else (0, 0),
            source=source,
            extras_3d=np.stack([_or_nan(p.extras, (NUM_EXTRAS, 3)) for p in poses_3d]) if has_extras else None,
            extra_scores=(
                np.stack([_or_zero(p.extra_scores) for p in poses_2d]) if has_extras or has_extras_2d else None
            ),
            extras_2d=np.stack([_or_nan(p.extras, (NUM_EXTRAS, 2)) for p in poses_2d]) if has_extras_2d else None,
            person=np.array([p.person for p in poses_2d], dtype=np.int32) if several else None,
            people=np.array([p.people if p.detected else 0 for p in poses_2d], dtype=np.int32) if several else None,
        )

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.timestamps_ms.shape[0])

    @property
    def detected_fraction(self) -> float:
        """Share of frames with a person (0 for an empty track)."""
        return float(self.detected.mean()) if self.frames else 0.0

    def save_npz(self, path: str | Path) -> None:
        """Write the arrays and the backend/lifter names to a compressed .npz (``extras_3d``,
        ``extras_2d``, ``extra_scores``, ``person`` and ``people`` only when the track has them)."""
        extras: dict[str, np.ndarray] = {}
        for name in ("extras_3d", "extras_2d", "extra_scores"):
            if getattr(self, name) is not None:
                extras[name] = getattr(self, name)
        if self.person is not None and self.people is not None:
            extras.update(person=self.person, people=self.people)
        np.savez_compressed(
            Path(path),
            **extras,
            keypoints_2d=self.keypoints_2d,
            scores=self.scores,
            poses_3d=self.poses_3d,
            timestamps_ms=self.timestamps_ms,
            detected=self.detected,
            backend=np.array(self.backend),
            lifter=np.array(self.lifter),
            image_size=np.array(self.image_size, dtype=np.int32),
            source=np.array(self.source),
        )

    @classmethod
    def load_npz(cls, path: str | Path) -> PoseTrack:
        """Read a track written by ``save_npz``."""
        with np.load(Path(path)) as data:
            return cls(
                keypoints_2d=data["keypoints_2d"],
                scores=data["scores"],
                poses_3d=data["poses_3d"],
                timestamps_ms=data["timestamps_ms"],
                detected=data["detected"],
                backend=str(data["backend"]),
                lifter=str(data["lifter"]),
                image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
                source=str(data["source"]),
                extras_3d=data.get("extras_3d"),
                extra_scores=data.get("extra_scores"),
                extras_2d=data.get("extras_2d"),
                person=data.get("person"),
                people=data.get("people"),
            )

    def summary(self) -> dict[str, Any]:
        """A JSON-ready overview."""
        duration = float(self.timestamps_ms[-1] - self.timestamps_ms[0]) / 1000 if self.frames > 1 else 0.0
        return {
            "source": self.source,
            "frames": self.frames,
            "detected_frames": int(self.detected.sum()),
            "detected_fraction": round(self.detected_fraction, 4),
            "duration_s": round(duration, 3),
            "image_size": list(self.image_size),
            "backend": self.backend,
            "lifter": self.lifter,
        }
