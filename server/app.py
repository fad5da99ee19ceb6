"""The FastAPI application: HTTP API, WebRTC signalling, WebSocket events, uploads and the browser app.

``create_app(settings)`` builds it. Its lifespan enters ``server.services.running_services``: every
service is built from the settings there, in one place, and handlers receive them through the typed
providers of ``server/services.py``. On shutdown every live session ends (each gets its summary), the
inference thread and the job pool stop, and the store closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lifting.lifter import Lifter
from server.services import Tips, running_services
from server.settings import Settings

DESCRIPTION = """
Real-time exercise coaching. Live flow: `POST /api/sessions` -> `{id, token}`; open
`WS /ws/sessions/{id}?token=<token>` for events; send the browser's WebRTC offer to
`POST /api/sessions/{id}/offer` with `Authorization: Bearer <token>` and apply the answer.
Camera frames then stream in; the WebSocket pushes JSON events, each with a `type`:
`pose` (2D keypoints per frame), `pose3d` (the lifted 3D joints per frame, in metres, the lifter's
lookahead later), `rep` (number, score, faults), `not_counted` (a movement that did
not count, with the reason), `tip` (coaching text),
`status` (state, guidance, fps, dropped frames) and, at the end, `summary`. Send `{"type": "stop"}`
on the WebSocket (or `DELETE /api/sessions/{id}`) to end the set. Field lists: `realtime/events.py`.
"""


def create_app(settings: Settings | None = None, lifter: Lifter | None = None, tips: Tips | None = None) -> FastAPI:
    """The application for ``settings`` (defaults and ``COACH_*`` variables when None); ``lifter``
    and ``tips`` (``make_tips``) when the caller already built them (``coach serve`` does, to report
    a bad checkpoint or model folder cleanly)."""
    from fastapi.exceptions import RequestValidationError

    from server import api, auth, custom, history, uploads, ws
    from server.docs import add_docs
    from server.pwa import add_pwa
    from server.security import SecurityMiddleware, validation_error

    settings = settings or Settings.model_validate({})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, lifter, tips) as services:
            app.state.services = services
            try:
                yield
            finally:
                del app.state.services

    app = FastAPI(
        title="AI Fitness Coach",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs is served offline by server/docs.py; /redoc is not served
        redoc_url=None,
    )
    app.add_middleware(SecurityMiddleware, settings=settings)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(uploads.router)
    app.include_router(history.router)
    app.include_router(custom.router)
    app.include_router(ws.router)
    add_docs(app)
    if settings.web_dir.is_dir():
        add_pwa(app, settings.web_dir)  # the manifest and the service worker (server/pwa.py)
        app.mount("/", StaticFiles(directory=settings.web_dir, html=True), name="web_client")
    return app
