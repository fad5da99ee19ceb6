"""Every long-lived service of the server, built from the settings in one place.

``running_services(settings)`` (an async context manager, entered by the app's lifespan) loads the
models once (lifter, a probe of the 2D backend, the Numba kernels, an optional tip model), opens the
store, starts the job pool and the session manager with its inference thread, and closes them all in
reverse order. Handlers get what they need through the typed providers at the bottom (``Depends``).
The ``make_*`` builders are also what the batch CLI commands use.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from lifting.checkpoints import choose_lifter
from lifting.lifter import Lifter, create_lifter
from lifting.pose2d import PoseBackend, create_backend
from realtime.manager import LiveOptions, SessionManager
from realtime.session import Session
from scoring.coach.model import CausalLM, GenerationOptions, ModelTips, TextModelError
from scoring.coach.persona import Persona, PersonaLibrary
from scoring.coach.select import TipOptions
from scoring.coach.writer import TipService
from scoring.core import warm_up
from scoring.reference import Reference, ReferenceError
from server.drafts import Drafts
from server.exercises import ExerciseCatalog
from server.jobs.cluster import RayAnalyzer, RayOptions
from server.jobs.runner import Analyzer, JobOptions, JobRunner, VideoAnalyzer
from server.jobs.store import UNNAMED_NODE, Store
from server.security import RateLimits
from server.settings import Settings

log = logging.getLogger(__name__)

Tips = tuple[TipService, ModelTips | None]
"""The tip service and, with a language model, its (not yet started) generator thread."""


# -- builders --------------------------------------------------------------------------------------


def make_backend(settings: Settings, live: bool = False) -> PoseBackend:
    """The configured 2D backend, looking for as many people as configured for videos or for ``live``."""
    return create_backend(
        settings.backend,
        settings.live_max_people if live else settings.max_people,
        settings.checkpoints_dir,
        settings.device,
        settings.precision,
    )


def make_lifter(settings: Settings) -> Lifter:
    """The configured lifter (``lifting.checkpoints.choose_lifter``: ``auto`` picks the official
    PoseFormerV2 checkpoint when present, else ours when it measured better than MediaPipe's world
    landmarks, else those), with ``reason`` saying why."""
    choice = choose_lifter(settings.checkpoints_dir, settings.lifter)
    lifter = create_lifter(choice.lifter, choice.checkpoint, choice.config, settings.device)
    lifter.reason = choice.reason
    return lifter


def tip_options(settings: Settings) -> TipOptions:
    """Cooldown, seed and time budget of the tips."""
    return TipOptions(cooldown_s=settings.tip_cooldown_s, seed=settings.tips_seed, time_budget_s=settings.tips_budget_s)


def make_tips(settings: Settings) -> Tips:
    """The personas and, for ``tips_backend = transformers``, the language model thread (not started).

    Every model is loaded here (the default one and each persona's own), so a bad folder is one
    clear ``TextModelError`` at start-up, not a silent fallback later. ``PersonaError`` for a
    missing personas folder.
    """
    library = PersonaLibrary(settings.personas_dir)
    options = tip_options(settings)
    if settings.tips_backend == "templates":
        return TipService(library, options), None

    def persona_model(persona: Persona) -> Path | None:
        return settings.checkpoints_dir / persona.model if persona.model else None

    own = {p.id: settings.checkpoints_dir / p.model for p in library.list() if p.model}
    if settings.tips_model is None and not own:
        raise TextModelError(
            "tips_backend is transformers but no model is named: pass --tips-model FOLDER "
            '(or give personas a model = "folder" under the checkpoints folder)'
        )
    default = CausalLM(settings.tips_model, settings.tips_device, settings.tips_prompt) if settings.tips_model else None
    generation = GenerationOptions(
        device=settings.tips_device, prompt_format=settings.tips_prompt, seed=settings.tips_seed
    )
    generator = ModelTips(default, generation, persona_model)
    for persona_id, folder in own.items():
        try:
            generator.load(folder)
        except TextModelError as exc:
            raise TextModelError(f"persona {persona_id!r}: {exc}") from None
    return TipService(library, options, generator), generator


def live_options(settings: Settings) -> LiveOptions:
    """The live-session limits from the settings."""
    return LiveOptions(
        max_sessions=settings.max_sessions,
        lookahead_frames=settings.lookahead_frames,
        max_side=settings.max_side,
        offer_timeout_s=settings.offer_timeout_s,
        idle_timeout_s=settings.idle_timeout_s,
        pose_workers=settings.pose_workers,
        node=settings.node_name,
    )


def store_node(settings: Settings) -> str:
    """The name this server saves its running live sets and queues its jobs under (and recovers both by)."""
    return settings.node_name or UNNAMED_NODE


def ray_options(settings: Settings) -> RayOptions:
    """The Ray cluster and its analysis actors (``jobs_backend = ray``, ``coach analyze-many``)."""
    return RayOptions(
        address=settings.ray_address,
        cpus=settings.ray_cpus,
        actors=settings.ray_actors,
        cpus_per_actor=settings.ray_cpus_per_actor,
        gpus_per_actor=settings.ray_gpus_per_actor,
    )


def worker_analyzer(settings: Settings, max_video_s: float | None) -> VideoAnalyzer:
    """A worker process's own ``VideoAnalyzer`` (a Ray actor's): its lifter, tips (and their language
    model thread, started), the Numba kernels compiled; a 2D backend made per video. Run in the worker."""
    lifter = make_lifter(settings)
    service, generator = make_tips(settings)
    if generator is not None:
        generator.start()
        generator.warm_up()
    warm_up()
    return VideoAnalyzer(lifter, lambda: make_backend(settings), service, settings.max_side, max_video_s)


class References:
    """Reference exercises, shipped and custom (``server.exercises``), loaded once each, on first use
    (thread-safe; loading reads files). A custom exercise changed or deleted is ``forget``-ten; one
    whose files changed on disk (another server sharing the custom folder edited it) is read again."""

    def __init__(self, folder: Path, custom: Path | None = None) -> None:
        self.catalog = ExerciseCatalog(folder, custom)
        self._cache: dict[str, tuple[tuple[tuple[str, int], ...], Reference]] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Reference:
        version = self._version(name)
        with self._lock:
            cached = self._cache.get(name)
            if cached is None or cached[0] != version:
                cached = self._cache[name] = (version, self.catalog.load(name))
            return cached[1]

    def _version(self, name: str) -> tuple[tuple[str, int], ...]:
        """A custom exercise's files as they are now (names, modification times); () for a shipped one."""
        if not self.catalog.is_custom(name):
            return ()
        try:
            return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in self.catalog.folder(name).iterdir()))
        except OSError:  # deleted meanwhile: loading says so
            return (("", -1),)

    def forget(self, name: str) -> None:
        """Load ``name`` from its files again next time (it was changed or deleted)."""
        with self._lock:
            self._cache.pop(name, None)

    def display_name(self, name: str) -> str:
        """How ``name`` is shown (``name`` itself for an exercise that no longer loads)."""
        try:
            return self(name).spec.display_name
        except ReferenceError:
            return name

    def others(self, name: str) -> list[Reference]:
        """Every other exercise that loads (to recognise a mix-up; a broken folder is left out)."""
        out = []
        for other in self.catalog.names():
            if other != name:
                try:
                    out.append(self(other))
                except ReferenceError:
                    log.warning("reference %s does not load; it is left out of exercise recognition", other)
        return out


