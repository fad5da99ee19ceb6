"""The JSON events a live session pushes over its WebSocket (the wire format clients rely on).

Every event is an object with a ``type``:

- ``pose``: one per processed frame, for the overlay. ``t`` source timestamp (ms), ``frame`` sequence
  number of the frame, ``detected``, ``width``/``height`` of the camera picture, ``keypoints``: 17
  ``[x, y, confidence]`` with x and y as fractions of the picture's width and height (H36M-17 order,
  see ``skeleton`` in the first status event), or null when nobody was found.
- ``rep``: one per counted rep: ``rep`` (its number) and ``score``, then every field of
  ``scoring.types.RepResult`` (part scores, range of motion, tempo, symmetry, faults with values).
- ``tip``: coaching text: ``text``, ``kind`` (fault|praise|summary), ``persona``, ``rep``, ``fault``,
  ``value``, ``severity``.
- ``status``: session state and guidance, sent on every change and about once a second: ``state``
  (created|connecting|live|ending|closed), ``posture`` (no_person|out_of_position|ready|in_rep),
  ``message`` (what the user should do now), ``advice`` (step_back|come_closer|turn_side_on|null),
  ``rep_in_progress``, ``notice`` (e.g. why a movement was not counted), ``fps`` (frames processed
  per second), ``received``, ``processed``, ``dropped``, ``backend``, ``lifter``, ``delay_frames``.
- ``summary``: at the end of the set: every field of ``scoring.types.SetSummary``, plus ``results``
  (every rep as in ``rep`` events) and ``reason`` (why the session ended).
"""

from __future__ import annotations

from typing import Any

from lifting.joints import H36M_PARENTS
from lifting.types import Pose2D
from scoring.tips import Tip
from scoring.types import RepResult, SetSummary

SKELETON: list[list[int]] = [[child, parent] for child, parent in enumerate(H36M_PARENTS) if parent >= 0]
"""Bones as [joint, parent] index pairs (H36M-17), for drawing the overlay."""


def pose_event(pose: Pose2D, sequence: int) -> dict[str, Any]:
    """The overlay event of one processed frame."""
    width, height = pose.image_size
    keypoints = None
    if pose.detected:
        keypoints = [
            [round(float(x) / width, 4), round(float(y) / height, 4), round(float(s), 3)]
            for (x, y), s in zip(pose.keypoints, pose.scores, strict=True)
        ]
    return {
        "type": "pose",
        "t": round(pose.timestamp_ms, 1),
        "frame": sequence,
        "detected": pose.detected,
        "width": width,
        "height": height,
        "keypoints": keypoints,
    }


def rep_event(result: RepResult) -> dict[str, Any]:
    """A counted and scored rep."""
    return {"type": "rep", "rep": result.index, **result.as_dict()}


def tip_event(tip: Tip) -> dict[str, Any]:
    """A coaching tip."""
    return {"type": "tip", **tip.as_dict()}


def summary_event(summary: SetSummary, results: list[RepResult], reason: str | None) -> dict[str, Any]:
    """The set summary at the end of a session."""
    return {"type": "summary", **summary.as_dict(), "results": [r.as_dict() for r in results], "reason": reason}
