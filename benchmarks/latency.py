"""The latency benchmark: N live sessions at F fps through the real realtime loop.

    .venv/bin/python -m benchmarks.latency [--sessions 2] [--fps 30] [--seconds 20] [--clip pushup_side_nasm.mp4]
        [--lifter mediapipe-world|poseformerv2-random] [--device auto] [--pose-workers N] [--webrtc]
        [--json] [--append]
    coach bench ...   (the same, installed as a command)

In-process (default): the app's own ``SessionManager`` (inference thread, pose workers, the shared lifter
batch, scoring, tips), fed by N simulated cameras, each releasing the clip's frames (decoded once,
looped) at F frames a second with RTP-like timestamps, the way aiortc hands frames to the server. A
camera never waits for the server: frames that arrive while one waits are dropped by the session's
slot (newest wins), as live. ``--webrtc``: ``coach serve`` in its own process and N aiortc clients
streaming the clip over loopback (their VP8 encoding shares the machine's cores).

Printed: per stage p50 / p95 / p99 (2D per frame, lift per batched call, scoring per pose), end to
end (a frame's arrival to its pose event handed to the WebSocket; a rep's last frame to its rep
event), frames processed and dropped per second per session, and the GPU memory peak when the lifter
runs on CUDA; a table, and JSON with ``--json``. Targets: issue 14 (two sessions >= 25 fps each with
MediaPipe on the 2-core machine; >= 64 streams at p95 <= 50 ms on an H100/H200 with the GPU models).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import fractions
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks._env import commit, machine, report

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50 / p95 / p99 of ``values`` in milliseconds (None when empty), and how many there were."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    p50, p95, p99 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2), "n": len(values)}


def decode(clip: Path, height: int) -> list[av.VideoFrame]:
    """The clip's frames as yuv420p ``av.VideoFrame`` s scaled to ``height`` (what a decoder hands aiortc)."""
    frames = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            width = round(frame.width * height / frame.height / 2) * 2
            frames.append(frame.reformat(width=width, height=height, format="yuv420p"))
    if not frames:
        raise SystemExit(f"{clip}: no video frames")
    return frames


class Camera:
    """A simulated remote track: the clip's frames, looped, released at ``fps`` in real time with RTP-like
    timestamps (90 kHz clock), until ``seconds`` have passed; then it ends like a closed connection."""

    kind = "video"

    def __init__(self, frames: list[av.VideoFrame], fps: float, seconds: float) -> None:
        self.frames, self.fps, self.seconds = frames, fps, seconds
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        from aiortc.mediastreams import MediaStreamError

        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self.sent / self.fps
        if due - self._start >= self.seconds:
            raise MediaStreamError
        if due > now:
            await asyncio.sleep(due - now)
        source = self.frames[self.sent % len(self.frames)]
        frame = av.VideoFrame.from_ndarray(source.to_ndarray(), format="yuv420p")
        frame.pts = round(self.sent * 90_000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        self.sent += 1
        return frame


async def in_process(args: argparse.Namespace, frames: list[av.VideoFrame], checkpoints: Path | None) -> dict[str, Any]:
    """N simulated cameras into the app's own SessionManager; the statistics of every session and stage."""
    from realtime.manager import SessionManager
    from server.services import References, live_options, make_backend, make_lifter, make_tips
    from server.settings import Settings

    overrides: dict[str, Any] = {"device": args.device, "lifter": args.lifter, "backend": args.backend}
    if checkpoints is not None:
        overrides["checkpoints_dir"] = checkpoints
    settings = Settings(**overrides)
    lifter = make_lifter(settings)
    tips, _ = make_tips(settings)
    references = References(settings.references_dir)
    options = dataclasses.replace(
        live_options(settings), max_sessions=args.sessions, pose_workers=args.pose_workers, idle_timeout_s=60.0
    )
    manager = SessionManager(
        options, lifter, lambda: make_backend(settings, live=True), references, tips, alternatives=references.others
    )
    started = time.monotonic()
    async with manager:
        sessions = [await manager.create(args.exercise, "plain") for _ in range(args.sessions)]
        drains = [asyncio.create_task(_drain(s)) for s in sessions]
        cameras = [Camera(frames, args.fps, args.seconds) for _ in sessions]
        for session, camera in zip(sessions, cameras, strict=True):
            manager.offer_received(session)
            manager.attach_track(session, camera)
        await asyncio.wait_for(asyncio.gather(*drains), args.seconds + 120)
    elapsed = time.monotonic() - started
    loop = manager.loop_thread
    per_session = []
    for session, camera in zip(sessions, cameras, strict=True):
        stats = session.stats
        seconds = args.seconds
        per_session.append(
            {
                "sent": camera.sent,
                "processed": stats.processed,
                "dropped": camera.sent - stats.processed,
                "processed_fps": round(stats.processed / seconds, 2),
                "dropped_fps": round((camera.sent - stats.processed) / seconds, 2),
                "reps": stats.reps,
            }
        )
    pose2d = [ms for s in sessions for ms in s.stats.process_ms]
    return {
        "sessions": per_session,
        "stages_ms": {
            "pose2d_per_frame": percentiles(pose2d),
            "lift_per_batch": percentiles(list(loop.stage_ms["lift"])),
            "score_per_pose": percentiles(list(loop.stage_ms["score"])),
        },
        "end_to_end_ms": {
            "frame_to_pose_event": percentiles([ms for s in sessions for ms in s.stats.pose_latency_ms]),
            "last_frame_to_rep_event": percentiles([ms for s in sessions for ms in s.stats.rep_latency_ms]),
        },
        "lift_batches": dict(sorted(loop.batch_sizes.items())),
        "pose_workers": loop.pose_workers,
        "backend": settings.backend,
        "lifter": lifter.name,
        "device": getattr(lifter, "device", "cpu"),
        "wall_s": round(elapsed, 1),
    }


async def _drain(session: Any) -> None:
    """Take the session's events as its WebSocket would, recording their latency the same way
    (``server/ws.py``: the moment an event is handed over)."""
    while (item := await session.outbox.get()) is not None:
        item.event.as_json()
        if item.metric is not None and item.since is not None:
            session.stats.record(item.metric, item.since, time.monotonic())


async def over_webrtc(args: argparse.Namespace, clip: Path) -> dict[str, Any]:
    """``coach serve`` in its own process, N aiortc clients over loopback (benchmarks.soak's client)."""
    from benchmarks.soak import free_port, live_session, looped_clip, running_server

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="coach-latency-") as data:
        streamed = looped_clip(clip, Path(data) / "client.mp4", args.seconds + 60, args.height, args.fps)
        env = {"COACH_DATA_DIR": data, "COACH_MAX_SESSIONS": str(args.sessions), "COACH_SESSIONS_PER_MINUTE": "1000",
               "COACH_IDLE_TIMEOUT_S": "30", "COACH_LIFTER": args.lifter, "COACH_DEVICE": args.device,
               "COACH_BACKEND": args.backend}  # fmt: skip
        if args.pose_workers is not None:
            env["COACH_POSE_WORKERS"] = str(args.pose_workers)
        with running_server(port, env):
            stats: list[dict[str, Any]] = []
            lost: list[str] = []
            deadline = time.monotonic() + args.seconds
            await asyncio.gather(*(live_session(base, streamed, deadline, stats, lost) for _ in range(args.sessions)))
    return {"sessions": stats, "lost": lost}


