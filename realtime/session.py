"""One live coaching session: its state machine, its frame slot, its event outbox, its statistics and the
record of its set (``SetRecord``: what is stored in the history when it ends).

Threads: the event loop owns the state, the outbox and the closers; the inference thread owns the
session's models and scoring state (``realtime.pipeline.LivePipeline``, kept by ``InferenceLoop``),
takes frames from the slot, counts into ``stats`` and reaches the outbox only through ``emit``
(``call_soon_threadsafe``). A session knows nothing of its pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from realtime.events import (
    HoldEvent,
    NotCountedEvent,
    PoseEvent,
    RepEvent,
    ServerEvent,
    StatusEvent,
    SummaryEvent,
    TipEvent,
)
from realtime.ingest import FrameSlot, IncomingFrame
from realtime.outbox import Metric, Outbox, Outgoing
from scoring.hold import summarize_holds
from scoring.score import summarize
from scoring.types import HoldResult, RepResult, SetSummary


class SessionState(enum.Enum):
    """Where a session is in its life."""

    CREATED = "created"
    """Exists with its pipeline; waits for the WebRTC offer."""
    CONNECTING = "connecting"
    """Offer answered; waits for the first camera frame."""
    LIVE = "live"
    """Frames arrive and are coached."""
    ENDING = "ending"
    """Stopping: the last frames are scored and the summary is sent."""
    CLOSED = "closed"
    """Everything freed."""


_NEXT: dict[SessionState, frozenset[SessionState]] = {
    SessionState.CREATED: frozenset({SessionState.CONNECTING, SessionState.ENDING}),
    SessionState.CONNECTING: frozenset({SessionState.LIVE, SessionState.ENDING}),
    SessionState.LIVE: frozenset({SessionState.ENDING}),
    SessionState.ENDING: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}


class SessionStateError(Exception):
    """A request that the session's current state does not allow (e.g. a second offer)."""


def percentiles(values: deque[float] | list[float]) -> dict[str, float | None]:
    """p50/p95/max of a series (None when empty), milliseconds rounded to 0.1."""
    if not values:
        return {"p50": None, "p95": None, "max": None, "count": 0}
    data = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(data, 50)), 1),
        "p95": round(float(np.percentile(data, 95)), 1),
        "max": round(float(data.max()), 1),
        "count": int(data.size),
    }


