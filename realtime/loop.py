"""The inference loop: ONE thread serving every live session.

Each step takes the waiting frame of every session (latest frame wins, see ``realtime.ingest``), runs
each through its session's 2D backend, gathers the lifter windows that became complete across all
sessions and lifts them in one ``Lifter.lift_windows`` call (one batch on the GPU), then feeds each
3D pose to its session's scoring core and out as a ``pose3d`` event (for the page's 3D view, the
lifter's lookahead later than the frame's ``pose`` event). Events go back to the event loop through
``Session.emit``.

The 2D stage of a backend that cannot batch across sessions (MediaPipe: one graph per session, which
releases the GIL while it runs) goes to a pool of ``pose_workers`` threads ("pose2d-N", one per CPU
core by default) when more than one session has a frame waiting: each session's frame runs on its own
pipeline, so two sessions on a 2-core machine use both cores. A backend that batches
(``PoseBackend.batched``: YOLOv3 + HRNet) gets every such session's frame in one ``detect_batch`` call
on this thread: one detector pass for all frames, one HRNet pass for all their people. Everything
else stays on this thread.

A lifter that runs a network (``Lifter.overlapped``: PoseFormerV2) lifts on a second thread ("lift"),
beside the next step's 2D stage: step N's windows are lifted while step N+1's frames go through their
2D models (both release the GIL), and step N's 3D poses are scored on this thread as soon as that 2D
stage is done, before step N+1's windows are submitted, so every session's frames are scored in order.
On 2 CPU cores this is what keeps a 30-fps stream whole with the small PoseFormerV2: in series a frame
costs 2D (~24 ms) + lift (~8-10 ms) + scoring, over the 33 ms a frame (benchmarks/RESULTS.md). The
3D view and the scoring run one step (one frame) later. The world-landmark lifter (a copy of what the
2D model already estimated) runs in series: there is nothing to overlap.

The thread owns every session's ``LivePipeline`` (a map from session id); nothing else touches them.
The event loop sends commands on a ``queue.Queue`` (attach a session with its pipeline, switch its
persona, tell it something, finish it); ``None`` stops the thread. A failure in one session's
processing ends that session with the reason, never the loop. Every ``status`` event is built here,
by ``_status``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from lifting.joints import h36m_skeleton
from lifting.lifter import Lifter
from lifting.types import Pose2D, Pose3D
from lifting.window import Window
from realtime.events import Pose3DEvent, PoseEvent, StatusEvent
from realtime.ingest import IncomingFrame
from realtime.outbox import Outgoing
from realtime.pipeline import LivePipeline
from realtime.session import Session
from scoring.coach.persona import Persona
from scoring.types import SetSummary

log = logging.getLogger(__name__)

Finished = Callable[[SetSummary | None], None]
"""Called from the loop thread when a session is finished, with its set summary (None if it was not served)."""


@dataclass(frozen=True)
class _Attach:
    session: Session
    pipeline: LivePipeline


@dataclass(frozen=True)
class _Finish:
    session_id: str
    reason: str
    done: Finished


@dataclass(frozen=True)
class _SetPersona:
    session_id: str
    persona: Persona


@dataclass(frozen=True)
class _Notice:
    session_id: str
    text: str


_Command = _Attach | _Finish | _SetPersona | _Notice


def _lifted(pipeline: LivePipeline, pose: Pose3D) -> list[Outgoing]:
    """A lifted frame's events: its ``pose3d`` (for the 3D view), then what its scoring produced."""
    return [Outgoing(Pose3DEvent.of(pose)), *pipeline.score(pose)]


@dataclass(frozen=True)
class _Served:
    session: Session
    pipeline: LivePipeline


@dataclass(frozen=True)
class _PendingLift:
    """One step's windows being lifted on the lift thread, and the sessions they belong to."""

    future: Future[tuple[list[Pose3D], float]]
    owners: list[_Served]


