"""The live sessions of one server: create, look up, feed, end; a reaper ends the silent ones.

Runs on the event loop. Anything blocking (building a session's 2D model, waiting for the inference
thread) happens in worker threads or the inference thread; here we only await.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lifting.lifter import Lifter
from lifting.pose2d import PoseBackend
from realtime.guidance import FramingMonitor, FramingOptions
from realtime.ingest import TrackEnded, VideoTrack, pump_track
from realtime.loop import InferenceLoop
from realtime.pipeline import LivePipeline
from realtime.session import Session, SessionState
from scoring.coach.writer import TipService
from scoring.core import ScoringCore
from scoring.features import focus_joints
from scoring.reference import Reference
from scoring.types import SetSummary

log = logging.getLogger(__name__)


class SessionLimitError(Exception):
    """The server already serves as many live sessions as it is configured for."""


class UnknownSessionError(KeyError):
    """No session has this id (it never existed, or it ended)."""


@dataclass(frozen=True)
class LiveOptions:
    """Limits and timing of live sessions."""

    max_sessions: int = 4
    """Live sessions served at once; more are refused (503)."""
    lookahead_frames: int = 13
    """Future frames the lifter waits for (clipped to what the lifter allows; 0 for the world-landmark lifter)."""
    max_side: int | None = 640
    """Camera frames are downscaled to this longer side before the 2D model."""
    offer_timeout_s: float = 60.0
    """A session that received no WebRTC offer this long after creation is ended."""
    connect_timeout_s: float = 30.0
    """A session whose first frame did not arrive this long after the offer is ended."""
    idle_timeout_s: float = 10.0
    """A live session that received no frame for this long is ended (camera stopped, client gone)."""
    status_interval_s: float = 1.0
    """Seconds between periodic status events."""
    finish_timeout_s: float = 15.0
    """How long ``end`` waits for the inference thread to score the last frames."""
    pose_workers: int | None = None
    """Threads running the sessions' 2D stages side by side (None: one per CPU core; see ``InferenceLoop``)."""
    node: str | None = None
    """This server's name among several behind a load balancer: session ids start with ``<node>-``."""

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {self.max_sessions}")
        if self.pose_workers is not None and self.pose_workers < 1:
            raise ValueError(f"pose_workers must be >= 1, got {self.pose_workers}")
        if self.lookahead_frames < 0:
            raise ValueError(f"lookahead_frames must be >= 0, got {self.lookahead_frames}")
        for name in ("offer_timeout_s", "connect_timeout_s", "idle_timeout_s", "status_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


class SessionManager:
    """Owns the live sessions and the inference loop. Use ``async with`` or ``start()``/``close()``."""

    def __init__(
        self,
        options: LiveOptions,
        lifter: Lifter,
        backend_factory: Callable[[], PoseBackend],
        reference_loader: Callable[[str], Reference],
        tips: TipService,
        on_ended: Callable[[Session], None] | None = None,
        alternatives: Callable[[str], Sequence[Reference]] = lambda name: (),
        on_progress: Callable[[Session], None] | None = None,
    ) -> None:
        """``on_ended(session)`` and ``on_progress(session)`` block (they write to the store): they run in
        worker threads. ``on_progress`` follows each counted rep or hold, one call at a time per session
        (counts that arrive meanwhile are saved by one more call), and never after ``on_ended`` began."""
        self.options = options
        self._alternatives = alternatives
        self.tips = tips
        self._on_ended = on_ended
        self._on_progress = on_progress
        self._saving: dict[str, asyncio.Task[None]] = {}
        self._unsaved: set[str] = set()
        self.lifter = lifter
        self.lookahead = min(options.lookahead_frames, lifter.max_lookahead)
        self._backend_factory = backend_factory
        self._reference_loader = reference_loader
        self.loop_thread = InferenceLoop(lifter, options.status_interval_s, pose_workers=options.pose_workers)
        self._sessions: dict[str, Session] = {}
        self._reserved = 0
        self._reaper: asyncio.Task[None] | None = None
        self._ingest: dict[str, asyncio.Task[None]] = {}
        self._ending: dict[str, asyncio.Task[None]] = {}
        self.ended: list[dict[str, object]] = []
        """``info()`` of the most recently ended sessions (newest last, at most 50)."""

    async def start(self) -> None:
        self.loop_thread.start()
        self._reaper = asyncio.create_task(self._reap(), name="session-reaper")

    async def close(self) -> None:
        """End every session (each gets its summary), then stop the inference thread."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await asyncio.gather(*(self.end(s, "server shutting down") for s in list(self._sessions.values())))
        await asyncio.to_thread(self.loop_thread.stop)

    async def __aenter__(self) -> SessionManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def get(self, session_id: str) -> Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise UnknownSessionError(session_id) from None

    async def create(self, exercise: str, persona: str, owner: str = "local") -> Session:
        """A new session of ``owner`` with its own 2D model and scoring core, attached to the inference loop.

        Raises ``SessionLimitError`` when full, ``ValueError`` for an unknown persona and whatever
        the reference loader raises for an unknown exercise.
        """
        if len(self._sessions) + self._reserved >= self.options.max_sessions:
            raise SessionLimitError(
                f"the server already coaches {self.options.max_sessions} live sessions; try again later"
            )
        tips = self.tips.writer(persona)
        tips.notify = self.loop_thread.wake
        self._reserved += 1
        try:
            reference = await asyncio.to_thread(self._reference_loader, exercise)
            others = await asyncio.to_thread(self._alternatives, exercise)
            backend = await asyncio.to_thread(self._backend_factory)
            backend.follow(focus_joints(reference.spec.driver))
        finally:
            self._reserved -= 1
        framing = FramingMonitor(FramingOptions(views=reference.spec.views, gravity=reference.gravity))
        pipeline = LivePipeline(
            backend,
            self.lifter.stream(self.lookahead),
            ScoringCore(reference, alternatives=others),
            tips,
            framing,
            self.options.max_side,
        )
        session = Session(
            exercise, persona, asyncio.get_running_loop(), self.loop_thread.wake, owner, self.options.node
        )
        if self._on_progress is not None:
            session.on_counted = self._counted
        self._sessions[session.id] = session
        self.loop_thread.attach(session, pipeline)
        return session

    def _counted(self, session: Session) -> None:
        """A rep or hold was counted (event loop): save the set's progress in a worker thread, unless a
        save is running already (it saves once more when it is done)."""
        if session.state is SessionState.CLOSED or self._on_progress is None:
            return
        self._unsaved.add(session.id)
        if session.id not in self._saving:
            self._saving[session.id] = asyncio.create_task(
                self._save(session, self._on_progress), name=f"save:{session.id}"
            )

    async def _save(self, session: Session, save: Callable[[Session], None]) -> None:
        try:
            while session.id in self._unsaved:
                self._unsaved.discard(session.id)
                try:
                    await asyncio.to_thread(save, session)
                except Exception:
                    log.exception("saving the progress of session %s failed", session.id)
        finally:
            self._saving.pop(session.id, None)

    def set_persona(self, session: Session, persona_id: str) -> None:
        """Coach ``session`` in another voice from its next tip on; ``ValueError`` for an unknown id.
        The inference thread switches it and confirms with a status event."""
        persona = self.tips.persona(persona_id)
        self.loop_thread.set_persona(session, persona)
        session.persona = persona.id

    def notice(self, session: Session, text: str) -> None:
        """Tell the session's user something once (a status event with ``notice``)."""
        self.loop_thread.notice(session, text)

    def offer_received(self, session: Session) -> None:
        """The session's offer was accepted: wait for frames (``SessionStateError`` if it had one)."""
        session.transition(SessionState.CONNECTING)

    def attach_track(self, session: Session, track: VideoTrack) -> None:
        """Feed ``track``'s frames into the session's slot until it ends (then the session ends)."""
        if session.id in self._ingest or session.state not in (SessionState.CONNECTING, SessionState.LIVE):
            return
        self._ingest[session.id] = asyncio.create_task(self._pump(session, track), name=f"ingest:{session.id}")

    async def _pump(self, session: Session, track: VideoTrack) -> None:
        def on_frame(arrival: float) -> None:
            session.stats.last_frame_at = arrival
            if session.stats.first_frame_at is None:
                session.stats.first_frame_at = arrival
                if session.state is SessionState.CONNECTING:
                    session.transition(SessionState.LIVE)

        try:
            await pump_track(track, session.slot, on_frame=on_frame)
        except TrackEnded:
            self.end_soon(session, "the camera stopped")
        except Exception as exc:  # a frame we cannot read: end cleanly with the reason
            log.exception("ingest of session %s failed", session.id)
            self.end_soon(session, f"reading the camera stream failed: {exc}")

    def end_soon(self, session: Session, reason: str) -> asyncio.Task[None]:
        """Start ending ``session`` in a task of its own and return it (the first reason wins).

        The task is not tied to the caller: a cancelled caller (a handler whose client went away)
        cannot leave a session half-ended.
        """
        task = self._ending.get(session.id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._end(session, reason), name=f"end:{session.id}")
            self._ending[session.id] = task
            task.add_done_callback(lambda _: self._ending.pop(session.id, None))
        return task

    async def end(self, session: Session, reason: str) -> None:
        """End ``session``: last reps scored, summary sent, models and connection freed. Idempotent."""
        if session.state is not SessionState.CLOSED:
            await asyncio.shield(self.end_soon(session, reason))

    async def _end(self, session: Session, reason: str) -> None:
        if session.state is SessionState.CLOSED:
            return
        session.end_reason = reason
        session.transition(SessionState.ENDING)
        loop = asyncio.get_running_loop()
        finished = loop.create_future()

        def resolve(summary: SetSummary | None) -> None:
            session.summary = summary
            if not finished.done():
                finished.set_result(None)

        def done(summary: SetSummary | None) -> None:
            with contextlib.suppress(RuntimeError):  # the event loop is gone (shutdown)
                loop.call_soon_threadsafe(resolve, summary)

        self.loop_thread.finish(session, reason, done)
        try:
            await asyncio.wait_for(finished, self.options.finish_timeout_s)
        except TimeoutError:
            log.error("session %s: the inference thread did not finish it in time", session.id)
        task = self._ingest.pop(session.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        for closer in session.closers:
            try:
                await closer()
            except Exception:
                log.exception("closing a resource of session %s failed", session.id)
        session.transition(SessionState.CLOSED)
        session.outbox.close()
        self._sessions.pop(session.id, None)
        self.ended.append(session.info())
        del self.ended[:-50]
        self._unsaved.discard(session.id)  # closed: no more saves of its progress; the last one finishes first
        saving = self._saving.get(session.id)
        if saving is not None:
            await asyncio.wait({saving})
        if self._on_ended is not None:
            try:
                await asyncio.to_thread(self._on_ended, session)
            except Exception:
                log.exception("recording the end of session %s failed", session.id)
        session.closed.set()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for session in list(self._sessions.values()):
                reason = self._expired(session, now)
                if reason is not None:
                    self.end_soon(session, reason)

    def _expired(self, session: Session, now: float) -> str | None:
        options = self.options
        age = now - session.state_since
        if session.state in (SessionState.ENDING, SessionState.CLOSED):
            return None
        if session.failure is not None:
            return session.failure
        if session.state is SessionState.CREATED and age > options.offer_timeout_s:
            return f"no WebRTC offer within {options.offer_timeout_s:g} s"
        if session.state is SessionState.CONNECTING and age > options.connect_timeout_s:
            return f"no video arrived within {options.connect_timeout_s:g} s of the offer"
        last = session.stats.last_frame_at
        if session.state is SessionState.LIVE and last is not None and now - last > options.idle_timeout_s:
            return f"no video for {options.idle_timeout_s:g} s"
        return None