class SessionStats:
    """Counters and latency series of one session (appends are atomic under the GIL)."""

    def __init__(self, window_s: float = 2.0, keep: int = 20000) -> None:
        self.window_s = window_s
        self.processed = 0
        """Frames run through the 2D model."""
        self.detected = 0
        """Processed frames with a person."""
        self.reps = 0
        """Reps counted so far (written by the inference thread)."""
        self._processed_at: deque[float] = deque()
        self._lock = threading.Lock()
        self.first_frame_at: float | None = None
        """``time.monotonic()`` of the first frame received."""
        self.last_frame_at: float | None = None
        """... and of the latest one (the reaper ends a session whose camera went silent)."""
        self.first_processed_at: float | None = None
        self.last_processed_at: float | None = None
        self.pose_latency_ms: deque[float] = deque(maxlen=keep)
        """Frame arrival -> its pose event handed to the WebSocket."""
        self.rep_latency_ms: deque[float] = deque(maxlen=keep)
        """Arrival of a rep's last frame -> its rep event handed to the WebSocket."""
        self.process_ms: deque[float] = deque(maxlen=keep)
        """Inference-thread time per frame (conversion + 2D model), milliseconds."""

    def frame_processed(self, now: float, detected: bool, process_ms: float) -> None:
        with self._lock:
            self.processed += 1
            self.detected += detected
            self.process_ms.append(process_ms)
            if self.first_processed_at is None:
                self.first_processed_at = now
            self.last_processed_at = now
            self._processed_at.append(now)
            while self._processed_at and self._processed_at[0] < now - self.window_s:
                self._processed_at.popleft()

    def fps(self, now: float) -> float:
        """Frames processed per second over the last ``window_s`` seconds."""
        with self._lock:
            recent = [t for t in self._processed_at if t >= now - self.window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def mean_fps(self) -> float:
        """Frames processed per second from the first processed frame to the last."""
        if self.first_processed_at is None or self.last_processed_at is None or self.processed < 2:
            return 0.0
        return (self.processed - 1) / max(self.last_processed_at - self.first_processed_at, 1e-6)

    def record(self, metric: Metric, since: float, now: float) -> None:
        series = self.pose_latency_ms if metric == "pose" else self.rep_latency_ms
        series.append((now - since) * 1000.0)


class SetRecord:
    """What a session's set is stored with when it ends, kept from the events it sends: every rep, hold,
    movement not counted and tip, the summary, and the backend, lifter and picture size they came from.

    Bounded: at most ``keep`` items of each kind (a set has a few hundred reps at most; ``truncated``
    counts what was left out beyond). The summary event's lists, when it comes, replace the reps, holds
    and movements gathered from the single events (they are the scoring core's own). ``add`` runs on the
    thread that sends the events, ``report`` after the session closed; a lock keeps them apart anyway.
    """

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self.reps: list[dict[str, Any]] = []
        """``RepResult.as_dict()`` of each counted rep, in order."""
        self.holds: list[dict[str, Any]] = []
        """``HoldResult.as_dict()`` of each counted hold."""
        self.not_counted: list[dict[str, Any]] = []
        """``RepDiscarded.as_dict()`` of each movement that did not count."""
        self.tips: list[dict[str, Any]] = []
        """``Tip.as_dict()`` of each tip sent."""
        self.summary: dict[str, Any] | None = None
        """``SetSummary.as_dict()`` from the summary event, once sent."""
        self.backend: str | None = None
        self.lifter: str | None = None
        self.kind: str | None = None
        self.image_size: tuple[int, int] | None = None
        self._left_out = {"reps": 0, "holds": 0, "not_counted": 0, "tips": 0}
        self._results: list[RepResult] = []
        self._hold_results: list[HoldResult] = []
        self._lock = threading.Lock()

    @property
    def truncated(self) -> int:
        """Items left out past ``keep`` (0 for any real set)."""
        return sum(self._left_out.values())

    def _append(self, name: str, item: dict[str, Any]) -> None:
        items: list[dict[str, Any]] = getattr(self, name)
        if len(items) < self.keep:
            items.append(item)
        else:
            self._left_out[name] += 1

    def add(self, event: ServerEvent) -> bool:
        """Note what ``event`` tells about the set (events that tell nothing are ignored); True when it
        counted a rep or a hold (the set's progress is worth saving)."""
        if isinstance(event, PoseEvent):
            if self.image_size is None and event.width > 0:
                self.image_size = (event.width, event.height)
            return False
        with self._lock:
            if isinstance(event, RepEvent):
                self._append("reps", event.result.as_dict())
                self._results.append(event.result)
                return True
            elif isinstance(event, HoldEvent):
                self._append("holds", event.result.as_dict())
                self._hold_results.append(event.result)
                return True
            elif isinstance(event, NotCountedEvent):
                self._append("not_counted", event.discarded.as_dict())
            elif isinstance(event, TipEvent):
                self._append("tips", event.tip.as_dict())
            elif isinstance(event, StatusEvent):
                self.backend, self.lifter, self.kind = event.backend, event.lifter, event.kind
            elif isinstance(event, SummaryEvent):
                self.summary = event.summary.as_dict()
                results: tuple[Any, ...]
                for name, results in (
                    ("reps", event.results),
                    ("holds", event.hold_results),
                    ("not_counted", event.movements_not_counted),
                ):
                    setattr(self, name, [r.as_dict() for r in results[: self.keep]])
                    self._left_out[name] = max(0, len(results) - self.keep)
            return False

    def summary_so_far(self) -> SetSummary:
        """The summary of what was counted until now (a set still running, or one that ended without its
        summary event): reps or holds, whichever the set counted, and the movements not counted."""
        with self._lock:
            not_counted = len(self.not_counted) + self._left_out["not_counted"]
            if self._hold_results or self.kind == "hold":
                return summarize_holds(list(self._hold_results), not_counted)
            return summarize(list(self._results), not_counted)

    def report(
        self,
        exercise: str,
        display_name: str,
        persona: str,
        summary: dict[str, Any],
        frames: int,
        detected: int,
        warnings: list[str],
    ) -> dict[str, Any]:
        """The set in the shape of an upload's report (``scoring.coach.report.build_report`` with
        ``detail=False``); ``summary`` is used when no summary event was sent (the set failed)."""
        with self._lock:
            width, height = self.image_size or (0, 0)
            return {
                "exercise": exercise,
                "display_name": display_name,
                "frames": frames,
                "detected_fraction": round(detected / frames, 4) if frames else 0.0,
                "backend": self.backend,
                "lifter": self.lifter,
                "image_size": [width, height],
                "kind": (self.summary or summary).get("kind", self.kind or "reps"),
                "reps": list(self.reps),
                "holds": list(self.holds),
                "not_counted": list(self.not_counted),
                "warnings": warnings,
                "summary": dict(self.summary or summary),
                "tips": list(self.tips),
                "persona": persona,
                "truncated": sum(self._left_out.values()),
            }


class Session:
    """A live session: created by ``SessionManager.create``, ended by ``SessionManager.end``."""

    def __init__(
        self,
        exercise: str,
        persona: str,
        loop: asyncio.AbstractEventLoop,
        wake: Callable[[], None],
        owner: str = "local",
        node: str | None = None,
    ) -> None:
        self.owner = owner
        """The user who started it (``server.auth``); its history row is theirs."""
        self.node = node
        """The server holding it when several share a load balancer (``LiveOptions.node``), else None."""
        self.id = secrets.token_hex(8) if node is None else f"{node}-{secrets.token_hex(8)}"
        """Public id (in URLs): 16 hex digits, after ``<node>-`` on a named server (the balancer routes the
        session's offer, WebSocket and DELETE by it to this process, which holds its WebRTC connection)."""
        self.token = secrets.token_urlsafe(24)
        """Secret the client shows for the offer and the WebSocket."""
        self.exercise = exercise
        self.persona = persona
        self.created_at = time.monotonic()
        self.started_at = time.time()
        """Unix time of its creation (the history's start of the set)."""
        self.state = SessionState.CREATED
        self.state_since = self.created_at
        self.end_reason: str | None = None
        """Why the session ended (``stopped by the client``, ``video stopped``, ...)."""
        self.summary: SetSummary | None = None
        """The set summary, once the session ended."""
        self.failure: str | None = None
        """Set by the inference thread when this session's processing failed; the manager ends it."""
        self.slot: FrameSlot[IncomingFrame] = FrameSlot(on_put=wake)
        self.outbox = Outbox()
        self.stats = SessionStats()
        self.record = SetRecord()
        """The set's reps, holds, tips and summary as sent, for the history."""
        self.closers: list[Callable[[], Awaitable[None]]] = []
        """Coroutines that free what the server attached (peer connection, ingest task), run at the end."""
        self.closed = asyncio.Event()
        self.websocket_attached = False
        self.on_counted: Callable[[Session], None] | None = None
        """Called on the event loop after each counted rep or hold was sent (the manager saves the progress)."""
        self._loop = loop

    def check_token(self, token: str | None) -> bool:
        """Constant-time comparison with the session's secret."""
        return token is not None and secrets.compare_digest(token.encode(), self.token.encode())

    def transition(self, new: SessionState) -> None:
        """Move to ``new`` (event loop only); ``SessionStateError`` if the state machine forbids it."""
        if new not in _NEXT[self.state]:
            raise SessionStateError(f"session {self.id} is {self.state.value}; it cannot become {new.value}")
        self.state = new
        self.state_since = time.monotonic()

    def emit(self, event: ServerEvent, since: float | None = None, metric: Metric | None = None) -> None:
        """Queue an event for the WebSocket; callable from any thread."""
        self.send(Outgoing(event, since, metric))

    def send(self, item: Outgoing) -> None:
        """Queue an outgoing item for the WebSocket (and note it in ``record``); callable from any thread."""
        counted = self.record.add(item.event)
        with contextlib.suppress(RuntimeError):  # the event loop is closed: the server is gone
            self._loop.call_soon_threadsafe(self.outbox.put, item)
            if counted and self.on_counted is not None:
                self._loop.call_soon_threadsafe(self.on_counted, self)

    def info(self, now: float | None = None) -> dict[str, Any]:
        """State and statistics, JSON-ready."""
        now = time.monotonic() if now is None else now
        stats = self.stats
        return {
            "id": self.id,
            "exercise": self.exercise,
            "persona": self.persona,
            "state": self.state.value,
            "end_reason": self.end_reason,
            "age_s": round(now - self.created_at, 2),
            "frames_received": self.slot.received,
            "frames_processed": stats.processed,
            "frames_dropped": self.slot.dropped,
            "frames_with_person": stats.detected,
            "reps": stats.reps,
            "fps": round(stats.fps(now), 1),
            "mean_fps": round(stats.mean_fps(), 2),
            "events_dropped": self.outbox.dropped,
            "pose_latency_ms": percentiles(stats.pose_latency_ms),
            "rep_latency_ms": percentiles(stats.rep_latency_ms),
            "process_ms": percentiles(stats.process_ms),
        }
