"""Analysis on a Ray cluster: the connection, the actors that hold the models, the server's job analyzer.

The per-video work is ``server.jobs.runner.VideoAnalyzer.analyze``, the very code the local job pool
runs; here it runs inside Ray actors. Each actor builds its ``VideoAnalyzer`` once, in its constructor
(the lifter, the tips, the Numba kernels; a fresh 2D backend per video, as locally, since MediaPipe
tracks people across one video's frames), from a ``build`` function the caller gives (pickled by
reference: every node needs the coach installed at the same version, and its checkpoints and
personas). The reference exercises travel with each job from the caller (custom exercises live on
the caller's disk), and so do the videos' bytes for server jobs, so a node needs no shared folder.

- ``connect(options)``: join the Ray cluster at ``address`` (checked to be reachable first), or start
  a local one with ``cpus`` CPUs; shut down on exit when this process started or joined it. A Ray
  this process already joined (tests, notebooks) is used as it is and left running.
- ``plan_actors``: how many actors, with how many CPUs and GPUs each (GPU actors when the cluster
  has GPUs).
- ``RayAnalyzer``: the server's ``Analyzer`` for ``jobs_backend = ray``: a pool of ``AnalysisActor``s,
  one job each at a time, progress streamed back (a Ray generator) to the job thread, which writes it
  to the store as the local pool does.

``ray`` is imported only by the functions that use it: the server does not load it unless configured to.
"""

from __future__ import annotations

import logging
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.reference import Reference
from server.jobs.runner import JobError, Progress, VideoAnalyzer
from server.jobs.store import JobErrorCode

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.25
"""Least time between two progress messages an actor sends back (the store is written as often)."""


class ClusterError(Exception):
    """The Ray cluster cannot be used (unreachable, too small); the message says what to do."""


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray cluster is and how the analysis actors are sized."""

    address: str | None = None
    """``host:port`` of a running cluster's head (``ray start --head`` prints it), ``ray://host:port``
    (Ray Client), or ``auto`` (the cluster this machine belongs to); None: start a local Ray."""
    cpus: int | None = None
    """CPUs of a local Ray started here (None: every core); not allowed with ``address``."""
    actors: int | None = None
    """Analysis actors (None: one per GPU when the cluster has GPUs, else as many as its CPUs hold)."""
    cpus_per_actor: float = 1.0
    """CPUs reserved by each actor (decoding and the 2D model run on them)."""
    gpus_per_actor: float | None = None
    """GPUs reserved by each actor (None: 1 when the cluster has GPUs, else 0)."""

    def __post_init__(self) -> None:
        if self.cpus is not None and self.cpus < 1:
            raise ValueError(f"ray_cpus must be >= 1, got {self.cpus}")
        if self.actors is not None and self.actors < 1:
            raise ValueError(f"ray_actors must be >= 1, got {self.actors}")
        if self.cpus_per_actor <= 0:
            raise ValueError(f"ray_cpus_per_actor must be > 0, got {self.cpus_per_actor}")
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise ValueError(f"ray_gpus_per_actor must be >= 0, got {self.gpus_per_actor}")
        if self.address is not None and self.cpus is not None:
            raise ValueError("ray_cpus sizes a local Ray; a cluster at ray_address has the CPUs its nodes have")


@dataclass(frozen=True)
class ActorPlan:
    """The analysis actors a cluster gets."""

    count: int
    """How many."""
    cpus: float
    """CPUs each reserves."""
    gpus: float
    """GPUs each reserves (0 on a cluster without GPUs)."""


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """``ClusterError`` unless something listens at ``address`` (``host:port`` or ``ray://host:port``);
    ``auto`` is left to Ray. Checked before ``ray.init``, which would otherwise wait a long time."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"ray_address {address!r} is not host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): start it with "
            "`ray start --head` on that machine, or leave ray_address unset to start a local Ray"
        ) from None