def write_random_topdown(folder: Path) -> None:
    """yolov3.cfg (the checkpoints folder's, else the spec's copy in ../shared/specs), yolov3.weights and
    pose_hrnet_w48_384x288.pth of the official shapes with random weights, in the official layouts."""
    from lifting.hrnet import HRNet, save_hrnet
    from lifting.topdown import HRNET_FILE, YOLO_CFG, YOLO_WEIGHTS
    from lifting.yolov3 import Darknet, parse_cfg, save_darknet_weights

    places = (ROOT / "checkpoints" / YOLO_CFG, ROOT.parent / "shared" / "specs" / YOLO_CFG)
    cfg = next((place for place in places if place.is_file()), None)
    if cfg is None:
        raise SystemExit(f"yolo-hrnet-random needs {YOLO_CFG} in checkpoints/ (`coach checkpoints` says where)")
    shutil.copy(cfg, folder / YOLO_CFG)
    save_darknet_weights(Darknet(parse_cfg(cfg)), folder / YOLO_WEIGHTS)
    save_hrnet(HRNet(), folder / HRNET_FILE)


def table(result: dict[str, Any]) -> str:
    """The figures as an aligned text table."""
    lines = [f"{'stage':28s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'n':>7s}"]
    for group in ("stages_ms", "end_to_end_ms"):
        for name, p in result.get(group, {}).items():
            cells = [f"{p[k]:8.2f}" if p[k] is not None else f"{'-':>8s}" for k in ("p50", "p95", "p99")]
            lines.append(f"{name:28s} {' '.join(cells)} {p['n']:7d}")
    for i, s in enumerate(result.get("sessions", [])):
        if "processed_fps" in s:
            lines.append(
                f"session {i + 1}: {s['processed_fps']:.1f} fps processed, {s['dropped_fps']:.1f} fps dropped, "
                f"{s['reps']} reps"
            )
        else:  # --webrtc: the server's own statistics of the session
            pose = s.get("pose_latency_ms", {})
            lines.append(
                f"session {i + 1}: {s.get('mean_fps', 0):.1f} fps processed, {s.get('frames_dropped')} frames dropped "
                f"of {s.get('frames_received')}; arrival -> pose event p50 {pose.get('p50')} / p95 {pose.get('p95')} ms"
            )
    for reason in result.get("lost", []):
        lines.append(f"lost: {reason}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="coach bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=2, help="live sessions at once")
    parser.add_argument("--fps", type=float, default=30.0, help="frames a second each camera sends")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each camera streams")
    parser.add_argument("--clip", default="pushup_side_nasm.mp4", help="a clip under ../shared/media, or a path")
    parser.add_argument("--exercise", default="pushup")
    parser.add_argument("--height", type=int, default=360, help="camera picture height (the width keeps the aspect)")
    parser.add_argument(
        "--lifter",
        choices=["mediapipe-world", "poseformerv2", "poseformerv2-random"],
        default="mediapipe-world",
        help="poseformerv2-random: PoseFormerV2 with random weights (speed does not depend on them)",
    )
    parser.add_argument(
        "--backend",
        choices=["mediapipe", "yolo-hrnet", "yolo-hrnet-random"],
        default="mediapipe",
        help="2D model; yolo-hrnet-random: YOLOv3 + HRNet-W48 of the official shapes with random weights "
        "(written to a temporary folder with a random PoseFormerV2, which it then needs)",
    )
    parser.add_argument("--device", default="auto", help="torch device of the models: auto, cpu, cuda, cuda:N")
    parser.add_argument("--pose-workers", type=int, default=None, help="2D threads (default: one per CPU core)")
    parser.add_argument("--webrtc", action="store_true", help="real aiortc clients against coach serve")
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    parser.add_argument("--append", action="store_true", help="add a row to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.fps <= 0 or args.seconds <= 0:
        parser.error("--sessions, --fps and --seconds must be positive")
    clip = Path(args.clip) if Path(args.clip).is_file() else MEDIA / args.clip
    if not clip.is_file():
        parser.error(f"no such clip: {args.clip} (looked in {MEDIA} too)")
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp_name:
        checkpoints = None
        if args.backend == "yolo-hrnet-random":
            args.lifter = "poseformerv2-random"
        if args.lifter == "poseformerv2-random":
            from lifting.checkpoints import POSEFORMERV2_FILE
            from lifting.poseformerv2 import PoseFormerV2, save_checkpoint

            checkpoints = Path(tmp_name)
            shutil.copy(ROOT / "checkpoints" / "manifest.json", checkpoints)
            save_checkpoint(PoseFormerV2(), checkpoints / POSEFORMERV2_FILE)
            args.lifter = "poseformerv2"
        if args.backend == "yolo-hrnet-random":
            assert checkpoints is not None
            write_random_topdown(checkpoints)
            args.backend = "yolo-hrnet"
        if args.webrtc:
            if checkpoints is not None:
                parser.error("--webrtc serves the checkpoints folder as it is: put the weights there")
            result = asyncio.run(over_webrtc(args, clip))
        else:
            result = asyncio.run(in_process(args, decode(clip, args.height), checkpoints))
    result.update(
        date=dt.date.today().isoformat(), commit=commit(), machine=machine(), clip=clip.name,
        sessions_asked=args.sessions, fps=args.fps, seconds=args.seconds, height=args.height,
        mode="webrtc" if args.webrtc else "in-process",
    )  # fmt: skip
    try:
        import torch

        if torch.cuda.is_available():
            result["gpu"] = torch.cuda.get_device_name(0)
            result["gpu_memory_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    except ImportError:
        pass
    if not args.json:
        print(table(result))
    row = None
    if args.append and args.webrtc:
        fps = [s.get("mean_fps", 0.0) for s in result["sessions"]]
        p95 = [s.get("pose_latency_ms", {}).get("p95") or 0.0 for s in result["sessions"]]
        row = (
            f"latency over WebRTC, {args.sessions} aiortc client(s) on loopback streaming {clip.name} at "
            f"{args.height} px {args.fps:g} fps for {args.seconds:g} s against coach serve ({args.backend}, "
            f"{args.lifter}; the clients' encoding shares the machine) | **{min(fps, default=0):.1f}-"
            f"{max(fps, default=0):.1f} fps processed per session**; arrival -> pose event p95 "
            f"{min(p95, default=0):.0f}-{max(p95, default=0):.0f} ms; {len(result['lost'])} sessions lost"
        )
    if args.append and not args.webrtc:
        fps = [s["processed_fps"] for s in result["sessions"]]
        e2e = result["end_to_end_ms"]["frame_to_pose_event"]
        row = (
            f"latency, {args.sessions} live session(s) at {args.fps:g} fps for {args.seconds:g} s, in-process "
            f"({result['backend']} + {result['lifter']} on {result['device']}, {result['pose_workers']} pose workers, "
            f"{clip.name} at {args.height} px) | **{min(fps):.1f}-{max(fps):.1f} fps processed per session**; frame -> "
            f"pose event p50 {e2e['p50']} / p95 {e2e['p95']} / p99 {e2e['p99']} ms; 2D per frame p95 "
            f"{result['stages_ms']['pose2d_per_frame']['p95']} ms; lift per batch p95 "
            f"{result['stages_ms']['lift_per_batch']['p95']} ms; scoring per pose p95 "
            f"{result['stages_ms']['score_per_pose']['p95']} ms"
        )
    report(result, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
