"""A user's past sets: the list with its filters, a live set's report, and deleting a set.

``GET /api/history`` lists uploads and live sets newest first (``Store.history``), leaving out the
finished sets that counted nothing unless ``include_empty`` (their number is ``hidden_empty``).
``GET /api/history/live/{id}`` is a stored live set in the shape of an upload's report (what
``report.html?session=ID`` draws). ``DELETE /api/history/live/{id}`` and ``DELETE /api/jobs/{id}``
remove a set (an upload with its stored video; not while it is still being analysed). Everything is
the caller's own: somebody else's set is answered as if there were none (404), and a cookie sign-in
must send its CSRF token to delete (``server.auth``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from server.auth import UserDep
from server.jobs.store import HistoryQuery, JobBusyError
from server.schemas import Problem
from server.services import ServicesDep, StoreDep

router = APIRouter(prefix="/api")

_EXERCISE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
MAX_LIMIT = 500


class HistoryItem(BaseModel):
    kind: str = Field(description="live | upload")
    id: str = Field(description="The upload's job id or the live session's id")
    status: str = Field(description="queued | running | done | failed (a live set is always done)")
    exercise: str = Field(description="The exercise's name, e.g. pushup")
    display_name: str = Field(description="The exercise as shown, e.g. Push-up")
    persona: str
    title: str = Field(description="The uploaded file's name, or 'live set'")
    at: float = Field(description="When the set started (live) or was uploaded, unix seconds")
    reps: int | None = Field(description="Reps counted (null while an upload waits)")
    held_s: float | None = Field(description="A hold exercise's time held, seconds (null otherwise)")
    mean_score: float | None = Field(description="Mean score 0-100 of the reps or holds (null without any)")
    error: str | None = Field(description="Why an upload's analysis failed")
    end_reason: str | None = Field(description="Why a live set ended")
    details: bool = Field(
        description="Whether its report is stored: GET /api/jobs/{id} or GET /api/history/live/{id} "
        "(false for a live set stored before reps were kept)"
    )


class History(BaseModel):
    items: list[HistoryItem] = Field(description="The sets, newest first")
    hidden_empty: int = Field(description="Finished sets with 0 reps and no time held that were left out")


def _display_names(services: Any) -> dict[str, str]:
    return {entry.name: entry.spec.display_name for entry in services.references.catalog.entries()}


@router.get(
    "/history",
    response_model=History,
    summary="Your past uploads and live sets, newest first, filtered; empty sets left out unless asked",
    responses={422: {"model": Problem, "description": "A filter that is not valid (says which and why)"}},
)
async def history(
    store: StoreDep,
    services: ServicesDep,
    user: UserDep,
    exercise: Annotated[str | None, Query(description="Only this exercise (its name, e.g. pushup)")] = None,
    kind: Annotated[str | None, Query(description="Only live sets (live) or only uploads (upload)")] = None,
    since: Annotated[float | None, Query(description="Only sets at or after this unix time, seconds")] = None,
    until: Annotated[float | None, Query(description="Only sets before this unix time, seconds")] = None,
    include_empty: Annotated[bool, Query(description="Also list finished sets that counted nothing")] = False,
    limit: Annotated[int, Query(description=f"The newest this many (clipped to 1-{MAX_LIMIT})")] = 100,
) -> dict[str, Any]:
    if exercise is not None and not _EXERCISE_NAME.fullmatch(exercise):
        raise HTTPException(
            422, "exercise must be an exercise's name (a lower-case letter, then letters, digits, _ or -), e.g. pushup"
        )
    if kind is not None and kind not in ("live", "upload"):
        raise HTTPException(422, "kind must be live or upload (leave it out for both)")
    for name, value in (("since", since), ("until", until)):
        if value is not None and not 0 <= value < 1e11:
            raise HTTPException(422, f"{name} must be a unix time in seconds (0 or more), e.g. 1767225600")
    try:
        query = HistoryQuery(exercise, kind, since, until, include_empty, max(1, min(limit, MAX_LIMIT)))  # type: ignore[arg-type]
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    page = await asyncio.to_thread(store.history, user, query)
    names = await asyncio.to_thread(_display_names, services)
    items = [{**item, "display_name": names.get(item["exercise"], item["exercise"])} for item in page.items]
    return {"items": items, "hidden_empty": page.hidden_empty}


_NOT_RECORDED: dict[str, list[Any]] = {"reps": [], "holds": [], "not_counted": [], "warnings": [], "tips": []}


@router.get(
    "/history/live/{session_id}",
    summary="A finished live set of yours in the shape of an upload's report (reps, holds, tips, summary)",
    responses={404: {"model": Problem, "description": "No such live set of yours"}},
)
async def live_set(session_id: str, store: StoreDep, services: ServicesDep, user: UserDep) -> dict[str, Any]:
    """The report fields of an upload's ``result`` (``build_report`` without ``detail``: exercise,
    display_name, kind, reps, holds, not_counted, warnings, summary, tips, persona, frames, backend,
    lifter, ...) and ``source`` (live), ``session_id``, ``started_at``, ``ended_at``, ``end_reason`` and
    ``details_recorded`` (false for a set stored before reps were kept: its lists are empty, its summary
    is there)."""
    found = await asyncio.to_thread(store.get_live_session, session_id, user)
    if found is None:
        raise HTTPException(404, f"no live set {session_id!r}: it was deleted, or it is not yours")
    report = found["result"]
    if report is None:
        summary = found["summary"]
        report = {
            "exercise": found["exercise"],
            "display_name": await asyncio.to_thread(services.references.display_name, found["exercise"]),
            "kind": summary.get("kind", "reps"),
            "summary": summary,
            "persona": found["persona"],
            **_NOT_RECORDED,
        }
    return {
        **report,
        "source": "live",
        "session_id": found["session_id"],
        "started_at": found["started_at"],
        "ended_at": found["ended_at"],
        "end_reason": found["end_reason"],
        "details_recorded": found["result"] is not None,
    }


@router.delete(
    "/history/live/{session_id}",
    summary="Delete a live set of yours from the history",
    responses={404: {"model": Problem, "description": "No such live set of yours"}},
)
async def delete_live_set(session_id: str, store: StoreDep, user: UserDep) -> dict[str, str]:
    if not await asyncio.to_thread(store.delete_live_session, session_id, user):
        raise HTTPException(404, f"no live set {session_id!r}: it was already deleted, or it is not yours")
    return {"deleted": session_id, "kind": "live"}


@router.delete(
    "/jobs/{job_id}",
    summary="Delete an upload of yours: its results and its stored video",
    responses={
        404: {"model": Problem, "description": "No such upload of yours"},
        409: {"model": Problem, "description": "Still being analysed: wait until it is done"},
    },
)
async def delete_job(job_id: str, store: StoreDep, user: UserDep) -> dict[str, str]:
    try:
        job = await asyncio.to_thread(store.delete_job, job_id, user)
    except JobBusyError as exc:
        raise HTTPException(409, str(exc)) from None
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}: it was already deleted, or it is not yours")
    if job.upload_path is not None:
        await asyncio.to_thread(job.upload_path.unlink, missing_ok=True)
    return {"deleted": job_id, "kind": "upload"}
