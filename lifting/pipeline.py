"""Batch mode of the pose pipeline: a video file -> per-frame 2D and 3D poses as arrays.

Decoding runs in its own thread (``video-decode:*``) a few frames ahead of the 2D model, so the two
overlap on a multi-core machine. Frames are never dropped: every decoded frame has a row in the
result, with ``detected`` False where nobody was found.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lifting.lifter import Lifter
from lifting.people import follow_offline
from lifting.pose2d import PoseBackend
from lifting.track import PoseTrack
from lifting.types import Pose2D
from lifting.video import ReaderOptions, VideoError, VideoFrame, VideoReader

ProgressFn = Callable[[int, int], None]
"""Called as progress(frames_done, frames_expected); frames_expected is 0 when unknown."""


@dataclass
class StageTimes:
    """Wall time per stage of one run, in seconds."""

    frames: int = 0
    """Frames processed."""
    decode_wait_s: float = 0.0
    """Time the 2D stage waited for decoded frames (decoding itself overlaps in its own thread)."""
    pose2d_s: float = 0.0
    """Time in the 2D backend."""
    lift_s: float = 0.0
    """Time in the lifter."""
    total_s: float = 0.0
    """End to end, opening the file included."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know about the input (truncated file, repaired timestamps)."""

    def as_dict(self) -> dict[str, float]:
        """Per-stage times, and per-frame milliseconds and throughput."""
        per = 1000.0 / self.frames if self.frames else 0.0
        return {
            "frames": self.frames,
            "total_s": round(self.total_s, 3),
            "fps": round(self.frames / self.total_s, 2) if self.total_s else 0.0,
            "decode_wait_ms_per_frame": round(self.decode_wait_s * per, 3),
            "pose2d_ms_per_frame": round(self.pose2d_s * per, 3),
            "lift_ms_per_frame": round(self.lift_s * per, 3),
        }


class PosePipeline:
    """Video -> 2D -> 3D with a given backend and lifter (both owned by the caller)."""

    def __init__(
        self,
        backend: PoseBackend,
        lifter: Lifter,
        max_side: int | None = 640,
        prefetch: int = 8,
        batch_frames: int = 16,
    ) -> None:
        if lifter.name == "mediapipe-world" and not backend.estimates_world:
            raise ValueError(f"the mediapipe-world lifter needs world landmarks, which {backend.name} does not give")
        self.backend = backend
        self.lifter = lifter
        self.reader_options = ReaderOptions(max_side=max_side, prefetch=prefetch)
        if batch_frames < 1:
            raise ValueError(f"batch_frames must be >= 1, got {batch_frames}")
        self.batch_frames = batch_frames
        """Frames a batched 2D backend (``PoseBackend.batched``) gets at once."""

    def _detect_chunk(self, frames: list[VideoFrame]) -> list[Pose2D]:
        return self.backend.detect_frames(
            [f.image for f in frames], [f.timestamp_ms for f in frames], [f.source_size for f in frames]
        )

    def run(
        self,
        video: str | Path,
        progress: ProgressFn | None = None,
        max_duration_s: float | None = None,
        max_frames: int | None = None,
        share_read: Callable[[float], None] | None = None,
    ) -> tuple[PoseTrack, StageTimes]:
        """Process a whole video. Raises VideoError for a file that is not a readable video, and
        (``kind="too_long"``) as soon as the frames pass ``max_duration_s`` of video or ``max_frames``,
        checked while decoding: a file that declares no duration (a raw .h264) cannot slip past.
        ``share_read``: for a file that declares no frame count, called with the share of its bytes
        read so far (progress by byte position)."""
        times = StageTimes()
        start = time.perf_counter()
        poses_2d: list[Pose2D] = []
        people: list[list[Pose2D]] = []  # with several people looked for: everyone, chosen from at the end
        first_ms: float | None = None
        chunk: list[VideoFrame] = []  # frames waiting for a batched backend
        with VideoReader(video, self.reader_options) as reader:
            expected = reader.info.frame_count
            self.backend.reset()
            frames = iter(reader)
            while True:
                t0 = time.perf_counter()
                frame = next(frames, None)
                t1 = time.perf_counter()
                times.decode_wait_s += t1 - t0
                if frame is None:
                    break
                first_ms = frame.timestamp_ms if first_ms is None else first_ms
                seen = len(poses_2d) + len(people) + len(chunk) + 1
                if (max_duration_s is not None and frame.timestamp_ms - first_ms > max_duration_s * 1000) or (
                    max_frames is not None and seen > max_frames
                ):
                    limit = f"{max_duration_s:.0f} s" if max_duration_s is not None else f"{max_frames} frames"
                    raise VideoError(f"the video runs past the {limit} limit: trim it", kind="too_long")
                if self.backend.batched and self.backend.max_people == 1:
                    chunk.append(frame)  # several frames through the model at once (a GPU backend)
                    if len(chunk) == self.batch_frames:
                        poses_2d.extend(self._detect_chunk(chunk))
                        chunk = []
                elif self.backend.max_people == 1:
                    poses_2d.append(self.backend.detect(frame.image, frame.timestamp_ms, frame.source_size))
                else:
                    people.append(self.backend.detect_people(frame.image, frame.timestamp_ms, frame.source_size))
                times.pose2d_s += time.perf_counter() - t1
                if progress is not None:
                    progress(len(poses_2d) + len(people), expected)
                if share_read is not None and not expected:
                    share_read(reader.fraction_read)
            if chunk:
                t1 = time.perf_counter()
                poses_2d.extend(self._detect_chunk(chunk))
                times.pose2d_s += time.perf_counter() - t1
            ended_early = reader.ended_early()
            if ended_early:
                times.warnings.append(ended_early)
            if reader.repaired_timestamps:
                times.warnings.append(
                    f"{reader.repaired_timestamps} frames had non-increasing timestamps and were re-timed"
                )
        if people:  # the whole clip known: follow the person who exercises (lifting.people)
            poses_2d = follow_offline(people, self.backend.focus)
        t2 = time.perf_counter()
        poses_3d = self.lifter.lift_sequence(poses_2d)
        times.lift_s = time.perf_counter() - t2
        times.frames = len(poses_2d)
        times.total_s = time.perf_counter() - start
        track = PoseTrack.from_poses(poses_2d, poses_3d, self.backend.name, self.lifter.name, str(video))
        return track, times
