"""2D pose backends: RGB frames in, one ``Pose2D`` (H36M-17, pixels) per frame out.

A backend has two running modes, as MediaPipe Tasks does:

- live (``detect(image, timestamp_ms, source_size)``): one frame at a time, tracking the person
  from frame to frame; timestamps must increase;
- batch (``detect_video(frames)``): a whole decoded video, through the same per-frame path so that
  both modes give the same poses.

A frame where nobody is found gives ``Pose2D.missing(...)``: marked, never dropped.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from lifting.joints import (
    BLAZEPOSE_EXTRAS,
    BlazePose,
    blazepose_to_coco,
    blazepose_to_h36m,
    coco_scores_to_h36m,
    coco_to_h36m,
)
from lifting.people import LIMBS, OnlineFollower, Triple
from lifting.types import Pose2D
from lifting.video import VideoFrame


class BackendError(Exception):
    """A 2D backend could not be created or used; the message says what to do."""


class PoseBackend(abc.ABC):
    """A 2D pose estimator. Use as a context manager; ``close()`` frees its resources."""

    name: str
    """Registry name of the backend (e.g. ``mediapipe``)."""
    device: str
    """Where it runs (``cpu``, ``cuda:0``)."""
    estimates_world: bool = False
    """True when its poses carry metric 3D ``world`` joints (needed by the ``mediapipe-world`` lifter)."""
    max_people: int = 1
    """How many people it looks for in a frame; above 1, ``detect`` follows the one exercising
    (``lifting.people``)."""
    batched: bool = False
    """True when ``detect_batch`` runs several streams' frames through the model at once (the GPU
    backends); the inference loop then gives it every live session's waiting frame in one call."""

    def __init__(self) -> None:
        self._last_timestamp_ms = -np.inf
        self.focus: tuple[Triple, ...] = LIMBS
        """The joints whose movement tells the exerciser from the others (``follow``)."""
        self.follower = OnlineFollower(self.focus)

    def follow(self, focus: Sequence[Triple]) -> None:
        """Tell the exerciser from the others by these joint angles (the chosen exercise's driving
        joints, e.g. the elbows for a push-up); the default is every limb."""
        self.focus = tuple(focus) or LIMBS
        self.follower = OnlineFollower(self.focus)

    def _detect_people(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int]) -> list[Pose2D]:
        """Every person in the frame (at most ``max_people``); the default finds one."""
        return [self._detect(image, timestamp_ms, source_size)]

    @abc.abstractmethod
    def _detect(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int]) -> Pose2D:
        """Run the model on one upright RGB frame; return its pose (or the missing marker)."""

    def detect(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int] | None = None) -> Pose2D:
        """Live mode: the pose in one frame, tracking from the previous call.

        Args:
            image: ``(H, W, 3)`` uint8 RGB, upright.
            timestamp_ms: source time of the frame; must be larger than the previous call's.
            source_size: ``(width, height)`` in which keypoints are reported, when ``image`` was
                downscaled from a larger source; defaults to the image's own size.
        """
        size = self._accept(image, timestamp_ms, source_size)
        if self.max_people == 1:
            return self._detect(image, timestamp_ms, size)
        return self.follower.choose(self._detect_people(image, timestamp_ms, size), timestamp_ms, size)

    @classmethod
    def detect_batch(
        cls,
        backends: Sequence[PoseBackend],
        images: Sequence[np.ndarray],
        timestamps_ms: Sequence[float],
        source_sizes: Sequence[tuple[int, int] | None],
    ) -> list[Pose2D]:
        """``detect`` for several streams (one backend, image, timestamp and size each); this default
        runs them one after the other, a ``batched`` backend in one pass of its model."""
        return [b.detect(i, t, s) for b, i, t, s in zip(backends, images, timestamps_ms, source_sizes, strict=True)]

    def detect_frames(
        self,
        images: Sequence[np.ndarray],
        timestamps_ms: Sequence[float],
        source_sizes: Sequence[tuple[int, int] | None],
    ) -> list[Pose2D]:
        """``detect`` over consecutive frames of one stream, in order (batch mode feeds a ``batched``
        backend several frames at a time: one model pass for all of them)."""
        return [self.detect(i, t, s) for i, t, s in zip(images, timestamps_ms, source_sizes, strict=True)]

    def detect_people(
        self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int] | None = None
    ) -> list[Pose2D]:
        """Like ``detect``, but every person found (each tracked by the backend from frame to frame),
        or ``[Pose2D.missing]``; for a caller that picks the person itself (``follow_offline``)."""
        size = self._accept(image, timestamp_ms, source_size)
        people = [p for p in self._detect_people(image, timestamp_ms, size) if p.detected]
        return people or [Pose2D.missing(timestamp_ms, size)]

    def _accept(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int] | None) -> tuple[int, int]:
        """Check a frame (RGB, later than the last one) and note its time; the size to report in."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        if not timestamp_ms > self._last_timestamp_ms:
            raise ValueError(
                f"timestamps must increase: got {timestamp_ms} ms after {self._last_timestamp_ms} ms; "
                "call reset() before a new stream"
            )
        self._last_timestamp_ms = timestamp_ms
        return source_size or (image.shape[1], image.shape[0])

    def detect_video(self, frames: Iterable[VideoFrame]) -> Iterator[Pose2D]:
        """Batch mode: one pose per frame of a whole video, in order; never drops a frame."""
        self.reset()
        for frame in frames:
            yield self.detect(frame.image, frame.timestamp_ms, frame.source_size)

    def reset(self) -> None:
        """Forget the tracking state; the next frame starts a new stream."""
        self._last_timestamp_ms = -np.inf
        self.follower.reset()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model."""

    def __enter__(self) -> PoseBackend:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class MediaPipeOptions:
    """Options of the MediaPipe BlazePose backend."""

    model_complexity: int = 1
    """BlazePose variant; only 1 (full) ships inside mediapipe 0.10.21, the others need a download."""
    min_detection_confidence: float = 0.5
    """Person detector threshold in [0, 1]."""
    min_tracking_confidence: float = 0.5
    """Below this landmark confidence the detector runs again on the next frame, in [0, 1]."""
    smooth_landmarks: bool = True
    """Temporal filtering of landmarks across frames (live and batch alike)."""
    max_people: int = 1
    """People looked for in each frame. BlazePose finds one: each further person is found by another
    BlazePose tracker on the frame with the people already found greyed out, so every person costs
    one more model run (about 20 ms on a CPU core)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_people <= MAX_PEOPLE:
            raise ValueError(f"max_people must be 1 to {MAX_PEOPLE}, got {self.max_people}")
        if self.model_complexity != 1:
            raise ValueError(
                f"model_complexity={self.model_complexity} is not available offline: mediapipe 0.10.21 "
                "bundles only BlazePose-full (model_complexity=1)"
            )
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


MAX_PEOPLE = 4
"""The most people one backend follows (each costs a model run per frame)."""
MASK_MARGIN = 0.15
"""A found person's box is widened by this share of its size on each side before it is greyed out."""


