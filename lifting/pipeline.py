"""Batch mode of the pose pipeline: a video file -> per-frame 2D and 3D poses as arrays.

Decoding runs in its own thread (``video-decode:*``) a few frames ahead of the 2D model, so the two
overlap on a multi-core machine. Frames are never dropped: every decoded frame has a row in the
result, with ``detected`` False where nobody was found.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lifting.lifter import Lifter
from lifting.pose2d import PoseBackend
from lifting.types import NUM_JOINTS, Pose2D, Pose3D
from lifting.video import ReaderOptions, VideoReader

ProgressFn = Callable[[int, int], None]
"""Called as progress(frames_done, frames_expected); frames_expected is 0 when unknown."""


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

    @classmethod
    def from_poses(
        cls, poses_2d: list[Pose2D], poses_3d: list[Pose3D], backend: str, lifter: str, source: str = ""
    ) -> PoseTrack:
        """Stack per-frame messages into arrays."""
        if len(poses_2d) != len(poses_3d):
            raise ValueError(f"{len(poses_2d)} 2D poses but {len(poses_3d)} 3D poses")
        n = len(poses_2d)
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
        """Write the arrays and the backend/lifter names to a compressed .npz."""
        np.savez_compressed(
            Path(path),
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


@dataclass
class StageTimes:
    """Wall time per stage of one run, in seconds."""

    frames: int = 0
    """Frames processed."""
    decode_wait_s: float = 0.0
    """Time the 2D stage waited for decoded frames (decoding itself overlaps in its own thread)."""
    pose2d_s: float = 0.0
    """Time in the 2D backend."""
    lift_s: float = 0.0
    """Time in the lifter."""
    total_s: float = 0.0
    """End to end, opening the file included."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know about the input (truncated file, repaired timestamps)."""

    def as_dict(self) -> dict[str, float]:
        """Per-stage times, and per-frame milliseconds and throughput."""
        per = 1000.0 / self.frames if self.frames else 0.0
        return {
            "frames": self.frames,
            "total_s": round(self.total_s, 3),
            "fps": round(self.frames / self.total_s, 2) if self.total_s else 0.0,
            "decode_wait_ms_per_frame": round(self.decode_wait_s * per, 3),
            "pose2d_ms_per_frame": round(self.pose2d_s * per, 3),
            "lift_ms_per_frame": round(self.lift_s * per, 3),
        }


class PosePipeline:
    """Video -> 2D -> 3D with a given backend and lifter (both owned by the caller)."""

    def __init__(self, backend: PoseBackend, lifter: Lifter, max_side: int | None = 640, prefetch: int = 8) -> None:
        if lifter.name == "mediapipe-world" and not backend.estimates_world:
            raise ValueError(f"the mediapipe-world lifter needs world landmarks, which {backend.name} does not give")
        self.backend = backend
        self.lifter = lifter
        self.reader_options = ReaderOptions(max_side=max_side, prefetch=prefetch)

    def run(self, video: str | Path, progress: ProgressFn | None = None) -> tuple[PoseTrack, StageTimes]:
        """Process a whole video. Raises VideoError for a file that is not a readable video."""
        times = StageTimes()
        start = time.perf_counter()
        poses_2d: list[Pose2D] = []
        with VideoReader(video, self.reader_options) as reader:
            expected = reader.info.frame_count
            self.backend.reset()
            frames = iter(reader)
            while True:
                t0 = time.perf_counter()
                frame = next(frames, None)
                t1 = time.perf_counter()
                times.decode_wait_s += t1 - t0
                if frame is None:
                    break
                poses_2d.append(self.backend.detect(frame.image, frame.timestamp_ms, frame.source_size))
                times.pose2d_s += time.perf_counter() - t1
                if progress is not None:
                    progress(len(poses_2d), expected)
            ended_early = reader.ended_early()
            if ended_early:
                times.warnings.append(ended_early)
            if reader.repaired_timestamps:
                times.warnings.append(
                    f"{reader.repaired_timestamps} frames had non-increasing timestamps and were re-timed"
                )
        t2 = time.perf_counter()
        poses_3d = self.lifter.lift_sequence(poses_2d)
        times.lift_s = time.perf_counter() - t2
        times.frames = len(poses_2d)
        times.total_s = time.perf_counter() - start
        track = PoseTrack.from_poses(poses_2d, poses_3d, self.backend.name, self.lifter.name, str(video))
        return track, times
