"""Drafts of custom exercises: a video of good reps, its poses and thumbnails, before it is saved.

``Drafts.submit`` queues an uploaded video; a pool of named worker threads (``custom-draft``) runs the
batch pose pipeline on it, then decodes it once more for small thumbnails (at most ``MAX_THUMBNAILS``,
every k-th frame, ``THUMBNAIL_SIDE`` px on the longer side). What a draft suggests (driver, reps, curve)
is computed from its stored poses on request (``scoring.suggest``), so another driver is one request.

On disk, ``Settings.drafts_dir/<id>/``: ``video``, ``draft.json`` (owner, file name, state, error),
``track.npz`` and ``thumbs/<frame>.jpg``. A draft left queued or running by a restart reads as failed
(``interrupted``), with what to do.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lifting.lifter import Lifter
from lifting.pipeline import PosePipeline
from lifting.pose2d import PoseBackend
from lifting.track import PoseTrack
from lifting.video import ReaderOptions, VideoError, VideoReader
from server.exercises import write_json

log = logging.getLogger(__name__)

MAX_THUMBNAILS = 600
"""Thumbnails kept per draft (every k-th frame); a rep's thumbnail is the one nearest its turning point."""
THUMBNAIL_SIDE = 160
"""Longer side of a thumbnail, pixels."""
_ID_CHARS = frozenset("0123456789abcdef")


class DraftState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DraftError(Exception):
    """A video that gives no draft; the message says why."""


class DraftsFullError(Exception):
    """As many drafts wait as the server allows (HTTP 503)."""


@dataclass(frozen=True)
class Draft:
    """One uploaded video on its way to becoming a custom exercise."""

    id: str
    """16 hex digits, chosen by the server."""
    owner: str
    """Who uploaded it (``server.auth``)."""
    filename: str
    """The name the user's file had (display only)."""
    created: float
    """Unix time of the upload."""
    state: DraftState = DraftState.QUEUED
    """Where it stands."""
    progress: float = 0.0
    """0..1 while the poses are computed."""
    error: str | None = None
    """Why it failed, for the user."""
    frames: int = 0
    """Frames of the video (when done)."""
    thumb_stride: int = 1
    """Every this-many-th frame has a thumbnail."""

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        del out["owner"]
        return out


