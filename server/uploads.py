"""Uploaded-video analysis: POST /api/analyze -> 202 {job_id}; GET /api/jobs/{id}; the stored video.
The history of uploads and live sets, and deleting them, is ``server/history.py``."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from lifting.video import VideoError, VideoInfo, probe
from scoring.reference import ReferenceError
from server.auth import UserDep, rate_limits
from server.jobs.runner import QueueFullError
from server.jobs.store import JobErrorCode, JobStatus
from server.schemas import Problem
from server.security import client_address
from server.services import CatalogDep, RunnerDep, SettingsDep, StoreDep, TipsDep, store_node

router = APIRouter(prefix="/api")

JOB_ERROR_STATUS: dict[JobErrorCode, int] = {
    JobErrorCode.NOT_VIDEO: 422,
    JobErrorCode.CORRUPT: 422,
    JobErrorCode.TOO_LONG: 422,
    JobErrorCode.NO_PERSON: 422,
    JobErrorCode.UPLOAD_MISSING: 410,
    JobErrorCode.UNKNOWN_PERSONA: 400,
    JobErrorCode.INTERRUPTED: 503,
    JobErrorCode.BUSY: 503,
    JobErrorCode.INTERNAL: 500,
}
"""The HTTP status each job failure maps to (shown as ``error_status`` beside ``error_code``)."""

_CHUNK = 1 << 20
_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["video", "exercise"],
                    "properties": {
                        "video": {"type": "string", "format": "binary", "description": "The recorded set"},
                        "exercise": {"type": "string", "description": "An exercise name from GET /api/exercises"},
                        "persona": {"type": "string", "default": "plain", "description": "A persona id"},
                    },
                }
            }
        },
    }
}


def _problem(code: int, detail: str) -> HTTPException:
    return HTTPException(code, detail)


async def save_upload(upload: UploadFile, target: Path, limit: int) -> int:
    """Copy the upload to ``target`` in chunks (off the event loop); 413 past ``limit`` bytes."""
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _problem(413, f"the video is larger than the {limit / 1e6:.0f} MB limit")
            await asyncio.to_thread(out.write, chunk)
    return size


@router.post(
    "/analyze",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload a recorded set for analysis",
    openapi_extra=_UPLOAD_SCHEMA,
    responses={
        400: {"model": Problem, "description": "Missing field, unknown exercise or persona"},
        401: {"model": Problem, "description": "Not signed in (auth=accounts)"},
        413: {"model": Problem, "description": "Larger than max_upload_mb"},
        429: {"model": Problem, "description": "Too many uploads this minute (Retry-After)"},
        415: {"model": Problem, "description": "Not a video"},
        422: {"model": Problem, "description": "Corrupt video, or longer than max_video_s"},
        503: {"model": Problem, "description": "Too many videos waiting"},
    },
)
async def analyze(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    runner: RunnerDep,
    tips: TipsDep,
    catalog: CatalogDep,
    user: UserDep,
) -> JSONResponse:
    limits = rate_limits(request)
    limits.check("upload", f"user:{user}", settings.uploads_per_minute)
    limits.check("upload", f"address:{client_address(request)}", settings.uploads_per_minute)
    limit = int(settings.max_upload_mb * 1e6)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _problem(413, f"the video is larger than the {settings.max_upload_mb:.0f} MB limit")
    try:
        form = await request.form(max_files=1, max_fields=8)
    except Exception as exc:  # malformed multipart
        raise _problem(400, f"send multipart/form-data with the fields video, exercise, persona ({exc})") from None
    try:
        video, exercise, persona = form.get("video"), form.get("exercise"), form.get("persona") or "plain"
        if not isinstance(video, UploadFile):
            raise _problem(400, "the form field 'video' (a file) is missing")
        if not isinstance(exercise, str) or not exercise:
            raise _problem(400, "the form field 'exercise' is missing")
        try:
            exercise = catalog.resolve(exercise)
        except ReferenceError as exc:
            raise _problem(400, str(exc)) from None
        personas = [p.id for p in tips.personas()]
        if not isinstance(persona, str) or persona not in personas:
            raise _problem(400, f"unknown persona {persona!r}; choose one of {personas}")
        job_id = secrets.token_hex(8)
        settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = settings.uploads_dir / f"{job_id}.video"  # our name: never the user's
        try:
            await save_upload(video, target, limit)
            info = await probe_upload(target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        filename = Path(video.filename or "video").name[:200]
    finally:
        await form.close()
    if info.duration_s > settings.max_video_s:
        target.unlink(missing_ok=True)
        raise _problem(
            422, f"the video lasts {info.duration_s:.0f} s; the limit is {settings.max_video_s:.0f} s: trim it"
        )
    if max(info.width, info.height) > settings.max_video_side:
        target.unlink(missing_ok=True)
        raise _problem(
            422,
            f"the video is {info.width}x{info.height}; the largest side accepted is {settings.max_video_side} px",
        )
    job = await asyncio.to_thread(
        store.add_job, job_id, exercise, persona, filename, target, user, store_node(settings)
    )
    try:
        runner.submit(job)
    except QueueFullError as exc:
        await asyncio.to_thread(store.job_failed, job_id, str(exc), JobErrorCode.BUSY)
        target.unlink(missing_ok=True)
        raise HTTPException(503, str(exc), headers={"Retry-After": "60"}) from None
    return JSONResponse(
        {"job_id": job_id, "status": job.status.value, "status_url": f"/api/jobs/{job_id}"}, status_code=202
    )


async def probe_upload(path: Path) -> VideoInfo:
    try:
        return await asyncio.to_thread(probe, path)
    except VideoError as exc:
        message = str(exc).replace(str(path), "the upload")
        if exc.kind == "corrupt":
            raise _problem(422, message) from None
        raise _problem(415, f"{message}: upload a video file (mp4, mov, webm, ...)") from None


@router.get(
    "/jobs/{job_id}",
    summary="An analysis job: status, progress, error or result",
    responses={404: {"model": Problem, "description": "No such job"}},
)
async def get_job(job_id: str, store: StoreDep, user: UserDep) -> dict[str, Any]:
    job = await asyncio.to_thread(store.get_job, job_id, user)  # somebody else's: as if there were none
    if job is None:
        raise _problem(404, f"no job {job_id!r}")
    out = job.summary()
    out["error_status"] = JOB_ERROR_STATUS[job.error_code] if job.error_code is not None else None
    if job.status is JobStatus.DONE:
        out["result"] = job.result
        out["video_url"] = f"/api/jobs/{job_id}/video" if out["video_available"] else None
    return out


@router.get(
    "/jobs/{job_id}/video",
    summary="The uploaded video (kept for upload_retention_h after the analysis)",
    response_class=FileResponse,
    responses={404: {"model": Problem}, 410: {"model": Problem, "description": "Removed by the retention policy"}},
)
async def job_video(job_id: str, store: StoreDep, user: UserDep) -> FileResponse:
    job = await asyncio.to_thread(store.get_job, job_id, user)
    if job is None:
        raise _problem(404, f"no job {job_id!r}")
    if job.upload_path is None or not job.upload_path.is_file():
        raise _problem(410, "the video was removed by the retention policy; the results are still here")
    # the type comes from what the file is, never from the name the user gave it (evil.html)
    media_type = await asyncio.to_thread(video_type, job.upload_path)
    return FileResponse(job.upload_path, media_type=media_type, filename=Path(job.filename).stem + _SUFFIX[media_type])


_SUFFIX = {"video/mp4": ".mp4", "video/webm": ".webm", "video/x-matroska": ".mkv", "application/octet-stream": ".bin"}


def video_type(path: Path) -> str:
    """A fixed Content-Type from the container PyAV finds in the file (mp4/mov, webm, mkv), else
    ``application/octet-stream``."""
    import av

    try:
        with av.open(str(path)) as container:
            names = set(container.format.name.split(","))
    except Exception:
        return "application/octet-stream"
    if names & {"mp4", "mov"}:
        return "video/mp4"
    if "webm" in names:
        return "video/webm"
    if "matroska" in names:
        return "video/x-matroska"
    return "application/octet-stream"
