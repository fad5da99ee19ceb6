"""Custom exercises over HTTP: upload a video of good reps (a draft), see the reps the coach found and
what it suggests, pick reps, name it, save; then rename, edit its fault rules, or delete it.

Flow: ``POST /api/custom/drafts`` (the video) -> 202 ``{id}``; poll ``GET /api/custom/drafts/{id}``
until ``state`` is ``done``: it then carries the suggestion (driver, direction, body parts, views), the
reps found (each with a thumbnail URL) and the driver's curve; ``?driver=&direction=&body_parts=``
count the reps with other choices. ``POST /api/custom/exercises`` builds and saves the exercise
(``scoring.build``: calibration + generated fault rules); it is in ``GET /api/exercises`` at once.

Custom exercises are shared by every user of the server (they appear in everybody's pickers); only
the user who built one may rename, edit or delete it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from scoring.build import build_reference, with_generated_faults
from scoring.features import BODY_PARTS
from scoring.reference import ReferenceError
from scoring.suggest import driver_names, suggest
from server.auth import UserDep, rate_limits
from server.drafts import Draft, DraftsFullError, DraftState
from server.exercises import ExerciseCatalog, ExerciseConflictError, NotCustomError, UnknownExerciseError
from server.schemas import Problem
from server.security import client_address
from server.services import CatalogDep, DraftsDep, ServicesDep, SettingsDep
from server.uploads import probe_upload, save_upload

router = APIRouter(prefix="/api/custom", tags=["custom exercises"])

_VIDEO_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["video"],
                    "properties": {"video": {"type": "string", "format": "binary", "description": "Good reps"}},
                }
            }
        },
    }
}


class SaveRequest(BaseModel):
    """What the page sends to save a custom exercise."""

    draft: str = Field(description="The draft's id")
    display_name: str = Field(min_length=1, max_length=60, description="Name shown to users")
    name: str | None = Field(None, description="Id (lowercase letters, digits, - or _); default: from display_name")
    reps: list[int] = Field(min_length=1, max_length=100, description="Numbers of the reps to build it from")
    driver: str | None = Field(None, description="The driving angle (default: the suggestion)")
    direction: Literal["decrease", "increase"] | None = Field(None, description="Default: the suggestion")
    body_parts: list[str] | None = Field(None, description="Scored body parts (default: the suggestion)")


class FaultChange(BaseModel):
    """A change to one fault rule of a custom exercise."""

    id: str
    enabled: bool | None = None
    threshold: float | None = Field(None, description="Degrees (offset), percent (shallow)")
    min_s: float | None = Field(None, description="too_fast: shortest rep, seconds")
    max_s: float | None = Field(None, description="too_slow: longest rep, seconds")


class ExercisePatch(BaseModel):
    """Rename a custom exercise and/or change its fault rules."""

    display_name: str | None = Field(None, min_length=1, max_length=60)
    faults: list[FaultChange] | None = None


def _problem(code: int, detail: str) -> HTTPException:
    return HTTPException(code, detail)


def slug(display_name: str) -> str:
    """An exercise id from a display name ("Wall sit 2" -> "wall_sit_2")."""
    name = re.sub(r"[^a-z0-9]+", "_", display_name.strip().lower()).strip("_")[:40].strip("_")
    return name if name[:1].isalpha() else f"x_{name}"[:40].strip("_")


# -- drafts ----------------------------------------------------------------------------------------


@router.post(
    "/drafts",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload a video of good reps for a new exercise",
    openapi_extra=_VIDEO_SCHEMA,
    responses={
        400: {"model": Problem, "description": "No video in the form"},
        413: {"model": Problem, "description": "Larger than max_upload_mb"},
        415: {"model": Problem, "description": "Not a video"},
        422: {"model": Problem, "description": "Corrupt, too long or too large a picture"},
        429: {"model": Problem, "description": "Too many uploads this minute"},
        503: {"model": Problem, "description": "Too many videos being read"},
    },
)
async def create_draft(request: Request, settings: SettingsDep, drafts: DraftsDep, user: UserDep) -> JSONResponse:
    limits = rate_limits(request)
    limits.check("upload", f"user:{user}", settings.uploads_per_minute)
    limits.check("upload", f"address:{client_address(request)}", settings.uploads_per_minute)
    limit = int(settings.max_upload_mb * 1e6)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _problem(413, f"the video is larger than the {settings.max_upload_mb:.0f} MB limit")
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception as exc:  # malformed multipart
        raise _problem(400, f"send multipart/form-data with the field video ({exc})") from None
    try:
        video = form.get("video")
        if not isinstance(video, UploadFile):
            raise _problem(400, "the form field 'video' (a file) is missing")
        settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = settings.uploads_dir / f"draft-{secrets.token_hex(8)}.video"
        try:
            await save_upload(video, target, limit)
            info = await probe_upload(target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        filename = Path(video.filename or "video").name[:200]
    finally:
        await form.close()
    problem = None
    if info.duration_s > settings.max_video_s:
        problem = f"the video lasts {info.duration_s:.0f} s; the limit is {settings.max_video_s:.0f} s: trim it"
    elif max(info.width, info.height) > settings.max_video_side:
        problem = f"the video is {info.width}x{info.height}; the largest side accepted is {settings.max_video_side} px"
    if problem:
        target.unlink(missing_ok=True)
        raise _problem(422, problem)
    try:
        draft = await asyncio.to_thread(drafts.submit, user, filename, target)
    except DraftsFullError as exc:
        target.unlink(missing_ok=True)
        raise HTTPException(503, str(exc), headers={"Retry-After": "60"}) from None
    body = {"id": draft.id, "state": draft.state.value, "status_url": f"/api/custom/drafts/{draft.id}"}
    return JSONResponse(body, status_code=202)


async def _draft(draft_id: str, drafts: DraftsDep, user: str) -> Draft:
    draft = await asyncio.to_thread(drafts.get, draft_id, user)
    if draft is None:
        raise _problem(404, f"no draft {draft_id!r} (it was saved, deleted or never existed): upload the video again")
    return draft


def _parts(text: str | None) -> tuple[str, ...] | None:
    return tuple(p.strip() for p in text.split(",") if p.strip()) if text else None


@router.get(
    "/drafts/{draft_id}",
    summary="A draft: its state, then the suggestion, the reps found (with thumbnails) and the driver's curve",
    responses={
        404: {"model": Problem, "description": "No such draft"},
        422: {"model": Problem, "description": "No rep found with these choices"},
    },
)
async def get_draft(
    draft_id: str,
    drafts: DraftsDep,
    user: UserDep,
    driver: str | None = None,
    direction: Literal["decrease", "increase"] | None = None,
    body_parts: str | None = None,
) -> dict[str, Any]:
    draft = await _draft(draft_id, drafts, user)
    out: dict[str, Any] = draft.summary()
    out["drivers"] = driver_names()
    out["all_body_parts"] = list(BODY_PARTS)
    if draft.state is not DraftState.DONE:
        return out
    track = await asyncio.to_thread(drafts.track, draft)
    try:
        found = await asyncio.to_thread(suggest, track, "draft", "Draft", driver, direction, _parts(body_parts))
    except ReferenceError as exc:
        raise _problem(422, str(exc).replace(str(track.source), "the video")) from None
    suggestion = found.as_dict()
    for rep in suggestion["reps"]:
        rep["thumbnail_url"] = f"/api/custom/drafts/{draft.id}/frames/{rep['bottom_frame']}.jpg"
    out["suggestion"] = suggestion
    return out


@router.get(
    "/drafts/{draft_id}/frames/{frame}.jpg",
    summary="A small picture of the draft's video near a frame",
    response_class=FileResponse,
    responses={404: {"model": Problem}},
)
async def draft_frame(draft_id: str, frame: int, drafts: DraftsDep, user: UserDep) -> FileResponse:
    draft = await _draft(draft_id, drafts, user)
    path = drafts.thumbnail(draft, frame)
    if path is None:
        raise _problem(404, f"no picture of frame {frame} in draft {draft_id}")
    return FileResponse(path, media_type="image/jpeg")


@router.delete("/drafts/{draft_id}", summary="Drop a draft", responses={404: {"model": Problem}})
async def delete_draft(draft_id: str, drafts: DraftsDep, user: UserDep) -> dict[str, str]:
    draft = await _draft(draft_id, drafts, user)
    await asyncio.to_thread(drafts.delete, draft)
    return {"deleted": draft.id}


# -- exercises -------------------------------------------------------------------------------------


def _detail(catalog: ExerciseCatalog, name: str, user: str) -> dict[str, Any]:
    entry = next(e for e in catalog.entries() if e.name == name)
    spec, meta = entry.spec, entry.meta
    return {
        "name": entry.name,
        "display_name": spec.display_name,
        "driver": spec.driver,
        "direction": spec.driver_direction,
        "body_parts": list(spec.body_parts),
        "views": list(spec.views),
        "source_video": meta.get("source_video"),
        "created": meta.get("created"),
        "reps_used": meta.get("reps"),
        "yours": meta.get("owner") == user,
        "faults": catalog.faults(name),
    }


def _reference_error(exc: ReferenceError) -> HTTPException:
    if isinstance(exc, UnknownExerciseError):
        return _problem(404, str(exc))
    if isinstance(exc, ExerciseConflictError):
        return _problem(409, str(exc))
    if isinstance(exc, NotCustomError):
        return _problem(403, str(exc))
    return _problem(422, str(exc))


@router.post(
    "/exercises",
    status_code=status.HTTP_201_CREATED,
    summary="Build and save a custom exercise from a draft's chosen reps",
    responses={
        404: {"model": Problem, "description": "No such draft"},
        409: {"model": Problem, "description": "The draft is not ready, or the name is taken"},
        422: {"model": Problem, "description": "A chosen movement is not a rep, or a bad choice"},
    },
)
async def save_exercise(
    body: SaveRequest, drafts: DraftsDep, services: ServicesDep, catalog: CatalogDep, user: UserDep
) -> dict[str, Any]:
    draft = await _draft(body.draft, drafts, user)
    if draft.state is not DraftState.DONE:
        detail = draft.error if draft.state is DraftState.FAILED else "the video is still being read: wait for it"
        raise _problem(409, f"draft {draft.id} cannot be saved: {detail}")
    display_name = body.display_name.strip()
    name = (body.name or slug(display_name)).strip().lower()
    track = await asyncio.to_thread(drafts.track, draft)

    def build() -> str:
        catalog.check_free(name, display_name)
        parts = tuple(body.body_parts) if body.body_parts is not None else None
        found = suggest(track, name, display_name, body.driver, body.direction, parts)
        reference = with_generated_faults(build_reference(found.spec, track, body.reps))
        meta = {"owner": user, "source_video": draft.filename, "reps": sorted(set(body.reps))}
        return catalog.add(reference, meta)

    try:
        saved = await asyncio.to_thread(build)
    except ReferenceError as exc:
        if type(exc) is ReferenceError:  # a plain one names the draft's file: say "the video"
            exc = ReferenceError(str(exc).replace(str(track.source), "the video"))
        raise _reference_error(exc) from None
    services.references.forget(saved)
    await asyncio.to_thread(drafts.delete, draft)
    return await asyncio.to_thread(_detail, catalog, saved, user)


@router.get("/exercises", summary="The custom exercises")
async def list_custom(catalog: CatalogDep, user: UserDep) -> list[dict[str, Any]]:
    def listing() -> list[dict[str, Any]]:
        return [_detail(catalog, e.name, user) for e in catalog.entries() if e.custom]

    return await asyncio.to_thread(listing)


@router.get("/exercises/{name}", summary="A custom exercise and its fault rules", responses={404: {"model": Problem}})
async def get_custom(name: str, catalog: CatalogDep, user: UserDep) -> dict[str, Any]:
    try:
        found = await asyncio.to_thread(catalog.custom_name, name)
    except ReferenceError as exc:
        raise _reference_error(exc) from None
    return await asyncio.to_thread(_detail, catalog, found, user)


def _own(catalog: ExerciseCatalog, name: str, user: str) -> str:
    found = catalog.custom_name(name)
    if catalog.meta(found).get("owner", user) != user:
        raise NotCustomError(f"{found} was built by another user: only they can change or delete it")
    return found


@router.patch(
    "/exercises/{name}",
    summary="Rename a custom exercise or change its fault rules (thresholds, on/off)",
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
)
async def patch_custom(
    name: str, body: ExercisePatch, catalog: CatalogDep, services: ServicesDep, user: UserDep
) -> dict[str, Any]:
    def apply() -> str:
        found = _own(catalog, name, user)
        if body.faults is not None:
            catalog.edit_faults(found, [c.model_dump(exclude_none=True) for c in body.faults])
        if body.display_name is not None:
            catalog.rename(found, body.display_name)
        return found

    try:
        found = await asyncio.to_thread(apply)
    except ReferenceError as exc:
        raise _reference_error(exc) from None
    services.references.forget(found)
    return await asyncio.to_thread(_detail, catalog, found, user)


@router.delete(
    "/exercises/{name}",
    summary="Delete a custom exercise",
    responses={403: {"model": Problem}, 404: {"model": Problem}},
)
async def delete_custom(name: str, catalog: CatalogDep, services: ServicesDep, user: UserDep) -> dict[str, str]:
    def remove() -> str:
        return catalog.delete(_own(catalog, name, user))

    try:
        found = await asyncio.to_thread(remove)
    except ReferenceError as exc:
        raise _reference_error(exc) from None
    services.references.forget(found)
    return {"deleted": found}
