"""Uploaded-video analysis off the event loop: a bounded pool of named worker threads, state in the store.

``JobRunner.submit(job)`` queues a stored job; a worker hands the video to an ``Analyzer``, which runs
the batch pose pipeline and the same report as ``coach analyze`` (``scoring.coach.report.build_report``),
and writes progress, then the result or the failure (with a machine-readable ``JobErrorCode``) to the
store. The analyzer is ``VideoAnalyzer`` in this process, or ``server.jobs.cluster.RayAnalyzer``,
which runs the same ``VideoAnalyzer`` inside Ray actors.
``stop()`` stops the pool: a running job ends failed with the reason; queued ones stay queued and
are picked up again at the next start (``Store.recover``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lifting.lifter import Lifter
from lifting.pipeline import PosePipeline
from lifting.pose2d import PoseBackend
from lifting.video import VideoError
from scoring.coach.report import build_report
from scoring.coach.writer import TipService, TipWriter
from scoring.features import focus_joints
from scoring.reference import Reference
from server.jobs.store import INTERRUPTED_MESSAGE, Job, JobErrorCode, Store

log = logging.getLogger(__name__)


class JobError(Exception):
    """A job that cannot give a report; ``code`` says why for programs."""

    def __init__(self, message: str, code: JobErrorCode) -> None:
        super().__init__(message)
        self.code = code


class QueueFullError(Exception):
    """As many jobs wait as the server allows."""


class _Stopped(Exception):
    """The pool is stopping."""


@dataclass(frozen=True)
class JobOptions:
    """Size of the pool and of its queue."""

    workers: int = 1
    """Jobs analysed at once (each runs its own 2D model; on 2 cores one keeps live sessions smooth;
    with Ray, one per actor)."""
    max_queued: int = 8
    """Jobs waiting or running at most; more are refused (503)."""

    def __post_init__(self) -> None:
        if self.workers < 1 or self.max_queued < 1:
            raise ValueError(f"workers and max_queued must be >= 1, got {self.workers} and {self.max_queued}")


def analyze_video(
    path: Path,
    reference: Reference,
    tips: TipWriter,
    backend: PoseBackend,
    lifter: Lifter,
    max_side: int | None,
    progress: Callable[[float], None],
    alternatives: Sequence[Reference] = (),
    max_video_s: float | None = None,
    detail: bool = True,
) -> dict[str, Any]:
    """The report of one video (``scoring.coach.report``); ``JobError`` when there is none to give.
    What the decoder noticed (a truncated file, repaired timestamps) is among the report's warnings.
    ``detail``: with the per-frame curves, keypoints and 3D poses the results page draws."""
    backend.follow(focus_joints(reference.spec.driver))  # with several people in it: the one exercising
    try:
        track, times = PosePipeline(backend, lifter, max_side=max_side).run(
            path,
            lambda done, expected: progress(0.95 * min(done / expected, 1.0)) if expected else None,
            max_duration_s=max_video_s,
            share_read=lambda share: progress(0.95 * share),  # no frame count: by byte position
        )
    except VideoError as exc:
        message = str(exc).replace(str(path), "the video")
        codes = {"corrupt": JobErrorCode.CORRUPT, "too_long": JobErrorCode.TOO_LONG}
        raise JobError(message, codes.get(exc.kind, JobErrorCode.NOT_VIDEO)) from exc
    if track.detected_fraction == 0.0:
        raise JobError("no person was found in any frame: film the whole body, in good light", JobErrorCode.NO_PERSON)
    report = build_report(reference, track, tips, detail=detail, alternatives=alternatives)
    report["warnings"] = [*times.warnings, *report.get("warnings", [])]
    return report


Progress = Callable[[float], None]
"""Called with the share of a video analysed so far, 0 to 1; may raise to stop the analysis."""


class Analyzer(Protocol):
    """Turns a video into its report: ``VideoAnalyzer`` here, or ``RayAnalyzer`` on a Ray cluster."""

    def analyze(
        self, path: Path, reference: Reference, alternatives: Sequence[Reference], persona: str, progress: Progress
    ) -> dict[str, Any]:
        """The report (``analyze_video``, with detail) of the video at ``path``; ``JobError`` when none."""
        ...

    def close(self) -> None:
        """Free what it holds (threads, actors)."""
        ...


class VideoAnalyzer:
    """Everything analysing a video takes besides the video and its exercise: the shared lifter, a
    factory of 2D backends (a fresh one per video: MediaPipe tracks people across a video's frames),
    the tip writers. Built once per worker process (the server's, a Ray actor's); thread-safe."""

    def __init__(
        self,
        lifter: Lifter,
        backend_factory: Callable[[], PoseBackend],
        tips: TipService,
        max_side: int | None = 640,
        max_video_s: float | None = None,
    ) -> None:
        self.lifter = lifter
        self._backend_factory = backend_factory
        self._tips = tips
        self.max_side = max_side
        """Frames are downscaled to this longer side before the 2D model."""
        self.max_video_s = max_video_s
        """Longest video analysed, checked while decoding (a file may declare no duration, or a false one)."""

    def analyze(
        self,
        path: Path,
        reference: Reference,
        alternatives: Sequence[Reference],
        persona: str,
        progress: Progress,
        detail: bool = True,
    ) -> dict[str, Any]:
        try:
            tips = self._tips.writer(persona)
        except ValueError as exc:  # the persona file was removed while the job waited
            raise JobError(str(exc), JobErrorCode.UNKNOWN_PERSONA) from None
        with self._backend_factory() as backend:
            return analyze_video(
                path,
                reference,
                tips,
                backend,
                self.lifter,
                self.max_side,
                progress,
                alternatives,
                self.max_video_s,
                detail,
            )

    def close(self) -> None:
        """Nothing to free: the lifter and the tips belong to the services that built them."""


class JobRunner:
    """Runs stored jobs in a pool of threads named ``analysis-job``, each handing its video to the
    ``analyzer``; ``stop()`` closes the analyzer too."""

    def __init__(
        self,
        store: Store,
        options: JobOptions,
        analyzer: Analyzer,
        reference_loader: Callable[[str], Reference],
        alternatives: Callable[[str], Sequence[Reference]] = lambda name: (),
    ) -> None:
        self.store = store
        self._alternatives = alternatives
        self.options = options
        self.analyzer = analyzer
        self._reference_loader = reference_loader
        self._pool = ThreadPoolExecutor(options.workers, thread_name_prefix="analysis-job")
        self._lock = threading.Lock()
        self._pending = 0
        self._stopping = threading.Event()

    @property
    def pending(self) -> int:
        """Jobs queued or running in this process."""
        return self._pending

    def submit(self, job: Job, force: bool = False) -> None:
        """Queue ``job`` (already in the store); ``QueueFullError`` when full (``force``: queue anyway,
        for jobs recovered at start-up)."""
        with self._lock:
            if self._pending >= self.options.max_queued and not force:
                raise QueueFullError(
                    f"{self._pending} videos are already waiting for analysis; try again in a few minutes"
                )
            self._pending += 1
        self._pool.submit(self._run, job)

    def stop(self) -> None:
        """Stop: the running job fails with the reason, queued ones stay queued for the next start."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.analyzer.close()

    def _run(self, job: Job) -> None:
        try:
            if self._stopping.is_set():
                return
            self.store.job_started(job.id)
            last = [0.0]

            def progress(fraction: float) -> None:
                if self._stopping.is_set():
                    raise _Stopped
                now = time.monotonic()
                if now - last[0] > 0.25:
                    last[0] = now
                    self.store.job_progress(job.id, fraction)

            try:
                result = self._analyze(job, progress)
            except _Stopped:
                self.store.job_failed(job.id, INTERRUPTED_MESSAGE, JobErrorCode.INTERRUPTED)
            except JobError as exc:
                self.store.job_failed(job.id, str(exc), exc.code)
            except Exception as exc:  # a bug must not lose the job: it fails with the reason
                log.exception("job %s failed", job.id)
                self.store.job_failed(job.id, f"the analysis failed: {exc}", JobErrorCode.INTERNAL)
            else:
                self.store.job_done(job.id, result)
        finally:
            with self._lock:
                self._pending -= 1

    def _analyze(self, job: Job, progress: Callable[[float], None]) -> dict[str, Any]:
        if job.upload_path is None or not job.upload_path.is_file():
            raise JobError("the uploaded video is no longer stored; upload it again", JobErrorCode.UPLOAD_MISSING)
        reference = self._reference_loader(job.exercise)
        others = self._alternatives(job.exercise)
        return self.analyzer.analyze(job.upload_path, reference, others, job.persona, progress)
