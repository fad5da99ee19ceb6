"""Video files in, upright RGB frames with their real timestamps out (PyAV).

PyAV reads any container and codec FFmpeg reads. Frames come out in presentation order with the
timestamp from their pts, turned upright according to the container's display matrix (phones store
portrait clips as landscape frames plus a rotation), and optionally downscaled during the colour
conversion, which costs nothing extra.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np


class VideoError(Exception):
    """The file is missing, is not a video, is empty, or is corrupt. The message says which; ``kind``
    says it for programs: ``missing``, ``not_video``, ``corrupt``, ``unsupported`` or ``too_long``."""

    def __init__(self, message: str, kind: str = "not_video") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class VideoInfo:
    """What a probe of a video file found."""

    path: Path
    """The file."""
    codec: str
    """Video codec name as FFmpeg calls it (e.g. ``h264``)."""
    width: int
    """Width in pixels of the upright picture (after rotation)."""
    height: int
    """Height in pixels of the upright picture (after rotation)."""
    rotation: int
    """Counter-clockwise rotation in degrees (0, 90, 180, 270) applied to stored frames to show them upright."""
    fps: float
    """Average frame rate from the container (0 if unknown)."""
    frame_count: int
    """Number of frames the container declares (0 if it does not say)."""
    duration_s: float
    """Duration in seconds from the container (0 if unknown)."""


@dataclass(frozen=True)
class VideoFrame:
    """One decoded, upright frame."""

    image: np.ndarray
    """(H, W, 3) uint8 RGB, upright, possibly downscaled (see ``source_size``)."""
    timestamp_ms: float
    """Presentation time in milliseconds, from the frame's pts and the stream's time base."""
    index: int
    """0-based index of the frame in decoding order of the video stream."""
    source_size: tuple[int, int]
    """(width, height) of the upright frame at full resolution; keypoints are reported in these pixels."""


def _quarter_turns(degrees: float) -> int:
    turns = round(degrees / 90.0)
    if abs(degrees - 90.0 * turns) > 1.0:
        raise VideoError(f"unsupported display rotation of {degrees} degrees (only multiples of 90 are)", "unsupported")
    return turns % 4


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError(f"{path}: no such file", "missing")
    if not path.is_file():
        raise VideoError(f"{path}: not a regular file", "missing")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: the file is empty")
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: not a video file FFmpeg can read ({exc.strerror or exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: the file has no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Read a video's header and its first frame; raise VideoError if it is not a readable video."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise VideoError(f"{path}: the video stream is corrupt ({exc.strerror or exc})", "corrupt") from exc
        if first is None:
            raise VideoError(f"{path}: the video stream has no decodable frames", "corrupt")
        turns = _quarter_turns(first.rotation)
        width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        return VideoInfo(
            path=path,
            codec=stream.codec_context.name,
            width=width,
            height=height,
            rotation=turns * 90,
            fps=fps,
            frame_count=int(stream.frames or 0),
            duration_s=duration,
        )
    finally:
        container.close()


@dataclass(frozen=True)
class ReaderOptions:
    """How frames are decoded."""

    max_side: int | None = None
    """Downscale so that the longer side of the upright frame is at most this many pixels (None: keep)."""
    prefetch: int = 0
    """Decode this many frames ahead in a background thread (0: decode in the caller's thread)."""

    def __post_init__(self) -> None:
        if self.max_side is not None and self.max_side < 16:
            raise ValueError(f"max_side must be >= 16 pixels or None, got {self.max_side}")
        if self.prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {self.prefetch}")


class VideoReader:
    """Iterates over a video file's frames, upright, with real timestamps.

    Use as a context manager. Timestamps strictly increase; a frame whose pts does not (a broken
    muxer) gets the previous timestamp plus one nominal frame interval and is counted in
    ``repaired_timestamps``.
    """

    def __init__(self, path: str | Path, options: ReaderOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or ReaderOptions()
        self.info = probe(self.path)
        self.repaired_timestamps = 0
        self.last_timestamp_ms: float | None = None
        self.bytes_read = 0
        """How far into the file the demuxer is, bytes (``fraction_read``)."""
        self._container: av.container.InputContainer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the prefetch thread (if any) and close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def ended_early(self) -> str | None:
        """After reading: a warning when the frames stopped well before the declared duration
        (a truncated download or recording), else None."""
        declared_ms = self.info.duration_s * 1000
        if self.last_timestamp_ms is None or declared_ms <= 0:
            return None
        frame_ms = 1000.0 / self.info.fps if self.info.fps > 0 else 100.0
        if self.last_timestamp_ms + 2 * frame_ms + 500 < declared_ms:
            return (
                f"the video ends at {self.last_timestamp_ms / 1000:.2f} s but declares "
                f"{self.info.duration_s:.2f} s: the file is probably truncated"
            )
        return None

    def output_size(self) -> tuple[int, int]:
        """(width, height) of the images this reader yields."""
        width, height = self.info.width, self.info.height
        max_side = self.options.max_side
        if max_side is None or max(width, height) <= max_side:
            return width, height
        scale = max_side / max(width, height)
        return max(2, round(width * scale)), max(2, round(height * scale))

    def __iter__(self) -> Iterator[VideoFrame]:
        if self.options.prefetch > 0:
            return self._prefetched()
        return self._frames()

    def _frames(self) -> Iterator[VideoFrame]:
        self._container = _open(self.path)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 1000)
        nominal_ms = 1000.0 / self.info.fps if self.info.fps > 0 else 1000.0 / 30.0
        out_w, out_h = self.output_size()
        turns = _quarter_turns(self.info.rotation)
        # Size of the stored (pre-rotation) picture to ask the scaler for.
        stored_w, stored_h = (out_h, out_w) if turns % 2 else (out_w, out_h)
        source_size = (self.info.width, self.info.height)
        previous_ms = -math.inf
        index = 0
        try:
            for frame in self._decoded(stream):
                if self._stop.is_set():
                    return
                if frame.pts is not None:
                    timestamp_ms = float(frame.pts * time_base * 1000)
                else:
                    timestamp_ms = previous_ms + nominal_ms if index else 0.0
                if timestamp_ms <= previous_ms:
                    timestamp_ms = previous_ms + nominal_ms
                    self.repaired_timestamps += 1
                previous_ms = timestamp_ms
                self.last_timestamp_ms = timestamp_ms
                image: np.ndarray = frame.to_ndarray(format="rgb24", width=stored_w, height=stored_h)
                if turns:
                    image = np.ascontiguousarray(np.rot90(image, k=turns))
                yield VideoFrame(image=image, timestamp_ms=timestamp_ms, index=index, source_size=source_size)
                index += 1
        except av.FFmpegError as exc:
            raise VideoError(
                f"{self.path}: the video stream is corrupt after frame {index} ({exc.strerror or exc})", "corrupt"
            ) from exc
        finally:
            if self._container is not None:
                self._container.close()
                self._container = None

    def _decoded(self, stream: Any) -> Iterator[Any]:
        """The stream's frames, packet by packet, keeping ``bytes_read`` (how far into the file the
        demuxer is: the progress of a file that declares no frame count)."""
        assert self._container is not None
        for packet in self._container.demux(stream):
            if packet.pos is not None and packet.pos >= 0:
                self.bytes_read = max(self.bytes_read, int(packet.pos) + int(packet.size))
            yield from packet.decode()

    @property
    def fraction_read(self) -> float:
        """Share of the file's bytes the demuxer has passed (0 to 1)."""
        size = self.path.stat().st_size if self.path.is_file() else 0
        return min(1.0, self.bytes_read / size) if size else 0.0

    def _prefetched(self) -> Iterator[VideoFrame]:
        frames: queue.Queue[VideoFrame | BaseException | None] = queue.Queue(maxsize=self.options.prefetch)

        def put(item: VideoFrame | BaseException | None) -> bool:
            while not self._stop.is_set():
                try:
                    frames.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def decode() -> None:
            try:
                for frame in self._frames():
                    if not put(frame):
                        return
                put(None)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put(exc)

        self._stop.clear()
        self._thread = threading.Thread(target=decode, name=f"video-decode:{self.path.name}", daemon=True)
        self._thread.start()
        try:
            while True:
                item = frames.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
