"""The events a live session pushes over its WebSocket: one frozen dataclass per type.

These classes are the wire format clients rely on: ``as_json()`` gives an object with ``type`` and
exactly the fields declared here (``rep`` and ``summary`` carry the fields of ``RepResult`` and
``SetSummary``, documented in ``scoring/types.py``; ``tip`` those of ``scoring.coach.writer.Tip``).
Coordinates in ``pose`` are fractions of the camera picture, joints in H36M-17 order as listed in
the ``skeleton`` of the first ``status`` event. ``pose3d`` carries the lifted 3D pose of a frame, later
than its ``pose``: the lifter waits for ``delay_frames`` (in ``status``) frames of lookahead first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from lifting.types import Pose2D, Pose3D
from realtime.guidance import AdviceCode
from scoring.coach.writer import Tip
from scoring.types import Fault, HoldResult, PostureState, RepDiscarded, RepResult, SetSummary


class _Event:
    type: ClassVar[str]

    def as_json(self) -> dict[str, Any]:
        """The JSON object sent to the browser: ``type`` and every field."""
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]


@dataclass(frozen=True)
class PoseEvent(_Event):
    """One per processed frame, for the overlay; it never waits for the 3D lifter."""

    type: ClassVar[str] = "pose"
    t: float
    """Source timestamp of the frame, milliseconds."""
    frame: int
    """Sequence number of the frame among those received (dropped ones included)."""
    detected: bool
    """Whether a person was found."""
    width: int
    """Width of the camera picture, pixels."""
    height: int
    """Height of the camera picture, pixels."""
    keypoints: list[list[float]] | None
    """17 ``[x, y, confidence]``, x and y as fractions of the picture's width and height; null when
    nobody was found."""

    @classmethod
    def of(cls, pose: Pose2D, sequence: int) -> PoseEvent:
        width, height = pose.image_size
        keypoints = None
        if pose.detected:
            keypoints = [
                [round(float(x) / width, 4), round(float(y) / height, 4), round(float(s), 3)]
                for (x, y), s in zip(pose.keypoints, pose.scores, strict=True)
            ]
        return cls(round(pose.timestamp_ms, 1), sequence, pose.detected, width, height, keypoints)


@dataclass(frozen=True)
class Pose3DEvent(_Event):
    """One per lifted frame, for the 3D view: the frame's pose from the lifter, which comes
    ``delay_frames`` frames (see ``status``) after the frame's ``pose`` event (its lookahead).
    About 440 bytes of JSON (measured on a push-up clip): 13 kB/s at 30 frames/s, so every lifted frame
    is sent; when the outbox is full these make room first, like ``pose``."""

    type: ClassVar[str] = "pose3d"
    t: float
    """Source timestamp of the frame it was lifted from, milliseconds (the ``t`` of that frame's ``pose``)."""
    joints: list[list[float]] | None
    """17 ``[x, y, z]``, metres rounded to the millimetre, root-relative (pelvis at 0), camera axes (x
    right, y down, z forward), H36M order as in ``skeleton``; null when nobody was found."""

    @classmethod
    def of(cls, pose: Pose3D) -> Pose3DEvent:
        joints = None
        if pose.detected and np.isfinite(pose.joints).all():  # Pose3D checked the shape, (17, 3)
            joints = [[round(float(v), 3) for v in joint] for joint in pose.joints]
        return cls(round(pose.timestamp_ms, 1), joints)


@dataclass(frozen=True)
class RepEvent(_Event):
    """A counted and scored rep: ``rep`` (its number), then every field of ``RepResult``."""

    type: ClassVar[str] = "rep"
    result: RepResult
    """The rep (``scoring.types.RepResult``)."""

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "rep": self.result.index, **self.result.as_dict()}


@dataclass(frozen=True)
class HoldEvent(_Event):
    """A counted and scored hold (a hold exercise): ``hold`` (its number), then every field of ``HoldResult``
    (time under tension ``duration_s``, ``faults`` each with ``details.start_s`` and ``details.duration_s``)."""

    type: ClassVar[str] = "hold"
    result: HoldResult
    """The hold (``scoring.types.HoldResult``)."""

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "hold": self.result.index, **self.result.as_dict()}


@dataclass(frozen=True)
class HoldProgressEvent(_Event):
    """A hold under way: sent when it begins (``seconds`` 0) and at most once a second after, for a timer."""

    type: ClassVar[str] = "hold_progress"
    hold: int
    """Number of the hold."""
    seconds: int
    """Whole seconds held so far."""
    start_ms: float
    """Source timestamp where the hold began."""
    t: float
    """Source timestamp now, milliseconds."""
    target_s: float | None
    """The time the exercise asks for, or null."""


