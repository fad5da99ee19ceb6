"""Temporal windows of 2D poses for lifters that look at several frames (PoseFormerV2: 243).

Sizes always come from the lifter (its receptive field ``T``); nothing here knows 243.

Both modes build a frame's window the same way, so that they agree exactly:

- every frame contributes its keypoints in normalised screen coordinates (``normalize_screen``);
- a frame without a person is filled with the last detected pose before it; frames before the first
  detection are filled with the first detection;
- the window for frame t covers t - pad ... t + pad (pad = (T - 1) // 2); positions before the first
  frame repeat the first frame, positions after the last available frame repeat that frame (edge
  padding, as the PoseFormerV2 demo).

Batch mode (``centred_windows``) sees the whole clip. Live mode (``StreamingWindow``) emits frame t
once frame t + L has arrived (L = lookahead, 0 <= L <= pad) and treats later frames as not yet
available, so it costs L frames of delay; with L = pad it equals batch mode exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from lifting.types import NUM_JOINTS, Pose2D


def normalize_screen(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels -> normalised screen coords as PoseFormerV2 was trained: x' = 2x/w - 1, y' = 2y/w - h/w.

    Args:
        keypoints: ``(..., 2)`` pixels (x right, y down).
    Returns:
        ``(..., 2)`` float32; both axes divided by the width, so x spans [-1, 1], y [-h/w, h/w].
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    out = kp * (2.0 / width)
    out[..., 0] -= 1.0
    out[..., 1] -= height / width
    return out


def denormalize_screen(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of ``normalize_screen``: normalised screen coords ``(..., 2)`` -> pixels."""
    pts = np.asarray(points, dtype=np.float32)
    out = np.empty_like(pts)
    out[..., 0] = (pts[..., 0] + 1.0) * width / 2.0
    out[..., 1] = (pts[..., 1] + height / width) * width / 2.0
    return out


def _normalized(pose: Pose2D) -> np.ndarray:
    return normalize_screen(pose.keypoints, *pose.image_size)


@dataclass(frozen=True)
class Window:
    """The input a lifter needs to produce one frame's 3D pose."""

    inputs: np.ndarray
    """(T, 17, 2) float32 normalised screen coords, H36M order; the target is at index (T - 1) // 2."""
    target: Pose2D
    """The 2D pose of the frame this window is for (``detected`` may be False)."""


def fill_sequence(poses: Sequence[Pose2D]) -> np.ndarray | None:
    """Normalised keypoints of a whole clip with gaps filled (see module doc).

    Returns:
        ``(N, 17, 2)`` float32, or None when no frame has a person.
    """
    first = next((p for p in poses if p.detected), None)
    if first is None:
        return None
    out = np.empty((len(poses), NUM_JOINTS, 2), dtype=np.float32)
    last = _normalized(first)
    for i, pose in enumerate(poses):
        if pose.detected:
            last = _normalized(pose)
        out[i] = last
    return out


def centred_windows(poses: Sequence[Pose2D], frames: int) -> Iterator[Window]:
    """Batch mode: the centred, edge-padded window of every frame of a clip, in order.

    Windows are read-only views into one padded array, so a clip costs O(N) memory whatever ``frames``.
    """
    if frames < 1 or frames % 2 == 0:
        raise ValueError(f"frames must be odd and >= 1, got {frames}")
    filled = fill_sequence(poses)
    if filled is None:  # nobody anywhere: every window is for an undetected frame
        blank = np.zeros((frames, NUM_JOINTS, 2), dtype=np.float32)
        blank.setflags(write=False)
        for pose in poses:
            yield Window(blank, pose)
        return
    pad = (frames - 1) // 2
    padded = np.concatenate([np.repeat(filled[:1], pad, axis=0), filled, np.repeat(filled[-1:], pad, axis=0)])
    padded.setflags(write=False)
    for i, pose in enumerate(poses):
        yield Window(padded[i : i + frames], pose)


class StreamingWindow:
    """Live mode: ``add(pose) -> [Window]``; frame t comes out once frame t + lookahead has arrived.

    Holds at most pad + lookahead + 1 frames. ``flush()`` ends the stream and emits the frames still
    waiting, padding the future with the last frame (as batch mode pads the end of a clip).
    """

    def __init__(self, frames: int, lookahead: int) -> None:
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be odd and >= 1, got {frames}")
        pad = (frames - 1) // 2
        if not 0 <= lookahead <= pad:
            raise ValueError(f"lookahead must be in [0, {pad}] for a {frames}-frame window, got {lookahead}")
        self.frames = frames
        self.pad = pad
        self.lookahead = lookahead
        # Filled inputs of frames t - pad ... newest; None until the first detection arrives.
        self._history: deque[np.ndarray | None] = deque(maxlen=pad + lookahead + 1)
        self._pending: deque[Pose2D] = deque()
        self._last: np.ndarray | None = None  # input of the newest detected frame

    @property
    def delay_frames(self) -> int:
        """Frames of latency this window adds in live mode (= lookahead)."""
        return self.lookahead

    def add(self, pose: Pose2D) -> list[Window]:
        """Add the next frame's 2D pose; return the windows that became complete (0 or 1)."""
        if pose.detected:
            value = _normalized(pose)
            if self._last is None:  # first detection: back-fill the frames seen before it
                for i in range(len(self._history)):
                    self._history[i] = value
            self._last = value
        self._history.append(self._last)
        self._pending.append(pose)
        out: list[Window] = []
        while len(self._pending) > self.lookahead:
            out.append(self._emit())
        return out

    def flush(self) -> list[Window]:
        """End of stream: the windows of all frames still waiting for their lookahead."""
        out = [self._emit() for _ in range(len(self._pending))]
        self.reset()
        return out

    def reset(self) -> None:
        """Drop all state; the next frame starts a new stream."""
        self._history.clear()
        self._pending.clear()
        self._last = None

    def _emit(self) -> Window:
        target = self._pending.popleft()
        if self._last is None:  # nobody seen yet: the target is undetected and its inputs unused
            inputs = np.zeros((self.frames, NUM_JOINTS, 2), dtype=np.float32)
        else:
            # After the first detection no entry is None. history[-1] is the newest frame and the
            # target sits len(pending) places before it. The deque keeps pad + lookahead + 1 frames,
            # so the past is complete unless the stream is younger than that, and then history[0]
            # is the stream's first frame, which edge padding repeats.
            history = list(self._history)
            t_pos = len(history) - 1 - len(self._pending)
            past = history[max(0, t_pos - self.pad) : t_pos]
            future = history[t_pos + 1 :]
            rows = [
                *[history[0]] * (self.pad - len(past)),
                *past,
                history[t_pos],
                *future,
                *[history[-1]] * (self.pad - len(future)),
            ]
            inputs = np.stack(rows)  # type: ignore[arg-type]
        inputs.setflags(write=False)
        return Window(inputs, target)
