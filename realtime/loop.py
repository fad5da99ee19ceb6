"""The inference loop: ONE thread serving every live session.

Each step takes the waiting frame of every session (latest frame wins, see ``realtime.ingest``), runs
each through its session's 2D backend, gathers the lifter windows that became complete across all
sessions and lifts them in one ``Lifter.lift_windows`` call (one batch on the GPU), then feeds each
3D pose to its session's scoring core. Events go back to the event loop through ``Session.emit``.

Control (attach a session, finish one, stop) arrives on a ``queue.Queue``; ``None`` stops the thread.
A failure in one session's processing ends that session with the reason, never the loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lifting.lifter import Lifter
from lifting.window import Window
from realtime.events import SKELETON, pose_event
from realtime.session import Outgoing, Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Attach:
    session: Session


@dataclass(frozen=True)
class _Finish:
    session: Session
    reason: str
    done: Callable[[], None]


class InferenceLoop:
    """The thread that runs the models for all live sessions. ``start()``, then ``stop()``."""

    def __init__(self, lifter: Lifter, status_interval_s: float = 1.0, idle_wait_s: float = 0.25) -> None:
        self.lifter = lifter
        self.status_interval_s = status_interval_s
        self.idle_wait_s = idle_wait_s
        self._commands: queue.Queue[_Attach | _Finish | None] = queue.Queue()
        self._wake = threading.Event()
        self._sessions: list[Session] = []  # touched by the loop thread only
        self._closing: list[_Finish] = []  # finished sets whose last tips a language model still writes
        self._last_status: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="inference-loop", daemon=True)
        self.steps = 0
        """Steps that processed at least one frame."""
        self.batch_sizes: dict[int, int] = {}
        """How many lifter calls had each number of windows (sessions batched per step)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step; sessions still attached are closed without a summary."""
        self._commands.put(None)
        self.wake()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wake(self) -> None:
        """A frame or a command is waiting (called by the slots' ``put``)."""
        self._wake.set()

    def attach(self, session: Session) -> None:
        """Start serving ``session`` (its frames are picked up from the next step)."""
        self._commands.put(_Attach(session))
        self.wake()

    def finish(self, session: Session, reason: str, done: Callable[[], None]) -> None:
        """Score what is left of ``session``, emit its summary, free its models, then call ``done``
        (from the loop thread)."""
        self._commands.put(_Finish(session, reason, done))
        self.wake()

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.idle_wait_s)
            self._wake.clear()
            if not self._handle_commands():
                break
            if self.step():
                self.steps += 1
            self._poll_tips()
            self._send_statuses(time.monotonic())
        for command in self._closing:
            self._close(command)
        for session in self._sessions:
            session.pipeline.close()
        self._sessions.clear()

    def _handle_commands(self) -> bool:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return True
            if command is None:
                return False
            if isinstance(command, _Attach):
                self._sessions.append(command.session)
                command.session.emit(
                    {"type": "status", "skeleton": SKELETON, **self._status(command.session, time.monotonic())}
                )
            else:
                self._finish(command)

    def step(self) -> int:
        """Process the waiting frame of every session once; returns how many frames were processed."""
        return self._process([s for s in self._sessions if s.failure is None])

    def _process(self, sessions: list[Session]) -> int:
        windows: list[Window] = []
        owners: list[Session] = []
        processed = 0
        for session in sessions:
            item = session.slot.take()
            if item is None:
                continue
            started = time.perf_counter()
            try:
                pose, ready = session.pipeline.detect(item)
            except Exception as exc:  # one session's bad frame must not stop the others
                self._fail(session, f"2D pose estimation failed: {exc}")
                continue
            processed += 1
            session.stats.frame_processed(time.monotonic(), pose.detected, (time.perf_counter() - started) * 1000)
            session.emit(pose_event(pose, item.sequence), item.arrival, "pose")
            windows.extend(ready)
            owners.extend([session] * len(ready))
        if windows:
            self.batch_sizes[len(windows)] = self.batch_sizes.get(len(windows), 0) + 1
            try:
                lifted = self.lifter.lift_windows(windows)
            except Exception as exc:
                for session in set(owners):
                    self._fail(session, f"3D lifting failed: {exc}")
                return processed
            for session, pose3d in zip(owners, lifted, strict=True):
                if session.failure is None:
                    self._deliver(session, partial(session.pipeline.score, pose3d))
        return processed

    def _deliver(self, session: Session, produce: Callable[[], list[Outgoing]]) -> None:
        try:
            produced = produce()
        except Exception as exc:
            self._fail(session, f"scoring failed: {exc}")
            return
        for item in produced:
            session.emit(item.payload, item.since, item.metric)

    def _finish(self, command: _Finish) -> None:
        session = command.session
        if session in self._sessions:
            if session.failure is None:
                self._process([session])  # the frame still waiting belongs to the set
            session.slot.close()
            self._sessions.remove(session)
            if session.failure is None:
                windows = session.pipeline.flush_windows()
                try:
                    lifted = self.lifter.lift_windows(windows)
                except Exception as exc:
                    log.exception("lifting the last frames of session %s failed", session.id)
                    lifted = []
                    session.failure = f"3D lifting failed: {exc}"
                for pose3d in lifted:
                    self._deliver(session, partial(session.pipeline.score, pose3d))
            self._deliver(session, partial(session.pipeline.finish, command.reason))
            if session.pipeline.tips.pending:  # the summary tip is being written: close when it is out
                self._closing.append(command)
                return
            self._close(command)
        else:
            command.done()

    def _close(self, command: _Finish) -> None:
        session = command.session
        session.emit({"type": "status", **self._status(session, time.monotonic()), "state": "closed"})
        try:
            session.pipeline.close()
        except Exception:
            log.exception("closing the 2D backend of session %s failed", session.id)
        self._last_status.pop(session.id, None)
        command.done()

    def _poll_tips(self) -> None:
        """Send the tips a language model finished; close the finished sets that have all theirs."""
        for session in self._sessions:
            self._deliver(session, session.pipeline.poll_tips)
        for command in list(self._closing):
            self._deliver(command.session, command.session.pipeline.poll_tips)
            if not command.session.pipeline.tips.pending:
                self._closing.remove(command)
                self._close(command)

    def _fail(self, session: Session, reason: str) -> None:
        log.error("session %s: %s", session.id, reason)
        session.failure = reason
        session.emit({"type": "status", **self._status(session, time.monotonic()), "notice": reason, "error": reason})

    def _status(self, session: Session, now: float) -> dict[str, object]:
        return {
            "state": session.state.value,
            **session.pipeline.status_fields(),
            "fps": round(session.stats.fps(now), 1),
            "received": session.slot.received,
            "processed": session.stats.processed,
            "dropped": session.slot.dropped,
        }

    def _send_statuses(self, now: float) -> None:
        for session in self._sessions:
            pipeline = session.pipeline
            due = now - self._last_status.get(session.id, 0.0) >= self.status_interval_s
            if pipeline.changed or due:
                pipeline.changed = False
                self._last_status[session.id] = now
                session.emit({"type": "status", **self._status(session, now)})