class Drafts:
    """The drafts folder and the ``custom-draft`` worker pool."""

    def __init__(
        self,
        folder: Path,
        lifter: Lifter,
        backend_factory: Callable[[], PoseBackend],
        max_side: int | None = 640,
        max_video_s: float | None = None,
        workers: int = 1,
        max_pending: int = 4,
    ) -> None:
        self.folder = folder
        self._lifter = lifter
        self._backend_factory = backend_factory
        self._max_side = max_side
        self._max_video_s = max_video_s
        self._max_pending = max_pending
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="custom-draft")
        self._lock = threading.Lock()
        self._live: dict[str, Draft] = {}
        self._tracks: dict[str, PoseTrack] = {}
        self._stopping = threading.Event()

    # -- the pool ----------------------------------------------------------------------------------

    def submit(self, owner: str, filename: str, video: Path) -> Draft:
        """Move ``video`` (an upload already checked) into a new draft and queue it; DraftsFullError when
        ``max_pending`` drafts are waiting or running."""
        with self._lock:
            pending = sum(d.state in (DraftState.QUEUED, DraftState.RUNNING) for d in self._live.values())
            if pending >= self._max_pending:
                raise DraftsFullError(f"{pending} videos are already being read for new exercises; try again soon")
            draft = Draft(secrets.token_hex(8), owner, filename, time.time())
            folder = self.folder / draft.id
            folder.mkdir(parents=True)
            video.replace(folder / "video")
            self._live[draft.id] = draft
            self._write(draft)
        self._pool.submit(self._run, draft.id)
        return draft

    def stop(self) -> None:
        """Stop the pool: a draft being read fails (``interrupted``); queued ones are dropped the same way."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _update(self, draft_id: str, **changes: Any) -> Draft:
        with self._lock:
            draft = replace(self._live[draft_id], **changes)
            self._live[draft_id] = draft
        return draft

    def _run(self, draft_id: str) -> None:
        folder = self.folder / draft_id
        try:
            self._update(draft_id, state=DraftState.RUNNING)
            track = self._poses(draft_id, folder / "video")
            stride = max(1, math.ceil(track.frames / MAX_THUMBNAILS))
            write_thumbnails(folder / "video", folder / "thumbs", stride)
            track.save_npz(folder / "track.npz")
            with self._lock:
                self._tracks[draft_id] = track
            draft = self._update(
                draft_id, state=DraftState.DONE, progress=1.0, frames=track.frames, thumb_stride=stride
            )
        except _Interrupted:
            draft = self._update(draft_id, state=DraftState.FAILED, error=INTERRUPTED)
        except (VideoError, DraftError) as exc:
            draft = self._update(draft_id, state=DraftState.FAILED, error=str(exc).replace(str(folder), "the video"))
        except Exception as exc:  # a bug: logged with its trace, the user told it failed
            log.exception("draft %s failed", draft_id)
            draft = self._update(draft_id, state=DraftState.FAILED, error=f"reading the video failed ({exc})")
        self._write(draft)

    def _poses(self, draft_id: str, video: Path) -> PoseTrack:
        def progress(share: float) -> None:
            if self._stopping.is_set():
                raise _Interrupted
            self._update(draft_id, progress=round(0.95 * min(share, 1.0), 3))

        with self._backend_factory() as backend:
            backend.follow(())  # nothing is known about the exercise yet: every limb tells who moves
            track, _ = PosePipeline(backend, self._lifter, max_side=self._max_side).run(
                video,
                lambda done, expected: progress(done / expected) if expected else None,
                max_duration_s=self._max_video_s,
                share_read=progress,
            )
        if track.detected_fraction == 0.0:
            raise DraftError("no person was found in any frame: film the whole body, in good light")
        return track

    # -- the folder --------------------------------------------------------------------------------

    def _write(self, draft: Draft) -> None:
        folder = self.folder / draft.id
        if folder.is_dir():
            write_json(folder / "draft.json", {**asdict(draft), "state": draft.state.value})

    def get(self, draft_id: str, owner: str) -> Draft | None:
        """The draft, if it exists and is ``owner``'s (somebody else's reads as none)."""
        if len(draft_id) != 16 or not set(draft_id) <= _ID_CHARS:
            return None
        with self._lock:
            draft = self._live.get(draft_id)
        if draft is None:
            try:
                data = json.loads((self.folder / draft_id / "draft.json").read_text())
                draft = Draft(**{**data, "state": DraftState(data["state"])})
            except (OSError, ValueError, TypeError, KeyError):
                return None
            if draft.state in (DraftState.QUEUED, DraftState.RUNNING):  # left so by a restart
                draft = replace(draft, state=DraftState.FAILED, error=INTERRUPTED)
        return draft if draft.owner == owner else None

    def track(self, draft: Draft) -> PoseTrack:
        """The poses of a finished draft."""
        with self._lock:
            track = self._tracks.get(draft.id)
        if track is None:
            track = PoseTrack.load_npz(self.folder / draft.id / "track.npz")
            with self._lock:
                self._tracks = {draft.id: track}  # the one being worked on; the others are read again
        return track

    def thumbnail(self, draft: Draft, frame: int) -> Path | None:
        """The stored thumbnail nearest ``frame`` (None when there is none)."""
        if draft.state is not DraftState.DONE or not 0 <= frame < max(draft.frames, 1):
            return None
        nearest = min(
            round(frame / draft.thumb_stride) * draft.thumb_stride,
            (draft.frames - 1) // draft.thumb_stride * draft.thumb_stride,
        )
        path = self.folder / draft.id / "thumbs" / f"{nearest}.jpg"
        return path if path.is_file() else None

    def delete(self, draft: Draft) -> None:
        """Remove a draft (a running one is removed when it ends)."""
        with self._lock:
            self._live.pop(draft.id, None)
            self._tracks.pop(draft.id, None)
        shutil.rmtree(self.folder / draft.id, ignore_errors=True)


INTERRUPTED = "reading the video was interrupted (the server stopped): upload it again"


class _Interrupted(Exception):
    """The pool is stopping."""


def write_thumbnails(video: Path, out: Path, stride: int) -> int:
    """JPEG thumbnails (``THUMBNAIL_SIDE`` px on the longer side, upright) of every ``stride``-th frame
    of ``video`` into ``out/<frame>.jpg``; how many were written."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with VideoReader(video, ReaderOptions(max_side=THUMBNAIL_SIDE)) as reader:
        for i, frame in enumerate(reader):
            if i % stride:
                continue
            image = np.ascontiguousarray(frame.image[:, :, ::-1])  # RGB -> BGR for OpenCV
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
            if ok:
                (out / f"{i}.jpg").write_bytes(data.tobytes())
                written += 1
    return written