class MediaPipeBackend(PoseBackend):
    """MediaPipe BlazePose-full, the embedded default (CPU, ~20 ms per frame)."""

    name = "mediapipe"
    device = "cpu"
    estimates_world = True

    def __init__(self, options: MediaPipeOptions | None = None) -> None:
        super().__init__()
        self.options = options or MediaPipeOptions()
        self.max_people = self.options.max_people
        self._pose: Any = None
        self._others: list[Any] = []
        self._open()

    def _open(self) -> None:
        try:
            from mediapipe.python.solutions import pose as mp_pose
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BackendError(
                "mediapipe is not installed; install the project (`make setup`) which pins mediapipe==0.10.21"
            ) from exc
        trackers = [
            mp_pose.Pose(
                static_image_mode=False,
                model_complexity=self.options.model_complexity,
                smooth_landmarks=self.options.smooth_landmarks,
                enable_segmentation=False,
                min_detection_confidence=self.options.min_detection_confidence,
                min_tracking_confidence=self.options.min_tracking_confidence,
            )
            for _ in range(self.options.max_people)
        ]
        self._pose, self._others = trackers[0], trackers[1:]

    def reset(self) -> None:
        super().reset()
        for tracker in [self._pose, *self._others]:
            if tracker is not None:
                tracker.reset()

    def close(self) -> None:
        for tracker in [self._pose, *self._others]:
            if tracker is not None:
                tracker.close()
        self._pose, self._others = None, []

    def _detect(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int]) -> Pose2D:
        if self._pose is None:
            raise BackendError("the MediaPipe backend is closed")
        return self._pose2d(self._pose.process(image), timestamp_ms, source_size)

    def _detect_people(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int]) -> list[Pose2D]:
        if self._pose is None:
            raise BackendError("the MediaPipe backend is closed")
        people: list[Pose2D] = []
        masked = image
        height, width = image.shape[:2]
        for tracker in [self._pose, *self._others]:
            result = tracker.process(masked)
            pose = self._pose2d(result, timestamp_ms, source_size)
            if not pose.detected:
                continue  # each tracker keeps looking on its own (its detector runs again next frame)
            people.append(pose)
            points = np.array([(lm.x * width, lm.y * height) for lm in result.pose_landmarks.landmark])
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            mx, my = MASK_MARGIN * (x1 - x0), MASK_MARGIN * (y1 - y0)
            if masked is image:
                masked = image.copy()
            top, bottom = max(0, int(y0 - my)), max(0, int(y1 + my) + 1)
            masked[top:bottom, max(0, int(x0 - mx)) : max(0, int(x1 + mx) + 1)] = 127
        return people

    @staticmethod
    def _pose2d(result: Any, timestamp_ms: float, source_size: tuple[int, int]) -> Pose2D:
        """One MediaPipe result as a ``Pose2D`` in ``source_size`` pixels (or the missing marker)."""
        if result.pose_landmarks is None:
            return Pose2D.missing(timestamp_ms, source_size)
        width, height = source_size
        image_lm = np.array([(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark])
        if image_lm.shape[0] != len(BlazePose):
            raise BackendError(f"MediaPipe returned {image_lm.shape[0]} landmarks, expected {len(BlazePose)}")
        points = image_lm[:, :2] * np.array([width, height])
        coco = blazepose_to_coco(points)
        world = extras_world = None
        extras = list(BLAZEPOSE_EXTRAS)
        if result.pose_world_landmarks is not None:
            world_lm = np.array([(lm.x, lm.y, lm.z) for lm in result.pose_world_landmarks.landmark])
            world = blazepose_to_h36m(world_lm)
            extras_world = world_lm[extras] - world[0]
            world -= world[0]
        return Pose2D(
            keypoints=coco_to_h36m(coco),
            scores=np.clip(coco_scores_to_h36m(blazepose_to_coco(image_lm[:, 2:3])[:, 0]), 0.0, 1.0),
            timestamp_ms=timestamp_ms,
            image_size=source_size,
            detected=True,
            world=world,
            extras=points[extras],
            extra_scores=np.clip(image_lm[extras, 2], 0.0, 1.0),
            extras_world=extras_world,
        )


BACKENDS = ("mediapipe", "yolo-hrnet")
"""Names accepted by ``create_backend``: the embedded BlazePose, and YOLOv3 + HRNet-W48 (``lifting.topdown``,
official weights in the checkpoints folder)."""


def create_backend(
    name: str = "mediapipe",
    max_people: int = 1,
    checkpoints_dir: Path | None = None,
    device: str = "auto",
    precision: str = "float32",
) -> PoseBackend:
    """Make a 2D backend by name, looking for up to ``max_people`` people a frame (``checkpoints_dir``,
    ``device`` and ``precision``: for the backends with weight files); ValueError naming the choices for an
    unknown one, BackendError for missing or broken weights."""
    if name == "mediapipe":
        return MediaPipeBackend(MediaPipeOptions(max_people=max_people))
    if name == "yolo-hrnet":
        from lifting.topdown import TopDownBackend, TopDownOptions  # torch models: only when asked for

        if checkpoints_dir is None:
            raise ValueError("the yolo-hrnet backend needs the checkpoints folder that holds its weights")
        if precision not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"precision must be float32, float16 or bfloat16, got {precision!r}")
        return TopDownBackend(TopDownOptions(checkpoints_dir, device, max_people, precision=precision))  # type: ignore[arg-type]
    raise ValueError(f"unknown 2D backend {name!r}; choose one of {list(BACKENDS)}")