# -- the running services --------------------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    """What the handlers use, built once per server start."""

    settings: Settings
    """The validated settings."""
    lifter: Lifter
    """The 2D -> 3D lifter shared by live sessions and jobs."""
    backend_name: str
    """The 2D backend every session and job builds its own instance of."""
    backend_device: str
    """Where the 2D backend runs."""
    tips: TipService
    """Personas and tip writers."""
    tip_model: CausalLM | None
    """The default tip language model, if any (for /api/health)."""
    store: Store
    """Jobs and history (SQLite)."""
    runner: JobRunner
    """The upload analysis pool."""
    manager: SessionManager
    """The live sessions and the inference thread."""
    limits: RateLimits
    """Per-user and per-address rate limits (``server.security``)."""
    references: References
    """The exercises, shipped and custom, and their loaded references."""
    drafts: Drafts
    """Videos being made into custom exercises (``server.drafts``)."""


def _probe_backend(settings: Settings) -> tuple[str, str]:
    with make_backend(settings) as backend:
        return backend.name, backend.device


def _session_report(session: Session, summary: dict[str, Any], display_name: Callable[[str], str]) -> dict[str, Any]:
    """The set's report (``SetRecord.report``) with ``summary`` when no summary event was sent."""
    warnings = []
    if summary.get("looks_like"):
        warnings.append(
            f"the movement looked like {display_name(summary['looks_like'])}, "
            f"not {display_name(session.exercise)}: its reps were not counted"
        )
    result = session.record.report(
        session.exercise,
        display_name(session.exercise),
        session.persona,
        summary,
        session.stats.processed,
        session.stats.detected,
        warnings,
    )
    return result


