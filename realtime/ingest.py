"""Frame ingest for live sessions: the aiortc video track -> one latest-frame-wins slot per session.

The event loop only receives frames (aiortc decodes them in its own thread) and drops them into the
session's ``FrameSlot``; converting pixels and running models happen in the inference thread. A slot
holds one waiting frame; with the inference thread's frame in flight that is at most two frames per
session, however slow the loop is. A newer frame replaces the waiting one and the drop is counted:
live coaching wants the newest picture, never a growing backlog.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class IncomingFrame:
    """One decoded camera frame on its way to the inference thread."""

    frame: Any
    """The decoded picture (an ``av.VideoFrame`` from aiortc); converted to RGB in the inference thread."""
    timestamp_ms: float
    """Source time from the RTP timestamp (pts * time_base), milliseconds; increases within a stream."""
    arrival: float
    """``time.monotonic()`` seconds when the server received it (start of the latency budget)."""
    sequence: int
    """Number of the frame among those received by this session (0-based, dropped ones included)."""


class FrameSlot(Generic[T]):
    """Latest frame wins: ``put`` replaces the waiting item, ``take`` hands it over (thread-safe).

    ``on_put`` runs after every ``put`` (outside the lock), so a consumer can be woken up.
    """

    def __init__(self, on_put: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._waiting: T | None = None
        self._on_put = on_put
        self._closed = False
        self.received = 0
        """Items put so far."""
        self.dropped = 0
        """Items replaced before anybody took them."""

    def put(self, item: T) -> bool:
        """Offer the newest item; False (and nothing stored) once the slot is closed."""
        with self._lock:
            if self._closed:
                return False
            if self._waiting is not None:
                self.dropped += 1
            self._waiting = item
            self.received += 1
        if self._on_put is not None:
            self._on_put()
        return True

    def take(self) -> T | None:
        """The waiting item (None if there is none); the slot is empty afterwards."""
        with self._lock:
            item, self._waiting = self._waiting, None
            return item

    def count_drop(self) -> None:
        """Count an item thrown away before it reached the slot."""
        with self._lock:
            self.received += 1
            self.dropped += 1

    @property
    def pending(self) -> bool:
        """True when an item waits."""
        with self._lock:
            return self._waiting is not None

    def close(self) -> None:
        """Refuse further items and forget the waiting one (counted as dropped)."""
        with self._lock:
            self._closed = True
            if self._waiting is not None:
                self.dropped += 1
            self._waiting = None


class VideoTrack(Protocol):
    """What ingest needs of an aiortc ``MediaStreamTrack``."""

    kind: str

    async def recv(self) -> Any: ...


class TrackEnded(Exception):
    """The remote video track ended (the browser stopped the camera or the connection closed)."""


def frame_timestamp_ms(frame: Any) -> float:
    """Source time of a decoded frame in milliseconds, from its pts and time base."""
    if frame.pts is None or frame.time_base is None:
        raise ValueError("the video frame carries no timestamp (pts/time_base)")
    return float(Fraction(frame.pts) * Fraction(frame.time_base) * 1000)


async def pump_track(
    track: VideoTrack,
    slot: FrameSlot[IncomingFrame],
    clock: Callable[[], float] = time.monotonic,
    on_frame: Callable[[float], None] | None = None,
) -> None:
    """Receive frames from ``track`` into ``slot`` until the track ends (then ``TrackEnded``).

    Frames whose timestamp does not increase (an RTP timestamp jump backwards) are skipped and counted
    in ``slot.dropped``: models downstream track the person over increasing time. ``on_frame(arrival)``
    runs for every frame received.
    """
    from aiortc.mediastreams import MediaStreamError

    sequence = 0
    last_ms = -np.inf
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError as exc:
            raise TrackEnded("the camera track ended") from exc
        arrival = clock()
        if on_frame is not None:
            on_frame(arrival)
        timestamp_ms = frame_timestamp_ms(frame)
        if timestamp_ms <= last_ms:
            slot.count_drop()
            continue
        last_ms = timestamp_ms
        if not slot.put(IncomingFrame(frame, timestamp_ms, arrival, sequence)):
            return
        sequence += 1


def to_rgb(frame: Any, max_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """An ``av.VideoFrame`` as ``(H, W, 3)`` uint8 RGB, downscaled to ``max_side`` in the same
    libswscale call; also returns the source ``(width, height)`` keypoints are reported in."""
    width, height = int(frame.width), int(frame.height)
    out_w, out_h = width, height
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        out_w, out_h = max(2, round(width * scale)), max(2, round(height * scale))
    image: np.ndarray = frame.to_ndarray(format="rgb24", width=out_w, height=out_h)
    return image, (width, height)
