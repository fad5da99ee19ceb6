"""The FastAPI application: HTTP API, WebRTC signalling, WebSocket events and the browser app.

``create_app(settings)`` builds it; the lifespan loads the models once (lifter, a probe of the 2D
backend, the Numba kernels), starts the session manager with its inference thread, and on shutdown
ends every session (each gets its summary) and stops the thread.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lifting.lifter import Lifter
from lifting.pose2d import PoseBackend
from realtime.jobs import JobOptions, JobRunner
from realtime.manager import LiveOptions, SessionManager
from realtime.session import Session
from realtime.store import Store
from scoring.core import warm_up
from scoring.reference import Reference, load_reference
from scoring.score import summarize
from scoring.textgen import ModelTips
from scoring.tips import TipService
from server.components import make_backend, make_lifter, make_tips
from server.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """
Real-time exercise coaching. Live flow: `POST /api/sessions` -> `{id, token}`; open
`WS /ws/sessions/{id}?token=<token>` for events; send the browser's WebRTC offer to
`POST /api/sessions/{id}/offer` with `Authorization: Bearer <token>` and apply the answer.
Camera frames then stream in; the WebSocket pushes JSON events, each with a `type`:
`pose` (2D keypoints per frame), `rep` (number, score, faults), `tip` (coaching text),
`status` (state, guidance, fps, dropped frames) and, at the end, `summary`. Send `{"type": "stop"}`
on the WebSocket (or `DELETE /api/sessions/{id}`) to end the set. Field lists: `realtime/events.py`.
"""


class References:
    """Reference exercises loaded once each, on first use (thread-safe; loading reads files)."""

    def __init__(self, settings: Settings) -> None:
        self._folder = settings.references_dir
        self._cache: dict[str, Reference] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Reference:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = load_reference(self._folder, name)
            return self._cache[name]


def live_options(settings: Settings) -> LiveOptions:
    """The live-session limits from the settings."""
    return LiveOptions(
        max_sessions=settings.max_sessions,
        lookahead_frames=settings.lookahead_frames,
        max_side=settings.max_side,
        offer_timeout_s=settings.offer_timeout_s,
        idle_timeout_s=settings.idle_timeout_s,
    )


def _probe_backend(settings: Settings) -> tuple[str, str]:
    backend: PoseBackend = make_backend(settings)
    with backend:
        return backend.name, backend.device


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    lifter = app.state.lifter or await asyncio.to_thread(make_lifter, settings)
    tips, generator = app.state.tips or await asyncio.to_thread(make_tips, settings)
    if generator is not None:
        generator.start()
        await asyncio.to_thread(generator.warm_up)
    app.state.backend_info = await asyncio.to_thread(_probe_backend, settings)
    await asyncio.to_thread(warm_up)
    # Models and libraries are loaded: move their objects out of the collector's reach, so full
    # collections (which pause every thread, the inference loop included) stay short.
    gc.collect()
    gc.freeze()
    references = References(settings)
    store = await asyncio.to_thread(Store, settings.database_path)
    runner = JobRunner(
        store,
        JobOptions(settings.job_workers, settings.max_queued_jobs, settings.max_side),
        lifter,
        lambda: make_backend(settings),
        references,
        tips,
    )
    for job in await asyncio.to_thread(store.recover):
        runner.submit(job, force=True)
    manager = SessionManager(
        live_options(settings),
        lifter,
        lambda: make_backend(settings),
        references,
        tips,
        on_ended=lambda session: record_session(store, session),
    )
    app.state.manager, app.state.store, app.state.runner = manager, store, runner
    app.state.tip_service, app.state.tip_model = tips, generator.default if generator is not None else None
    log.info("coach: 2D %s, lifter %s on %s", app.state.backend_info[0], lifter.name, lifter.device)
    sweeper = asyncio.create_task(_sweep_uploads(store, settings.upload_retention_h * 3600), name="upload-retention")
    try:
        async with manager:
            yield
    finally:
        sweeper.cancel()
        await asyncio.to_thread(runner.stop)
        if generator is not None:
            await asyncio.to_thread(generator.close)
        await asyncio.to_thread(store.close)


def record_session(store: Store, session: Session) -> None:
    """Keep a finished live session in the history (called in a worker thread)."""
    started = time.time() - (time.monotonic() - session.created_at)
    summary = summarize(session.pipeline.core.results).as_dict()
    store.add_live_session(session.info(), summary, started)


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


def create_app(
    settings: Settings | None = None,
    lifter: Lifter | None = None,
    tips: tuple[TipService, ModelTips | None] | None = None,
) -> FastAPI:
    """The application for ``settings`` (defaults and ``COACH_*`` variables when None); ``lifter``
    and ``tips`` (``make_tips``) when the caller already built them (``coach serve`` does, to report
    a bad checkpoint or model folder cleanly)."""
    from server import api, jobs_api, ws

    settings = settings or Settings.model_validate({})
    app = FastAPI(title="AI Fitness Coach", description=DESCRIPTION, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.lifter = lifter
    app.state.tips = tips
    app.include_router(api.router)
    app.include_router(jobs_api.router)
    app.include_router(ws.router)
    if settings.web_dir.is_dir():
        app.mount("/", StaticFiles(directory=settings.web_dir, html=True), name="web_client")
    return app