def record_session(store: Store, session: Session, display_name: Callable[[str], str] = str) -> None:
    """Keep a finished live session in the history with its report (``Session.record``: reps, holds,
    movements not counted, tips, summary), as an upload's is kept; called in a worker thread.
    ``display_name``: an exercise's name as shown (the name itself when it cannot be found)."""
    summary = (session.summary or session.record.summary_so_far()).as_dict()
    result = _session_report(session, summary, display_name)
    store.add_live_session(session.info(), result["summary"], session.started_at, session.owner, result)


def save_progress(store: Store, session: Session, node: str, display_name: Callable[[str], str] = str) -> None:
    """Save a running live session as it stands (its reps and holds so far, in progress, held by
    ``node``), so a server that dies loses no counted rep; called in a worker thread after each count."""
    result = _session_report(session, session.record.summary_so_far().as_dict(), display_name)
    store.save_live_progress(session.info(), result["summary"], session.started_at, session.owner, result, node)


def remove_expired_uploads(store: Store, retention_s: float) -> int:
    """Delete the uploads of jobs that finished more than ``retention_s`` ago; results stay."""
    removed = 0
    for job in store.uploads_to_remove(time.time() - retention_s):
        if job.upload_path is not None:
            job.upload_path.unlink(missing_ok=True)
        store.upload_removed(job.id)
        removed += 1
    return removed


async def _sweep_uploads(store: Store, retention_s: float, every_s: float = 600.0) -> None:
    while True:
        try:
            await asyncio.to_thread(remove_expired_uploads, store, retention_s)
        except Exception:
            log.exception("removing expired uploads failed")
        await asyncio.sleep(every_s)