@contextmanager
def connect(options: RayOptions) -> Iterator[dict[str, float]]:
    """Join (or start) the Ray cluster; yields its resources (``CPU``, ``GPU``...) and, on exit, leaves
    it if this call joined it. A Ray this process has already joined is used as it is."""
    import ray

    if options.address is not None:
        check_reachable(options.address)
    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    try:
        ray.init(
            address=options.address,
            num_cpus=options.cpus if options.address is None else None,
            include_dashboard=False,
            log_to_driver=False,  # the actors' model libraries are chatty; errors come back as exceptions
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    except ConnectionError as exc:
        raise ClusterError(f"cannot join the Ray cluster at {options.address}: {exc}") from None
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()


def plan_actors(options: RayOptions, resources: dict[str, float]) -> ActorPlan:
    """How many actors with what: one per GPU on a cluster with GPUs, else as many as its CPUs hold,
    unless ``options`` say; ``ClusterError`` when the cluster cannot hold a single one."""
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    per_gpu = options.gpus_per_actor if options.gpus_per_actor is not None else (1.0 if gpus > 0 else 0.0)
    if per_gpu > gpus:
        raise ClusterError(f"each analysis actor asks for {per_gpu:g} GPU but the Ray cluster has {gpus:g}")
    if options.cpus_per_actor > cpus:
        raise ClusterError(
            f"each analysis actor asks for {options.cpus_per_actor:g} CPU but the Ray cluster has {cpus:g}"
        )
    if options.actors is not None:
        count = options.actors
    elif per_gpu > 0:
        count = max(1, int(gpus // per_gpu))
    else:
        count = max(1, int(cpus // options.cpus_per_actor))
    return ActorPlan(count, options.cpus_per_actor, per_gpu)


def analyze_bytes(
    analyzer: VideoAnalyzer,
    video: bytes,
    suffix: str,
    reference: Reference,
    alternatives: Sequence[Reference],
    persona: str,
    progress: Progress,
    detail: bool = True,
) -> dict[str, Any]:
    """``analyzer.analyze`` on a video sent as bytes (written to a temporary file on this node)."""
    with tempfile.TemporaryDirectory(prefix="coach-job-") as folder:
        path = Path(folder) / f"video{suffix[:16]}"
        path.write_bytes(video)
        return analyzer.analyze(path, reference, alternatives, persona, progress, detail)


class AnalysisActor:
    """A Ray actor's state (``ray.remote(AnalysisActor)``): one ``VideoAnalyzer``, built once by ``build``."""

    def __init__(self, build: Callable[[], VideoAnalyzer]) -> None:
        self.analyzer = build()

    def ready(self) -> str:
        """Where its lifter runs (answered once the models are loaded)."""
        return self.analyzer.lifter.device

    def analyze(
        self, video: bytes, suffix: str, references: tuple[Reference, Sequence[Reference]], persona: str
    ) -> Iterator[tuple[Any, ...]]:
        """A Ray generator: ``("progress", share)`` messages (at most every ``PROGRESS_EVERY_S``), then
        ``("done", report)`` or ``("failed", message, code)``. The analysis runs in a thread of this
        actor so its progress can be yielded while it runs."""
        events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        last = [0.0]

        def progress(share: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                events.put(("progress", share))

        def work() -> None:
            try:
                report = analyze_bytes(self.analyzer, video, suffix, *references, persona, progress)
            except JobError as exc:
                events.put(("failed", str(exc), exc.code.value))
            except Exception as exc:  # a bug must not lose the job: it fails with the reason
                log.exception("analysis failed")
                events.put(("failed", f"the analysis failed: {exc}", JobErrorCode.INTERNAL.value))
            else:
                events.put(("done", report))

        worker = threading.Thread(target=work, name="analysis-job", daemon=True)
        worker.start()
        while True:
            event = events.get()
            yield event
            if event[0] != "progress":
                break
        worker.join()


class RayAnalyzer:
    """The server's ``Analyzer`` on Ray: ``plan.count`` ``AnalysisActor``s, each analysing one job at a
    time (the job pool has as many threads). ``start`` connects and waits until every actor has loaded
    its models (a broken checkpoint on a node is an error at start-up, not at the first upload);
    ``close`` removes the actors and leaves the cluster if ``start`` joined it."""

    def __init__(self, options: RayOptions, build: Callable[[], VideoAnalyzer]) -> None:
        self.options = options
        self._build = build
        self._exit = ExitStack()
        self._idle: queue.Queue[Any] = queue.Queue()
        self._actors: list[Any] = []
        self._actor_class: Any = None
        self.plan = ActorPlan(0, 0.0, 0.0)

    @classmethod
    def start(cls, options: RayOptions, build: Callable[[], VideoAnalyzer]) -> RayAnalyzer:
        analyzer = cls(options, build)
        try:
            analyzer._start()
        except BaseException:
            analyzer.close()
            raise
        return analyzer

    def _start(self) -> None:
        import ray

        resources = self._exit.enter_context(connect(self.options))
        self.plan = plan_actors(self.options, resources)
        self._actor_class = ray.remote(AnalysisActor).options(num_cpus=self.plan.cpus, num_gpus=self.plan.gpus)
        actors = [self._actor_class.remote(self._build) for _ in range(self.plan.count)]
        self._actors = actors
        try:
            devices = ray.get([actor.ready.remote() for actor in actors])
        except ray.exceptions.RayActorError as exc:
            raise ClusterError(f"an analysis actor failed to load the models: {exc}") from None
        for actor in actors:
            self._idle.put(actor)
        log.info("coach: %d analysis actors on Ray (lifter on %s)", len(actors), ", ".join(sorted(set(devices))))

    @property
    def actors(self) -> int:
        """How many jobs run at once."""
        return self.plan.count

    def analyze(
        self, path: Path, reference: Reference, alternatives: Sequence[Reference], persona: str, progress: Progress
    ) -> dict[str, Any]:
        import ray

        actor = self._idle.get()
        try:
            video = ray.put(path.read_bytes())
            references = ray.put((reference, list(alternatives)))
            for ref in actor.analyze.remote(video, path.suffix, references, persona):
                event = ray.get(ref)
                if event[0] == "progress":
                    progress(event[1])
                elif event[0] == "done":
                    return dict(event[1])
                else:
                    raise JobError(event[1], JobErrorCode(event[2]))
            raise JobError("the analysis actor ended without a report", JobErrorCode.INTERNAL)
        except ray.exceptions.RayActorError as exc:
            actor = self._actor_class.remote(self._build)  # replaced; its models load while the job fails
            self._actors.append(actor)
            raise JobError(f"the Ray worker analysing the video was lost: {exc}", JobErrorCode.INTERNAL) from None
        finally:
            self._idle.put(actor)

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            for actor in self._actors:
                ray.kill(actor)
        self._actors.clear()
        self._exit.close()