class InferenceLoop:
    """The thread that runs the models for all live sessions. ``start()``, then ``stop()``."""

    def __init__(
        self,
        lifter: Lifter,
        status_interval_s: float = 1.0,
        idle_wait_s: float = 0.25,
        pose_workers: int | None = None,
        overlap_lift: bool | None = None,
    ) -> None:
        workers = (os.cpu_count() or 1) if pose_workers is None else pose_workers
        if workers < 1:
            raise ValueError(f"pose_workers must be >= 1, got {workers}")
        self.pose_workers = workers
        """Threads that run the sessions' 2D stages side by side (1: all on the loop thread)."""
        self._pool: ThreadPoolExecutor | None = None
        self.lifter = lifter
        self.overlap_lift = bool(getattr(lifter, "overlapped", False)) if overlap_lift is None else overlap_lift
        """Lift on a second thread beside the next step's 2D stage (default: ``Lifter.overlapped``)."""
        self._lift_pool: ThreadPoolExecutor | None = None
        self._pending: _PendingLift | None = None  # touched by the loop thread only
        self.status_interval_s = status_interval_s
        self.idle_wait_s = idle_wait_s
        self._commands: queue.Queue[_Command | None] = queue.Queue()
        self._wake = threading.Event()
        self._served: dict[str, _Served] = {}  # touched by the loop thread only
        self._closing: list[tuple[_Served, _Finish]] = []  # finished sets whose last tips a model still writes
        self._last_status: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="inference-loop", daemon=True)
        self.steps = 0
        """Steps that processed at least one frame."""
        self.batch_sizes: dict[int, int] = {}
        """How many lifter calls had each number of windows (sessions batched per step)."""
        self.stage_ms: dict[str, deque[float]] = {"lift": deque(maxlen=20000), "score": deque(maxlen=20000)}
        """Recent timings, milliseconds: ``lift`` per lifter call (all sessions' windows of a step),
        ``score`` per 3D pose (scoring core and tip writer); the 2D stage is per session
        (``SessionStats.process_ms``). Read by ``benchmarks/latency.py``."""

    def start(self) -> None:
        if self.pose_workers > 1:
            self._pool = ThreadPoolExecutor(self.pose_workers, thread_name_prefix="pose2d")
        if self.overlap_lift:
            self._lift_pool = ThreadPoolExecutor(1, thread_name_prefix="lift")
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

    def attach(self, session: Session, pipeline: LivePipeline) -> None:
        """Start serving ``session`` with ``pipeline`` (which the loop owns from now on)."""
        self._send(_Attach(session, pipeline))

    def set_persona(self, session: Session, persona: Persona) -> None:
        """Coach ``session`` in ``persona``'s voice from its next tip on (a status event confirms it)."""
        self._send(_SetPersona(session.id, persona))

    def notice(self, session: Session, text: str) -> None:
        """Tell the session's user something once (a status event with ``notice``)."""
        self._send(_Notice(session.id, text))

    def finish(self, session: Session, reason: str, done: Finished) -> None:
        """Score what is left of ``session``, emit its summary, free its models, then call ``done``
        with the set summary (from the loop thread)."""
        self._send(_Finish(session.id, reason, done))

    def _send(self, command: _Command) -> None:
        self._commands.put(command)
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
            elif self._pending is not None and self._pending.future.done():
                self._collect()  # no new frame: the last lift's poses need not wait for one
            self._poll_tips()
            self._send_statuses(time.monotonic())
        self._collect()
        for served, command in self._closing:
            self._close(served, command)
        for served in self._served.values():
            served.pipeline.close()
        self._served.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._lift_pool is not None:
            self._lift_pool.shutdown(wait=True)

    def _handle_commands(self) -> bool:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return True
            if command is None:
                return False
            if isinstance(command, _Attach):
                served = _Served(command.session, command.pipeline)
                self._served[command.session.id] = served
                served.session.emit(self._status(served, time.monotonic(), skeleton=True))
            elif isinstance(command, _Finish):
                self._finish(command)
            elif (served_now := self._served.get(command.session_id)) is not None:
                if isinstance(command, _SetPersona):
                    served_now.pipeline.set_persona(command.persona)
                else:
                    served_now.session.emit(self._status(served_now, time.monotonic(), notice=command.text))

    def step(self) -> int:
        """Process the waiting frame of every session once; returns how many frames were processed."""
        return self._process([s for s in self._served.values() if s.session.failure is None])

    @staticmethod
    def _detect(
        item: _Served, frame: IncomingFrame, prepared: tuple[np.ndarray, tuple[int, int]] | None = None
    ) -> tuple[Pose2D, list[Window], float] | Exception:
        """One session's 2D stage (on the loop thread or a pose worker): its pose, the windows that became
        complete and the milliseconds it took, or the exception it raised. ``prepared``: the frame already
        converted on the loop thread (``LivePipeline.prepare``): PyAV frames are converted one at a time,
        never from two threads."""
        started = time.perf_counter()
        try:
            if prepared is None:
                pose, ready = item.pipeline.detect(frame)
            else:
                image, size = prepared
                pose, ready = item.pipeline.accept(frame, item.pipeline.backend.detect(image, frame.timestamp_ms, size))
        except Exception as exc:  # one session's bad frame must not stop the others
            return exc
        return pose, ready, (time.perf_counter() - started) * 1000

    @staticmethod
    def _detect_batch(
        taken: list[tuple[_Served, IncomingFrame]],
        group: list[int],
        results: list[tuple[Pose2D, list[Window], float] | Exception | None],
    ) -> None:
        """The 2D stage of several sessions whose backend batches (``PoseBackend.batched``: the GPU
        models), in one call; each session's share of the time is the call's time over the sessions. A
        failure fails every session of the call, with the reason."""
        started = time.perf_counter()
        try:
            prepared = [taken[i][0].pipeline.prepare(taken[i][1]) for i in group]
            backends = [taken[i][0].pipeline.backend for i in group]
            poses = type(backends[0]).detect_batch(
                backends, [image for image, _ in prepared], [taken[i][1].timestamp_ms for i in group],
                [size for _, size in prepared],
            )  # fmt: skip
            elapsed_ms = (time.perf_counter() - started) * 1000 / len(group)
            for i, pose in zip(group, poses, strict=True):
                item, frame = taken[i]
                accepted = item.pipeline.accept(frame, pose)
                results[i] = (accepted[0], accepted[1], elapsed_ms)
        except Exception as exc:  # one call for every session in it
            for i in group:
                results[i] = exc

    def _process(self, served: list[_Served]) -> int:
        windows: list[Window] = []
        owners: list[_Served] = []
        processed = 0
        taken = [(item, frame) for item in served if (frame := item.session.slot.take()) is not None]
        results: list[tuple[Pose2D, list[Window], float] | Exception | None] = [None] * len(taken)
        alone = [i for i, (item, _) in enumerate(taken) if not item.pipeline.backend.batched]
        groups: dict[type, list[int]] = {}
        for i, (item, _) in enumerate(taken):
            if item.pipeline.backend.batched:
                groups.setdefault(type(item.pipeline.backend), []).append(i)
        if self._pool is not None and len(alone) > 1:
            futures = {}
            for i in alone:
                item, frame = taken[i]
                try:
                    prepared = item.pipeline.prepare(frame)  # here: PyAV conversions one at a time
                except Exception as exc:
                    results[i] = exc
                    continue
                futures[i] = self._pool.submit(self._detect, item, frame, prepared)
            for group in groups.values():  # the GPU batch runs while the CPU backends run on the pool
                self._detect_batch(taken, group, results)
            for i, future in futures.items():
                results[i] = future.result()
        else:
            for i in alone:
                results[i] = self._detect(*taken[i])
            for group in groups.values():
                self._detect_batch(taken, group, results)
        for (item, frame), result in zip(taken, results, strict=True):
            session = item.session
            if result is None or isinstance(result, Exception):
                self._fail(item, f"2D pose estimation failed: {result}")
                continue
            pose, ready, elapsed_ms = result
            processed += 1
            session.stats.frame_processed(time.monotonic(), pose.detected, elapsed_ms)
            session.emit(PoseEvent.of(pose, frame.sequence), frame.arrival, "pose")
            windows.extend(ready)
            owners.extend([item] * len(ready))
        if self._lift_pool is not None:
            self._collect()  # the previous step's lift ran beside this step's 2D: score it first, in order
            if windows:
                self.batch_sizes[len(windows)] = self.batch_sizes.get(len(windows), 0) + 1
                lifting = self._lift_pool.submit(self._timed_lift, windows)
                lifting.add_done_callback(lambda _: self.wake())
                self._pending = _PendingLift(lifting, owners)
        elif windows:
            self.batch_sizes[len(windows)] = self.batch_sizes.get(len(windows), 0) + 1
            try:
                lifted, elapsed_ms = self._timed_lift(windows)
            except Exception as exc:
                self._lift_failed(owners, exc)
                return processed
            self._score(owners, lifted, elapsed_ms)
        return processed

    def _timed_lift(self, windows: list[Window]) -> tuple[list[Pose3D], float]:
        started = time.perf_counter()
        lifted = self.lifter.lift_windows(windows)
        return lifted, (time.perf_counter() - started) * 1000

    def _collect(self) -> None:
        """Wait for the lift under way on the lift thread (if any) and score its poses."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            lifted, elapsed_ms = pending.future.result()
        except Exception as exc:
            self._lift_failed(pending.owners, exc)
            return
        self._score(pending.owners, lifted, elapsed_ms)

    def _lift_failed(self, owners: list[_Served], exc: Exception) -> None:
        for owner in {id(o): o for o in owners}.values():
            if owner.session.failure is None:
                self._fail(owner, f"3D lifting failed: {exc}")

    def _score(self, owners: list[_Served], lifted: list[Pose3D], elapsed_ms: float) -> None:
        self.stage_ms["lift"].append(elapsed_ms)
        for owner, pose3d in zip(owners, lifted, strict=True):
            if owner.session.failure is None:
                started = time.perf_counter()
                self._deliver(owner, partial(_lifted, owner.pipeline, pose3d))
                self.stage_ms["score"].append((time.perf_counter() - started) * 1000)

    def _deliver(self, served: _Served, produce: Callable[[], list[Outgoing]]) -> None:
        try:
            produced = produce()
        except Exception as exc:
            self._fail(served, f"scoring failed: {exc}")
            return
        served.session.stats.reps = served.pipeline.reps
        for item in produced:
            served.session.send(item)

    def _finish(self, command: _Finish) -> None:
        self._collect()  # poses lifted for this session (and others) are scored before its last frames
        served = self._served.pop(command.session_id, None)
        if served is None:
            command.done(None)
            return
        session, pipeline = served.session, served.pipeline
        if session.failure is None:
            self._process([served])  # the frame still waiting belongs to the set
            self._collect()
        session.slot.close()
        if session.failure is None:
            windows = pipeline.flush_windows()
            try:
                lifted = self.lifter.lift_windows(windows)
            except Exception as exc:
                log.exception("lifting the last frames of session %s failed", session.id)
                lifted = []
                session.failure = f"3D lifting failed: {exc}"
            for pose3d in lifted:
                self._deliver(served, partial(_lifted, pipeline, pose3d))
        self._deliver(served, partial(pipeline.finish, command.reason))
        if pipeline.tips.pending:  # the summary tip is being written: close when it is out
            self._closing.append((served, command))
            return
        self._close(served, command)

    def _close(self, served: _Served, command: _Finish) -> None:
        session = served.session
        session.emit(self._status(served, time.monotonic(), state="closed"))
        try:
            served.pipeline.close()
        except Exception:
            log.exception("closing the 2D backend of session %s failed", session.id)
        self._last_status.pop(session.id, None)
        command.done(served.pipeline.summary())

    def _poll_tips(self) -> None:
        """Send the tips a language model finished; close the finished sets that have all theirs."""
        for served in self._served.values():
            self._deliver(served, served.pipeline.poll_tips)
        for served, command in list(self._closing):
            self._deliver(served, served.pipeline.poll_tips)
            if not served.pipeline.tips.pending:
                self._closing.remove((served, command))
                self._close(served, command)

    def _fail(self, served: _Served, reason: str) -> None:
        log.error("session %s: %s", served.session.id, reason)
        served.session.failure = reason
        served.session.emit(self._status(served, time.monotonic(), notice=reason, error=reason))

    def _status(
        self,
        served: _Served,
        now: float,
        *,
        state: str | None = None,
        notice: str | None = None,
        error: str | None = None,
        skeleton: bool = False,
    ) -> StatusEvent:
        """The one status builder: the session's state and counters, the pipeline's guidance."""
        session, pipeline = served.session, served.pipeline
        advice = pipeline.advice()
        return StatusEvent(
            state=state or session.state.value,
            posture=pipeline.posture,
            message=pipeline.message(),
            advice=advice.code if advice is not None else None,
            rep_in_progress=pipeline.rep_in_progress,
            notice=notice or pipeline.notice,
            reps=pipeline.reps,
            persona=pipeline.tips.persona.id,
            backend=pipeline.backend.name,
            lifter=pipeline.lift.lifter.name,
            delay_frames=pipeline.delay_frames,
            fps=round(session.stats.fps(now), 1),
            received=session.slot.received,
            processed=session.stats.processed,
            dropped=session.slot.dropped,
            error=error,
            skeleton=h36m_skeleton() if skeleton else None,
            kind=pipeline.kind,
            holds=pipeline.holds,
            hold_seconds=pipeline.hold_seconds,
        )

    def _send_statuses(self, now: float) -> None:
        for served in self._served.values():
            pipeline = served.pipeline
            due = now - self._last_status.get(served.session.id, 0.0) >= self.status_interval_s
            if pipeline.changed or due:
                pipeline.changed = False
                self._last_status[served.session.id] = now
                served.session.emit(self._status(served, now))
