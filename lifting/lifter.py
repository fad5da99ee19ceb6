"""2D -> 3D lifters behind one interface, and the choice between them.

- ``poseformerv2``: PoseFormerV2 over a T-frame window (official checkpoint), flip test-time
  augmentation, pelvis zeroed. Never runs with random weights in a user-facing path: it exists only
  once a checkpoint has been loaded strictly.
- ``mediapipe-world``: BlazePose's own metric world landmarks mapped to H36M-17 (needs a backend that
  estimates them). The fallback when no PoseFormerV2 checkpoint is present (or ours measured worse).

Which checkpoint a ``poseformerv2`` lifter loads (the official one or our shipped one) and why is
decided by ``lifting.checkpoints.choose_lifter``; the reason is kept in ``Lifter.reason``.

Every lifter reports its temporal needs (``receptive_field``, ``max_lookahead``) so the window code
is sized from the model, and every ``Pose3D`` names the lifter that made it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from lifting.joints import H36M_FLIP_PERMUTATION
from lifting.poseformerv2 import PoseFormerV2, PoseFormerV2Config, load_poseformerv2
from lifting.types import Pose2D, Pose3D
from lifting.window import StreamingWindow, Window, centred_windows


class LifterError(Exception):
    """A lifter cannot be built or cannot lift what it was given; the message says what to do."""


class Lifter(abc.ABC):
    """Lifts windows of 2D poses to root-relative 3D poses (H36M-17, metres)."""

    name: str
    """Registry name, written into every Pose3D."""
    device: str
    """Where it runs (``cpu``, ``cuda:0``)."""
    receptive_field: int
    """T: frames of 2D input per output frame (odd); the target is the centre frame."""
    overlapped: bool = False
    """Worth running on a thread of its own beside the next frame's 2D model (a network: live mode's
    ``realtime.loop.InferenceLoop`` then lifts a step behind the 2D stage instead of after it)."""
    reason: str = ""
    """Why this lifter and checkpoint were chosen (``lifting.checkpoints.choose_lifter``); set by
    ``server.services.make_lifter``, empty for a lifter built directly."""

    @property
    def max_lookahead(self) -> int:
        """Largest useful lookahead: (T - 1) // 2 future frames."""
        return (self.receptive_field - 1) // 2

    @abc.abstractmethod
    def _lift(self, windows: Sequence[Window]) -> np.ndarray:
        """(B,) windows, all of detected targets -> (B, 17, 3) float32 root-relative metres."""

    def lift_windows(self, windows: Sequence[Window]) -> list[Pose3D]:
        """Lift any windows (e.g. gathered from several live sessions) in one batch.

        Windows of undetected frames give ``Pose3D.missing`` without running the model.
        """
        todo = [i for i, w in enumerate(windows) if w.target.detected]
        for i in todo:
            if windows[i].inputs.shape != (self.receptive_field, 17, 2):
                raise LifterError(
                    f"{self.name} needs windows of shape ({self.receptive_field}, 17, 2), got {windows[i].inputs.shape}"
                )
        joints = self._lift([windows[i] for i in todo]) if todo else np.empty((0, 17, 3), np.float32)
        out = [Pose3D.missing(w.target.timestamp_ms, self.name) for w in windows]
        for row, i in enumerate(todo):
            target = windows[i].target
            extras = self._extras(target)
            out[i] = Pose3D(
                joints[row],
                target.timestamp_ms,
                self.name,
                detected=True,
                scores=target.scores,
                extras=extras,
                extra_scores=target.extra_scores,
                keypoints_2d=target.keypoints,
                extras_2d=target.extras,
                person=target.person,
            )
        return out

    def _extras(self, target: Pose2D) -> np.ndarray | None:
        """``(6, 3)`` feet and hands in the lifted pose's frame, or None when this lifter does not give them."""
        return None

    def lift_sequence(self, poses: Sequence[Pose2D], batch_size: int = 64) -> list[Pose3D]:
        """Batch mode: a whole clip with centred, edge-padded windows; one Pose3D per input pose."""
        out: list[Pose3D] = []
        chunk: list[Window] = []
        for window in centred_windows(poses, self.receptive_field):
            chunk.append(window)
            if len(chunk) == batch_size:
                out.extend(self.lift_windows(chunk))
                chunk = []
        out.extend(self.lift_windows(chunk))
        return out

    def stream(self, lookahead: int | None = None) -> LiftStream:
        """Live mode: a per-stream state that lifts frame t once frame t + lookahead has arrived."""
        return LiftStream(self, self.max_lookahead if lookahead is None else lookahead)


class LiftStream:
    """One live stream through a lifter: ``add(pose) -> [Pose3D]``, ``flush() -> [Pose3D]``.

    ``window`` is exposed so a loop serving many streams can gather their windows and call
    ``Lifter.lift_windows`` once for all of them.
    """

    def __init__(self, lifter: Lifter, lookahead: int) -> None:
        if not 0 <= lookahead <= lifter.max_lookahead:
            raise ValueError(f"lookahead must be in [0, {lifter.max_lookahead}] for {lifter.name}, got {lookahead}")
        self.lifter = lifter
        self.window = StreamingWindow(lifter.receptive_field, lookahead)

    def add(self, pose: Pose2D) -> list[Pose3D]:
        """The next frame's 2D pose in; the 3D poses that became ready out (0 or 1)."""
        return self.lifter.lift_windows(self.window.add(pose))

    def flush(self) -> list[Pose3D]:
        """End of stream: the 3D poses of the frames still waiting for lookahead."""
        return self.lifter.lift_windows(self.window.flush())


