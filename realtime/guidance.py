"""Camera guidance for a live session: is the whole body in the picture, and is the view right?

Pure and synchronous: ``add_2d``/``add_3d`` per frame, ``advice()`` for the current hint. Decisions
use the last ``history`` frames (a majority or a median), so one bad frame does not flip the hint.

Thresholds were measured on the real clips (../shared/media, MediaPipe 2D + world landmarks): the
person's box spans 30-70 % of the picture's longer side when framed well. The camera view comes
from ``scoring.view`` (its thresholds are documented there); it is held until another view has the
majority of the last second, so the advice does not flicker.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lifting.joints import H36M
from lifting.types import Pose2D, Pose3D
from scoring.view import VIEW_WORDS, BodyAxis, CameraView, ViewTracker

AdviceCode = Literal["step_back", "come_closer", "change_view"]

_EXTREMITIES = (H36M.HEAD, H36M.L_ANKLE, H36M.R_ANKLE, H36M.L_WRIST, H36M.R_WRIST)


@dataclass(frozen=True)
class Advice:
    """A camera hint for the user."""

    code: AdviceCode
    """Machine-readable kind."""
    message: str
    """What to do, in words."""


@dataclass(frozen=True)
class FramingOptions:
    """Thresholds of ``FramingMonitor``."""

    views: tuple[CameraView, ...]
    """The camera views the exercise is coached from (``ExerciseSpec.views``)."""
    gravity: BodyAxis = "up"
    """The body axis that is vertical in the exercise (``Reference.gravity``)."""
    history: int = 15
    """Frames the decisions look back over."""
    edge_margin: float = 0.01
    """A joint closer than this fraction of the picture to its border counts as cut off."""
    min_extent: float = 0.25
    """Below this fraction of the picture's longer side, the person is too far away."""
    view_history: int = 30
    """Frames the view decision looks back over (about 1 s at 30 fps)."""


class FramingMonitor:
    """Watches one live stream's poses and says how to fix the framing."""

    def __init__(self, options: FramingOptions) -> None:
        self.options = options
        self._cut: deque[bool] = deque(maxlen=options.history)
        self._small: deque[bool] = deque(maxlen=options.history)
        self.view = ViewTracker(options.gravity, options.view_history)

    def add_2d(self, pose: Pose2D) -> None:
        """The next frame's 2D pose (pixels in ``pose.image_size``)."""
        if not pose.detected:
            self._cut.clear()
            self._small.clear()
            return
        width, height = pose.image_size
        points = pose.keypoints
        margin = self.options.edge_margin
        ends = points[list(_EXTREMITIES)]
        outside = (
            (ends[:, 0] < margin * width)
            | (ends[:, 0] > (1 - margin) * width)
            | (ends[:, 1] < margin * height)
            | (ends[:, 1] > (1 - margin) * height)
        )
        self._cut.append(bool(outside.any()))
        extent = max(np.ptp(points[:, 0]) / width, np.ptp(points[:, 1]) / height)
        self._small.append(bool(extent < self.options.min_extent))

    def add_3d(self, pose: Pose3D) -> None:
        """The next lifted pose (camera axes, metres)."""
        self.view.add(pose.joints if pose.detected else None)

    def advice(self) -> Advice | None:
        """The most important hint now, or None when the framing is fine."""
        if _majority(self._cut):
            return Advice("step_back", "step back: your head, hands and feet must stay in the picture")
        if _majority(self._small):
            return Advice("come_closer", "come closer: you are small in the picture")
        view = self.view.view
        if view is not None and view not in self.options.views:
            wanted = " or ".join(VIEW_WORDS[v] for v in self.options.views)
            return Advice("change_view", f"the camera sees you {VIEW_WORDS[view]}: film this exercise {wanted}")
        return None

    def reset(self) -> None:
        self._cut.clear()
        self._small.clear()
        self.view.reset()


def _majority(flags: deque[bool]) -> bool:
    return len(flags) >= max(3, flags.maxlen // 2 if flags.maxlen else 3) and sum(flags) * 2 > len(flags)
