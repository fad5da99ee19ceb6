"""HTTP API: health, exercises, personas, live sessions and their WebRTC offer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status

from realtime.manager import SessionLimitError, UnknownSessionError
from realtime.session import Session, SessionStateError
from scoring.coach.model import describe
from scoring.reference import ReferenceError, reference_kind
from server.auth import UserDep, rate_limits
from server.schemas import (
    Exercise,
    Health,
    PersonaInfo,
    Problem,
    SessionCreated,
    SessionDescription,
    SessionInfo,
    SessionRequest,
)
from server.security import client_address
from server.services import CatalogDep, ManagerDep, ServicesDep, SettingsDep, TipsDep
from server.signalling import OfferError, answer_offer

router = APIRouter(prefix="/api")

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No `Authorization: Bearer <token>` header"},
    404: {"model": Problem, "description": "No such session (never existed, or ended), or not this token's"},
}


def authorized_session(
    session_id: str, manager: ManagerDep, authorization: Annotated[str | None, Header()] = None
) -> Session:
    """The session named in the path, if the request carries its token."""
    try:
        session = manager.get(session_id)
    except UnknownSessionError:
        detail = f"no session {session_id!r} (it never existed or it ended)"
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail) from None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send the session's token as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not session.check_token(token.strip()):  # as for a session that does not exist: nothing revealed
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id!r} (it never existed or it ended)")
    return session


@router.get("/health", response_model=Health, summary="Which models are loaded; live sessions")
def health(services: ServicesDep) -> Health:
    manager, lifter = services.manager, services.lifter
    return Health(
        status="ok" if manager.loop_thread.alive else "degraded",
        backend=services.backend_name,
        backend_device=services.backend_device,
        lifter=lifter.name,
        lifter_reason=lifter.reason or "built by the caller (not from the lifter setting)",
        lifter_device=lifter.device,
        receptive_field=lifter.receptive_field,
        lookahead_frames=manager.lookahead,
        node=manager.options.node,
        sessions=len(manager.sessions),
        max_sessions=manager.options.max_sessions,
        tips=describe(services.tip_model),
        persona_errors=services.tips.library.errors,
        gpu_memory_mb=gpu_memory_mb(lifter.device if lifter.device.startswith("cuda") else services.backend_device),
    )


def gpu_memory_mb(device: str) -> dict[str, float] | None:
    """CUDA memory on ``device`` (allocated, peak, total; MB), or None when it is not a CUDA device."""
    if not device.startswith("cuda"):
        return None
    import torch

    index = torch.device(device).index or 0
    mb = 2.0**20
    return {
        "allocated": round(torch.cuda.memory_allocated(index) / mb, 1),
        "peak": round(torch.cuda.max_memory_allocated(index) / mb, 1),
        "total": round(torch.cuda.get_device_properties(index).total_memory / mb, 1),
    }


@router.get("/exercises", response_model=list[Exercise], summary="Exercises with a reference, shipped and custom")
def exercises(catalog: CatalogDep) -> list[Exercise]:
    # a broken folder is left out here and reported when somebody picks it
    return [
        Exercise(
            name=entry.name,
            display_name=entry.spec.display_name,
            camera=entry.spec.camera,
            body_parts=list(entry.spec.body_parts),
            faults=[rule.id for rule in entry.spec.faults],
            custom=entry.custom,
            kind=entry.spec.kind,
            target_s=entry.spec.hold.target_s if entry.spec.hold is not None else None,
            reference=reference_kind(catalog.folder(entry.name)),
        )
        for entry in catalog.entries()
    ]


@router.get("/personas", response_model=list[PersonaInfo], summary="Coach personas")
def personas(tips: TipsDep) -> list[PersonaInfo]:
    """Every persona file of the personas folder that loads (re-read when a file changes)."""
    return [PersonaInfo(**p.as_dict()) for p in tips.personas()]


@router.post(
    "/sessions",
    response_model=SessionCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Start a live session",
    responses={
        400: {"model": Problem, "description": "Unknown exercise or persona"},
        401: {"model": Problem, "description": "Not signed in (auth=accounts)"},
        429: {"model": Problem, "description": "Too many sessions started this minute (Retry-After)"},
        503: {"model": Problem, "description": "The server already coaches its maximum of sessions"},
    },
)
async def create_session(
    body: SessionRequest,
    request: Request,
    manager: ManagerDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    user: UserDep,
) -> SessionCreated:
    limits = rate_limits(request)
    limits.check("session", f"user:{user}", settings.sessions_per_minute)
    limits.check("session", f"address:{client_address(request)}", settings.sessions_per_minute)
    try:
        exercise = catalog.resolve(body.exercise)
    except ReferenceError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    try:
        session = await manager.create(exercise, body.persona, owner=user)
    except SessionLimitError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "30"}) from None
    except (ValueError, ReferenceError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return SessionCreated(
        id=session.id,
        token=session.token,
        exercise=session.exercise,
        persona=session.persona,
        offer_url=f"/api/sessions/{session.id}/offer",
        events_url=f"/ws/sessions/{session.id}",
        delay_frames=manager.lookahead,
    )


@router.post(
    "/sessions/{session_id}/offer",
    response_model=SessionDescription,
    summary="Answer the browser's WebRTC offer (video only)",
    responses={
        **_AUTH_ERRORS,
        400: {"model": Problem, "description": "Malformed SDP, not an offer, or no video stream"},
        409: {"model": Problem, "description": "The session already has a connection or has ended"},
    },
)
async def offer(
    body: SessionDescription, manager: ManagerDep, session: Annotated[Session, Depends(authorized_session)]
) -> SessionDescription:
    try:
        answer = await answer_offer(manager, session, body.sdp, body.type)
    except OfferError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except SessionStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return SessionDescription(sdp=answer.sdp, type=answer.type)


@router.get(
    "/sessions/{session_id}",
    response_model=SessionInfo,
    summary="A session's state and statistics",
    responses=_AUTH_ERRORS,
)
def session_info(session: Annotated[Session, Depends(authorized_session)]) -> dict[str, Any]:
    return session.info()


@router.delete(
    "/sessions/{session_id}",
    response_model=SessionInfo,
    summary="End a session (its summary goes out on the WebSocket first)",
    responses=_AUTH_ERRORS,
)
async def end_session(manager: ManagerDep, session: Annotated[Session, Depends(authorized_session)]) -> dict[str, Any]:
    await manager.end(session, "stopped by the client")
    return session.info()