@dataclass(frozen=True)
class HoldFaultEvent(_Event):
    """A fault episode began in the hold under way (said while it happens): ``hold``, ``seconds`` held when
    it was found, ``t``, and every field of the ``Fault`` (``details.start_s``, ``details.duration_s`` so far)."""

    type: ClassVar[str] = "hold_fault"
    hold: int
    """Number of the hold."""
    seconds: float
    """Seconds held when the episode was found."""
    t: float
    """Source timestamp, milliseconds."""
    fault: Fault
    """The fault."""

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type, "hold": self.hold, "seconds": round(self.seconds, 2), "t": self.t,
            **dataclasses.asdict(self.fault),
        }  # fmt: skip


@dataclass(frozen=True)
class NotCountedEvent(_Event):
    """A movement that started like a rep but did not count: every field of ``RepDiscarded``
    (``start_ms``, ``reason`` with the measured value and what to do, ``end_ms``, ``depth_pct``)."""

    type: ClassVar[str] = "not_counted"
    discarded: RepDiscarded
    """The movement."""

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, **self.discarded.as_dict()}


@dataclass(frozen=True)
class TipEvent(_Event):
    """Coaching text: every field of ``Tip`` (text, kind, persona, rep, fault, value, severity, source, note)."""

    type: ClassVar[str] = "tip"
    tip: Tip
    """The tip."""

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, **self.tip.as_dict()}


@dataclass(frozen=True)
class StatusEvent(_Event):
    """Session state and guidance: on every change and about once a second (``InferenceLoop`` builds it)."""

    type: ClassVar[str] = "status"
    state: str
    """created | connecting | live | ending | closed."""
    posture: PostureState
    """no_person | out_of_position | ready | in_rep."""
    message: str
    """What the user should do now."""
    advice: AdviceCode | None
    """Camera hint: step_back | come_closer | change_view (the exercise is not coached from this view), or null."""
    rep_in_progress: int | None
    """Number of the rep under way, if any."""
    notice: str | None
    """Something to tell the user once (why a movement was not counted, an unknown command...)."""
    reps: int
    """Reps counted so far."""
    persona: str
    """Id of the coach persona speaking now."""
    backend: str
    """2D pose backend."""
    lifter: str
    """3D lifter."""
    delay_frames: int
    """Frames of lookahead before a frame reaches the rep counter."""
    fps: float
    """Frames processed per second, over the last seconds."""
    received: int
    """Frames received."""
    processed: int
    """Frames run through the 2D model."""
    dropped: int
    """Frames dropped (a newer one arrived first)."""
    error: str | None = None
    """Why the session's processing failed (it then ends), or null."""
    skeleton: dict[str, list[Any]] | None = None
    """In the first status only: ``joints`` (names), ``bones`` ([joint, parent] pairs), ``left`` and
    ``right`` (joint indices) of the keypoints in ``pose`` events."""
    kind: str = "reps"
    """reps | hold: what the exercise counts (a hold: ``holds`` and ``hold_seconds`` instead of ``reps``)."""
    holds: int = 0
    """Holds counted so far (a hold exercise)."""
    hold_seconds: float | None = None
    """Seconds into the hold under way (its time under tension so far), or null."""


@dataclass(frozen=True)
class SummaryEvent(_Event):
    """At the end of the set: every field of ``SetSummary``, ``results``, ``hold_results`` (a hold exercise's
    holds, as in ``hold`` events), ``movements_not_counted`` and ``reason``."""

    type: ClassVar[str] = "summary"
    summary: SetSummary
    """The set at a glance."""
    results: tuple[RepResult, ...]
    """Every rep, as in ``rep`` events."""
    movements_not_counted: tuple[RepDiscarded, ...]
    """Every movement that started like a rep but did not count (``not_counted`` is their number):
    ``start_ms``, ``end_ms``, ``reason``, ``depth_pct``."""
    reason: str | None
    """Why the session ended."""
    hold_results: tuple[HoldResult, ...] = ()
    """Every hold (a hold exercise), as in ``hold`` events."""

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            **self.summary.as_dict(),
            "results": [r.as_dict() for r in self.results],
            "hold_results": [h.as_dict() for h in self.hold_results],
            "movements_not_counted": [d.as_dict() for d in self.movements_not_counted],
            "reason": self.reason,
        }


ServerEvent = (
    PoseEvent | Pose3DEvent | RepEvent | HoldEvent | HoldProgressEvent | HoldFaultEvent | NotCountedEvent | TipEvent
    | StatusEvent | SummaryEvent
)  # fmt: skip
"""Everything a session's WebSocket carries to the browser."""