@asynccontextmanager
async def running_services(
    settings: Settings, lifter: Lifter | None = None, tips: Tips | None = None
) -> AsyncIterator[Services]:
    """Build, start and (on exit) stop every service; ``lifter`` and ``tips`` when the caller already
    built them (``coach serve`` does, to report a bad checkpoint or model folder before uvicorn starts)."""
    if lifter is None:
        lifter = await asyncio.to_thread(make_lifter, settings)
    if tips is None:
        tips = await asyncio.to_thread(make_tips, settings)
    service, generator = tips
    if generator is not None:
        generator.start()
        await asyncio.to_thread(generator.warm_up)
    backend_name, backend_device = await asyncio.to_thread(_probe_backend, settings)
    await asyncio.to_thread(warm_up)
    # Models and libraries are loaded: move their objects out of the collector's reach, so full
    # collections (which pause every thread, the inference loop included) stay short.
    gc.collect()
    gc.freeze()
    references = References(settings.references_dir, settings.custom_dir)
    store = await asyncio.to_thread(Store, settings.database)
    analyzer: Analyzer
    if settings.jobs_backend == "ray":  # the same analysis in actors on a Ray cluster
        on_ray = await asyncio.to_thread(
            RayAnalyzer.start, ray_options(settings), partial(worker_analyzer, settings, settings.max_video_s)
        )
        analyzer, workers = on_ray, on_ray.actors
    else:
        analyzer = VideoAnalyzer(
            lifter, lambda: make_backend(settings), service, settings.max_side, settings.max_video_s
        )
        workers = settings.job_workers
    runner = JobRunner(
        store,
        JobOptions(workers, settings.max_queued_jobs),
        analyzer,
        references,
        alternatives=references.others,
    )
    drafts = Drafts(
        settings.drafts_dir, lifter, lambda: make_backend(settings), settings.max_side, settings.max_video_s
    )
    node = store_node(settings)
    for job in await asyncio.to_thread(store.recover, node):  # this server's own jobs: others may be running theirs
        runner.submit(job, force=True)
    # sets this server held when it stopped without ending them (killed, machine lost): ended, reps kept
    lost = await asyncio.to_thread(store.end_lost_sessions, node)
    if lost:
        log.warning(
            "coach: %d live set(s) of node %s were left running by its last run; ended with their reps", lost, node
        )
    manager = SessionManager(
        live_options(settings),
        lifter,
        lambda: make_backend(settings, live=True),
        references,
        service,
        on_ended=lambda session: record_session(store, session, references.display_name),
        alternatives=references.others,
        on_progress=lambda session: save_progress(store, session, node, references.display_name),
    )
    log.info("coach: 2D %s, lifter %s on %s", backend_name, lifter.name, lifter.device)
    sweeper = asyncio.create_task(_sweep_uploads(store, settings.upload_retention_h * 3600), name="upload-retention")
    try:
        async with manager:
            yield Services(
                settings=settings,
                lifter=lifter,
                backend_name=backend_name,
                backend_device=backend_device,
                tips=service,
                tip_model=generator.default if generator is not None else None,
                store=store,
                runner=runner,
                manager=manager,
                limits=RateLimits(),
                references=references,
                drafts=drafts,
            )
    finally:
        sweeper.cancel()
        await asyncio.to_thread(runner.stop)
        await asyncio.to_thread(drafts.stop)
        if generator is not None:
            await asyncio.to_thread(generator.close)
        await asyncio.to_thread(store.close)


# -- typed providers -------------------------------------------------------------------------------


def services_of(app: object) -> Services:
    """The running services of an app (``create_app``), from its lifespan; for tests and benchmarks."""
    services = getattr(getattr(app, "state", None), "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the app is not running: its services exist only inside its lifespan")
    return services


def get_services(connection: HTTPConnection) -> Services:
    """Provider of the running services (HTTP requests and WebSockets alike)."""
    return services_of(connection.app)


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


def get_manager(services: Annotated[Services, Depends(get_services)]) -> SessionManager:
    return services.manager


def get_tips(services: Annotated[Services, Depends(get_services)]) -> TipService:
    return services.tips


def get_store(services: Annotated[Services, Depends(get_services)]) -> Store:
    return services.store


def get_runner(services: Annotated[Services, Depends(get_services)]) -> JobRunner:
    return services.runner


def get_catalog(services: Annotated[Services, Depends(get_services)]) -> ExerciseCatalog:
    return services.references.catalog


def get_drafts(services: Annotated[Services, Depends(get_services)]) -> Drafts:
    return services.drafts


ServicesDep = Annotated[Services, Depends(get_services)]
DraftsDep = Annotated[Drafts, Depends(get_drafts)]
CatalogDep = Annotated[ExerciseCatalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[SessionManager, Depends(get_manager)]
TipsDep = Annotated[TipService, Depends(get_tips)]
StoreDep = Annotated[Store, Depends(get_store)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
