"""One session's pipeline state: 2D backend -> streaming window -> (shared lifter) -> scoring core -> tips.

Owned by the inference thread (``InferenceLoop`` keeps one per session id), used in two halves so the
loop can batch the lifter across sessions: ``detect`` (pixels -> ``Pose2D`` -> the windows that became
complete) and ``score`` (one ``Pose3D`` -> events). Synchronous and free of asyncio: a test drives it
frame by frame. It knows nothing of sessions: what it produces is ``Outgoing`` events.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from lifting.lifter import LiftStream
from lifting.pose2d import PoseBackend
from lifting.types import Pose2D, Pose3D
from lifting.window import Window
from realtime.events import (
    HoldEvent,
    HoldFaultEvent,
    HoldProgressEvent,
    NotCountedEvent,
    RepEvent,
    SummaryEvent,
    TipEvent,
)
from realtime.guidance import Advice, FramingMonitor
from realtime.ingest import IncomingFrame, to_rgb
from realtime.outbox import Outgoing
from scoring.coach.persona import Persona
from scoring.coach.writer import TipWriter
from scoring.core import ScoringCore
from scoring.types import (
    CoachEvent,
    ExerciseMismatch,
    HoldEnded,
    HoldFault,
    HoldProgress,
    HoldStarted,
    PersonChanged,
    PostureChanged,
    PostureState,
    RepDiscarded,
    RepScored,
    RepStarted,
    SetFinished,
    SetSummary,
)


class LivePipeline:
    """Per-session models and scoring state for live mode."""

    def __init__(
        self,
        backend: PoseBackend,
        lift: LiftStream,
        core: ScoringCore,
        tips: TipWriter,
        framing: FramingMonitor,
        max_side: int | None,
    ) -> None:
        self.backend = backend
        self.lift = lift
        self.core = core
        self.tips = tips
        self.framing = framing
        self.max_side = max_side
        self.posture: PostureState = "no_person"
        """Latest posture state from the scoring core."""
        self.posture_message = "step into the frame: the camera must see your whole body"
        self.rep_in_progress: int | None = None
        self.hold_seconds: float | None = None
        """Seconds into the hold under way (a hold exercise), or None."""
        self.notice: str | None = None
        self.changed = True
        """Set when something a status event shows changed; the loop clears it after sending one."""
        self._advice_code: str | None = None
        self._arrivals: deque[float] = deque(maxlen=4096)  # arrival of 2D frame i at [i - _first]
        self._first = 0

    @property
    def delay_frames(self) -> int:
        """Frames between a frame's arrival and its 3D pose reaching the scoring core (the lookahead)."""
        return self.lift.window.delay_frames

    def detect(self, item: IncomingFrame) -> tuple[Pose2D, list[Window]]:
        """2D pose of one incoming frame, and the lifter windows that became complete."""
        image, source_size = self.prepare(item)
        return self.accept(item, self.backend.detect(image, item.timestamp_ms, source_size))

    def prepare(self, item: IncomingFrame) -> tuple[np.ndarray, tuple[int, int]]:
        """The first half of ``detect``: the frame as ``(H, W, 3)`` uint8 RGB downscaled to ``max_side``, and
        the source size its keypoints are reported in (for a loop that batches the 2D model itself)."""
        return to_rgb(item.frame, self.max_side)

    def accept(self, item: IncomingFrame, pose: Pose2D) -> tuple[Pose2D, list[Window]]:
        """The second half of ``detect``: the 2D pose of ``item`` (from this session's backend), and the
        lifter windows that became complete."""
        if len(self._arrivals) == self._arrivals.maxlen:
            self._first += 1
        self._arrivals.append(item.arrival)
        self.framing.add_2d(pose)
        self._note_advice()
        return pose, self.lift.window.add(pose)

    def score(self, pose: Pose3D) -> list[Outgoing]:
        """The next 3D pose (frames in order) through the scoring core and the tip writer."""
        self.framing.add_3d(pose)
        return self._translate(self.core.add(pose))

    def flush_windows(self) -> list[Window]:
        """End of stream: windows of the frames still waiting for their lookahead."""
        return self.lift.window.flush()

    def finish(self, reason: str | None) -> list[Outgoing]:
        """Close the set (after the flushed poses went through ``score``): last rep, tips, summary."""
        return self._translate(self.core.finish(), reason)

    def poll_tips(self) -> list[Outgoing]:
        """Tips a language model finished (or whose time budget ran out) since the last call."""
        return [Outgoing(TipEvent(tip)) for tip in self.tips.poll()]

    def set_persona(self, persona: Persona) -> None:
        """Coach in ``persona``'s voice from the next tip on."""
        self.tips.set_persona(persona)
        self.changed = True

    @property
    def reps(self) -> int:
        """Reps counted so far."""
        return len(self.core.results)

    @property
    def holds(self) -> int:
        """Holds counted so far (a hold exercise)."""
        return len(self.core.holds)

    @property
    def kind(self) -> str:
        """What the exercise counts: reps or hold."""
        return self.core.reference.spec.kind

    def summary(self) -> SetSummary:
        """The set so far at a glance."""
        return self.core.summary()

    def advice(self) -> Advice | None:
        """The camera hint now, or None."""
        return self.framing.advice()

    def message(self) -> str:
        """What the user should do now: the camera hint, else a recognised mix-up of exercises while
        out of the chosen one's position, else the posture guidance."""
        advice = self.framing.advice()
        if advice is not None and self.posture != "no_person":
            return advice.message
        if self.core.mismatch is not None and self.posture == "out_of_position":
            return self.core.mismatch.message
        return self.posture_message

    def close(self) -> None:
        """Free the 2D model."""
        self.backend.close()

    def _note_advice(self) -> None:
        advice = self.framing.advice()
        code = advice.code if advice is not None else None
        if code != self._advice_code:
            self._advice_code = code
            self.changed = True

    def _arrival(self, frame: int) -> float | None:
        offset = frame - self._first
        return self._arrivals[offset] if 0 <= offset < len(self._arrivals) else None

    def _translate(self, events: list[CoachEvent], reason: str | None = None) -> list[Outgoing]:
        out: list[Outgoing] = []
        for event in events:
            if isinstance(event, RepScored):
                self.rep_in_progress = None
                self.notice = None
                self.changed = True
                out.append(Outgoing(RepEvent(event.result), self._arrival(event.result.end_frame), "rep"))
            elif isinstance(event, RepStarted):
                self.rep_in_progress = event.index
                self.notice = None
                self.changed = True
            elif isinstance(event, RepDiscarded):
                self.rep_in_progress = self.hold_seconds = None
                self.changed = True
                if event.reason:  # no reason: a flicker of the pose, nothing to tell
                    mixup = self.core.mismatch if not self.core.results else None  # the clearer message stays
                    self.notice = mixup.message if mixup is not None else f"not counted: {event.reason}"
                    out.append(Outgoing(NotCountedEvent(event)))
            elif isinstance(event, ExerciseMismatch | PersonChanged):
                self.notice = event.message
                self.changed = True
            elif isinstance(event, PostureChanged):
                self.posture = event.state
                self.posture_message = event.message
                self.changed = True
            elif isinstance(event, HoldStarted):
                self.rep_in_progress, self.hold_seconds, self.notice, self.changed = event.index, 0.0, None, True
                out.append(Outgoing(HoldProgressEvent(event.index, 0, event.start_ms, event.start_ms, event.target_s)))
            elif isinstance(event, HoldProgress):
                self.hold_seconds = float(event.seconds)
                e = event
                out.append(Outgoing(HoldProgressEvent(e.index, e.seconds, e.start_ms, e.timestamp_ms, e.target_s)))
            elif isinstance(event, HoldFault):
                out.append(Outgoing(HoldFaultEvent(event.index, event.seconds, event.timestamp_ms, event.fault)))
            elif isinstance(event, HoldEnded):
                self.rep_in_progress, self.hold_seconds, self.changed = None, None, True
                out.append(Outgoing(HoldEvent(event.result), self._arrival(event.result.end_frame), "rep"))
            elif isinstance(event, SetFinished):
                self.rep_in_progress = self.hold_seconds = None
                core = self.core
                summary = SummaryEvent(
                    event.summary, tuple(core.results), tuple(core.not_counted), reason, tuple(core.holds)
                )
                out.append(Outgoing(summary))
            out.extend(Outgoing(TipEvent(tip)) for tip in self.tips.add(event))
        return out
