"""The top-down 2D backend of the design: YOLOv3 finds the people, HRNet-W48 finds their joints.

    backend = TopDownBackend(TopDownOptions(checkpoints_dir))      # name "yolo-hrnet"
    pose = backend.detect(image, timestamp_ms, source_size)        # like every PoseBackend

Per frame: ``lifting.yolov3.detect_people`` (the demo's letterbox, objectness > 0.30, person class,
NMS), the best ``max(max_people, 2)`` boxes cropped at HRNet's 288:384 aspect (``lifting.hrnet``: a
tall person is never cut off), all crops through HRNet in one batch, COCO-17 keypoints converted to
H36M-17 as the PoseFormerV2 demo does (``lifting.joints.coco_to_h36m``). COCO-17 has no feet, so
``extras`` is None and rules on the heels are skipped with the reason.

Which person: with ``max_people`` above 1 the base class follows the one exercising
(``lifting.people``, the same rule as MediaPipe's backend). With one, the person followed is kept by
``BoxFollower``, a small SORT-like box tracker (the PoseFormerV2 demo tracks its YOLO boxes with SORT):
everyone's box has a track, so someone crossing in front of the exerciser keeps their own; while the
exerciser is hidden the frame reports nobody, and only once their track is gone is the
highest-scoring person followed afresh.

The two networks are loaded once per (files, device) and shared by every backend instance: live
sessions each get a backend (their own tracking state) over the same weights. Weight files, where they
go and how to get them: ``checkpoints/manifest.json`` (``coach checkpoints``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from lifting.hrnet import CropBatch, HRNet, HRNetConfig, crop_people, estimate_batch, load_hrnet
from lifting.joints import coco_scores_to_h36m, coco_to_h36m
from lifting.lifter import resolve_device
from lifting.pose2d import BackendError, PoseBackend
from lifting.poseformerv2 import CheckpointError
from lifting.types import Pose2D
from lifting.yolov3 import DEMO_CONF_THRESHOLD, DEMO_INPUT_SIZE, DEMO_NMS_THRESHOLD, Darknet, YoloError, load_yolov3
from lifting.yolov3 import detect_people as yolo_people

YOLO_CFG = "yolov3.cfg"
YOLO_WEIGHTS = "yolov3.weights"
HRNET_FILE = "pose_hrnet_w48_384x288.pth"

MIN_BOX_PX = 2.0
"""A detection narrower or lower than this (pixels of the model's frame) is no person to crop."""


@dataclass(frozen=True)
class TopDownOptions:
    """Options of the YOLOv3 + HRNet backend."""

    checkpoints_dir: Path
    """Folder holding ``yolov3.cfg``, ``yolov3.weights`` and ``pose_hrnet_w48_384x288.pth``."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    max_people: int = 1
    """People followed at once (above 1, the base class picks the one exercising)."""
    flip: bool = False
    """HRNet's flip test (the official evaluation uses it, the PoseFormerV2 demo does not; twice the cost)."""
    precision: Literal["float32", "float16", "bfloat16"] = "float32"
    """The networks' arithmetic (``torch.autocast``; boxes and heatmaps are decoded in float32). Half
    precision is for CUDA, where it is to be measured (issue 19); float32 keeps the official numbers."""
    detector_size: int = DEMO_INPUT_SIZE
    """YOLOv3 input side, a multiple of 32 (the demo's 416)."""
    conf_threshold: float = DEMO_CONF_THRESHOLD
    """Objectness above which a box is a person (the demo's 0.30)."""
    nms_threshold: float = DEMO_NMS_THRESHOLD
    """IoU at which the weaker of two boxes is dropped (the demo's 0.4)."""
    hrnet: HRNetConfig = field(default_factory=HRNetConfig)
    """Shapes of the HRNet in the file (the official W48 by default)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_people <= 8:
            raise ValueError(f"max_people must be 1 to 8, got {self.max_people}")
        if self.detector_size <= 0 or self.detector_size % 32:
            raise ValueError(f"detector_size must be a positive multiple of 32, got {self.detector_size}")
        if not 0.0 < self.conf_threshold < 1.0 or not 0.0 < self.nms_threshold <= 1.0:
            raise ValueError("conf_threshold must be in (0, 1) and nms_threshold in (0, 1]")
        if self.precision not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"precision must be float32, float16 or bfloat16, got {self.precision!r}")


_MODELS: dict[tuple[str, ...], tuple[Darknet, HRNet]] = {}
_MODELS_LOCK = threading.Lock()


def load_models(options: TopDownOptions, device: str) -> tuple[Darknet, HRNet]:
    """The detector and the pose network for these files on ``device``, loaded once and shared.
    BackendError naming the missing file and where it goes, or what is wrong with a present one."""
    folder = options.checkpoints_dir
    paths = (folder / YOLO_CFG, folder / YOLO_WEIGHTS, folder / HRNET_FILE)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise BackendError(
            f"the yolo-hrnet backend needs {', '.join(missing)} in {folder}: `coach checkpoints` says where "
            "each file comes from (or use the embedded mediapipe backend)"
        )
    key = (*(str(p.resolve()) for p in paths), device, str(options.detector_size), repr(options.hrnet))
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                detector = load_yolov3(paths[0], paths[1], device, options.detector_size)
                pose_model = load_hrnet(paths[2], options.hrnet, device)
            except (YoloError, CheckpointError) as exc:
                raise BackendError(str(exc)) from None
            _MODELS[key] = (detector, pose_model)
        return _MODELS[key]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` x1, y1, x2, y2 box with ``(K, 4)`` boxes -> ``(K,)``."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


@dataclass
class _BoxTrack:
    box: np.ndarray  # (4,) x1, y1, x2, y2 where it was last seen
    velocity: np.ndarray  # (4,) per frame
    missed: int = 0  # frames since it was last seen

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (1 + self.missed)


class BoxFollower:
    """Keeps one person across frames by their box (pure: ``choose(boxes) -> index | None``).

    Every box is tracked (a small SORT-like tracker: each track predicted to move as it last moved,
    detections matched to the predictions greedily by IoU >= ``min_iou``, a new track for each
    unmatched detection, a track dropped after ``hold_frames`` frames unseen). The person followed is
    one track: the highest-scoring person when following starts, kept as long as its track lives. So
    someone walking in front of the exerciser keeps their own track (their motion predicts where they
    go); while the exerciser is hidden the frame reports nobody; once their track is gone, the
    highest-scoring person is followed afresh.
    """

    def __init__(self, min_iou: float = 0.3, hold_frames: int = 15) -> None:
        self.min_iou = min_iou
        self.hold_frames = hold_frames
        self.reset()

    def reset(self) -> None:
        self._tracks: list[_BoxTrack] = []
        self._followed: _BoxTrack | None = None

    def choose(self, boxes: np.ndarray) -> int | None:
        """``boxes``: ``(K, 5)`` x1, y1, x2, y2, score (K may be 0) -> the index of the followed person."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
        pairs = [
            (float(iou), t, d)
            for t, track in enumerate(self._tracks)
            for d, iou in enumerate(_iou(track.predicted(), boxes[:, :4]) if len(boxes) else [])
            if iou >= self.min_iou
        ]
        matched: dict[int, int] = {}  # track -> detection
        for _, t, d in sorted(pairs, reverse=True):
            if t not in matched and d not in matched.values():
                matched[t] = d
        tracks = []
        for t, track in enumerate(self._tracks):
            if t in matched:
                box = boxes[matched[t], :4]
                track.velocity = (box - track.box) / (1 + track.missed)
                track.box, track.missed = box, 0
            else:
                track.missed += 1
            if track.missed <= self.hold_frames:
                tracks.append(track)
        assigned = {d: self._tracks[t] for t, d in matched.items()}
        for d in range(len(boxes)):
            if d not in assigned:
                assigned[d] = _BoxTrack(boxes[d, :4].copy(), np.zeros(4))
                tracks.append(assigned[d])
        self._tracks = tracks
        if self._followed is None or all(track is not self._followed for track in tracks):
            self._followed = assigned[int(np.argmax(boxes[:, 4]))] if len(boxes) else None
        return next((d for d, track in assigned.items() if track is self._followed), None)


class TopDownBackend(PoseBackend):
    """YOLOv3 + HRNet-W48 (``yolo-hrnet``): see the module docstring."""

    name = "yolo-hrnet"
    batched = True

    def __init__(self, options: TopDownOptions) -> None:
        super().__init__()
        self.options = options
        self.device = resolve_device(options.device)
        self.max_people = options.max_people
        self.detector, self.pose_model = load_models(options, self.device)
        self.boxes = BoxFollower()

    def reset(self) -> None:
        super().reset()
        self.boxes.reset()

    @classmethod
    def detect_batch(
        cls,
        backends: Sequence[PoseBackend],
        images: Sequence[np.ndarray],
        timestamps_ms: Sequence[float],
        source_sizes: Sequence[tuple[int, int] | None],
    ) -> list[Pose2D]:
        """Live mode for several streams at once (one frame each, e.g. every live session's waiting
        frame): all frames through YOLOv3 in one forward pass, all their people's crops through HRNet in
        one more, then each stream's own person following. Gives each backend what its ``detect`` would.
        The backends must share their models (``load_models``: the same files and device)."""
        if not backends or not len(backends) == len(images) == len(timestamps_ms) == len(source_sizes):
            raise ValueError("detect_batch needs one image, timestamp and size per backend")
        streams = [b for b in backends if isinstance(b, TopDownBackend)]
        first = streams[0] if len(streams) == len(backends) else None
        if first is None or any(
            b.detector is not first.detector or b.pose_model is not first.pose_model for b in streams
        ):
            raise ValueError(
                "detect_batch needs yolo-hrnet backends that share their models (the same files and device)"
            )
        given = zip(streams, images, timestamps_ms, source_sizes, strict=True)
        sizes = [backend._accept(image, ts, size) for backend, image, ts, size in given]
        found = first._people_batch(list(images), list(timestamps_ms), sizes, [b.max_people for b in streams])
        return [
            backend._follow(people, boxes, ts, size)
            for backend, (people, boxes), ts, size in zip(streams, found, timestamps_ms, sizes, strict=True)
        ]

    def detect(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int] | None = None) -> Pose2D:
        return self.detect_batch([self], [image], [timestamp_ms], [source_size])[0]

    def detect_frames(
        self,
        images: Sequence[np.ndarray],
        timestamps_ms: Sequence[float],
        source_sizes: Sequence[tuple[int, int] | None],
    ) -> list[Pose2D]:
        """Consecutive frames of one stream: one detector pass and one HRNet pass for all of them, then
        the person followed frame by frame, as ``detect`` would one frame at a time."""
        if not len(images) == len(timestamps_ms) == len(source_sizes):
            raise ValueError("detect_frames needs one timestamp and size per image")
        sizes = [self._accept(i, t, s) for i, t, s in zip(images, timestamps_ms, source_sizes, strict=True)]
        found = self._people_batch(list(images), list(timestamps_ms), sizes, [self.max_people] * len(images))
        return [
            self._follow(people, boxes, ts, size)
            for (people, boxes), ts, size in zip(found, timestamps_ms, sizes, strict=True)
        ]

    def _follow(self, people: list[Pose2D], boxes: np.ndarray, timestamp_ms: float, size: tuple[int, int]) -> Pose2D:
        """The followed person among a frame's ``people`` (``boxes``: their detector boxes, in order)."""
        if self.max_people > 1:
            return self.follower.choose(people[: self.max_people], timestamp_ms, size)
        chosen = self.boxes.choose(boxes)
        return people[chosen] if chosen is not None else Pose2D.missing(timestamp_ms, size)

    def _arithmetic(self) -> contextlib.AbstractContextManager[object]:
        """Autocast to the configured half precision on the models' device, or nothing for float32."""
        if self.options.precision == "float32":
            return contextlib.nullcontext()
        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        return torch.autocast(device_type=kind, dtype=getattr(torch, self.options.precision))

    @torch.inference_mode()
    def _people_batch(
        self,
        images: list[np.ndarray],
        timestamps_ms: list[float],
        source_sizes: list[tuple[int, int]],
        max_people: list[int],
    ) -> list[tuple[list[Pose2D], np.ndarray]]:
        """Every person found in each image (best score first, at most ``max(max_people, 2)``): their poses
        in that image's ``source_size`` pixels and their detector boxes ``(K, 5)`` (x1, y1, x2, y2 in the
        same pixels, score). One YOLOv3 pass over all images, one HRNet pass over all crops."""
        with self._arithmetic():
            found = yolo_people(self.detector, images, self.options.conf_threshold, self.options.nms_threshold)
        # a box clamped to the frame's edge can be empty (x2 == x1): nobody to crop there
        found = [f[(f[:, 2] - f[:, 0] >= MIN_BOX_PX) & (f[:, 3] - f[:, 1] >= MIN_BOX_PX)] for f in found]
        found = [f[: max(m, 2)].astype(np.float64) for f, m in zip(found, max_people, strict=True)]
        config = self.pose_model.config
        crops = [crop_people(image, f[:, :4], config) for image, f in zip(images, found, strict=True) if len(f)]
        keypoints, scores = np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), np.float32)
        if crops:
            with self._arithmetic():
                keypoints, scores = estimate_batch(self.pose_model, CropBatch.concat(crops), flip=self.options.flip)

        out, start = [], 0
        for image, f, ts, size in zip(images, found, timestamps_ms, source_sizes, strict=True):
            sx, sy = size[0] / image.shape[1], size[1] / image.shape[0]
            scale = np.array([sx, sy], dtype=np.float32)
            people = [
                Pose2D(
                    keypoints=coco_to_h36m(keypoints[start + k] * scale).astype(np.float32),
                    scores=np.clip(coco_scores_to_h36m(scores[start + k]), 0.0, 1.0).astype(np.float32),
                    timestamp_ms=ts,
                    image_size=size,
                    detected=True,
                )
                for k in range(len(f))
            ]
            start += len(f)
            out.append((people, f * np.array([sx, sy, sx, sy, 1.0]) if len(f) else np.zeros((0, 5))))
        return out

    def _detect_people(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int]) -> list[Pose2D]:
        return self._people_batch([image], [timestamp_ms], [source_size], [self.max_people])[0][0][: self.max_people]

    def _detect(self, image: np.ndarray, timestamp_ms: float, source_size: tuple[int, int]) -> Pose2D:
        people, boxes = self._people_batch([image], [timestamp_ms], [source_size], [1])[0]
        return self._follow(people, boxes, timestamp_ms, source_size)