@dataclass(frozen=True)
class PoseFormerV2Options:
    """Options of the PoseFormerV2 lifter."""

    checkpoint: Path
    """Official-format checkpoint (e.g. checkpoints/27_243_45.2.bin)."""
    config: PoseFormerV2Config = field(default_factory=PoseFormerV2Config)
    """Shapes of the network in the checkpoint (defaults: the official 27_243 model)."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    flip_augment: bool = True
    """Average with the mirrored input's prediction (the official demo does)."""
    root: Literal["zero", "subtract"] = "zero"
    """``zero``: after the flip average, the pelvis is set to (0, 0, 0) and the other joints are kept as
    predicted (the official demo, ../shared/specs/poseformerv2.md 6.6); ``subtract``: the predicted
    pelvis is subtracted from every joint (the pose moves by the model's small root prediction)."""

    def __post_init__(self) -> None:
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.root not in ("zero", "subtract"):
            raise ValueError(f"root must be 'zero' or 'subtract', got {self.root!r}")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda:0`` when a GPU is usable, else ``cpu``; a CUDA request without a GPU fails."""
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LifterError(f"device {device!r} was asked for, but PyTorch sees no CUDA GPU; use 'cpu' or 'auto'")
    return device


class PoseFormerV2Lifter(Lifter):
    """PoseFormerV2 with the official demo's normalisation, flip augmentation and root zeroing."""

    overlapped = True

    name = "poseformerv2"

    def __init__(self, options: PoseFormerV2Options) -> None:
        self.options = options
        self.device = resolve_device(options.device)
        self.model: PoseFormerV2 = load_poseformerv2(options.checkpoint, options.config, self.device)
        self.receptive_field = options.config.frames
        self._flip = torch.as_tensor(H36M_FLIP_PERMUTATION.copy(), device=self.device)

    @torch.inference_mode()
    def lift_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """(B, T, 17, 2) normalised screen coords -> (B, 17, 3) float32 metres, pelvis at the origin
        (``PoseFormerV2Options.root``)."""
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device)
        if self.options.flip_augment:
            flipped = x[:, :, self._flip].clone()
            flipped[..., 0] *= -1
            both = self.model(torch.cat((x, flipped)))[:, 0]
            plain, mirrored = both[: x.shape[0]], both[x.shape[0] :]
            mirrored = mirrored[:, self._flip].clone()
            mirrored[..., 0] *= -1
            joints = (plain + mirrored) / 2
        else:
            joints = self.model(x)[:, 0]
        if self.options.root == "subtract":
            joints = joints - joints[:, :1]
        else:
            joints = joints.clone()
            joints[:, 0] = 0.0
        return joints.float().cpu().numpy()

    def _lift(self, windows: Sequence[Window]) -> np.ndarray:
        return self.lift_inputs(np.stack([w.inputs for w in windows]))


class WorldLandmarkLifter(Lifter):
    """Uses the metric world landmarks that the 2D backend estimated itself (BlazePose)."""

    name = "mediapipe-world"
    device = "cpu"
    receptive_field = 1

    def _lift(self, windows: Sequence[Window]) -> np.ndarray:
        out = np.empty((len(windows), 17, 3), dtype=np.float32)
        for i, window in enumerate(windows):
            world = window.target.world
            if world is None:
                raise LifterError(
                    "the mediapipe-world lifter needs a 2D backend that estimates world landmarks "
                    "(mediapipe); put a PoseFormerV2 checkpoint into checkpoints/ to lift any backend's 2D"
                )
            out[i] = world - world[0]
        return out

    def _extras(self, target: Pose2D) -> np.ndarray | None:
        return target.extras_world  # already relative to the same pelvis as the world joints


LIFTERS = ("poseformerv2", "mediapipe-world")
"""Names accepted by ``create_lifter``."""


def create_lifter(
    name: str,
    checkpoint: Path | None = None,
    config: PoseFormerV2Config | None = None,
    device: str = "auto",
) -> Lifter:
    """Build a lifter by name.

    ``auto`` picks PoseFormerV2 when ``checkpoint`` exists and the world-landmark fallback otherwise.
    Asking for ``poseformerv2`` without its checkpoint fails with a message saying where it goes.
    """
    if name not in (*LIFTERS, "auto"):
        raise ValueError(f"unknown lifter {name!r}; choose one of {['auto', *LIFTERS]}")
    has_checkpoint = checkpoint is not None and checkpoint.is_file()
    if name == "mediapipe-world" or (name == "auto" and not has_checkpoint):
        return WorldLandmarkLifter()
    if not has_checkpoint:
        raise LifterError(
            f"the PoseFormerV2 checkpoint {checkpoint} is missing: download 27_243_45.2.bin as "
            "`coach checkpoints` explains and put it there, or use --lifter mediapipe-world"
        )
    assert checkpoint is not None
    return PoseFormerV2Lifter(PoseFormerV2Options(checkpoint, config or PoseFormerV2Config(), device))
