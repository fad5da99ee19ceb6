"""Throughput of `coach poses` (frames/s) and time per stage on a clip.

    .venv/bin/python -m benchmarks.bench_poses [--video CLIP] [--size 640x480] [--repeat 3]
        [--lifter default|ours|poseformerv2-random] [--device cpu|cuda] [--append]

The clip is first transcoded to the asked size (default 640x480, the acceptance target), so the
figure is about that input and not the source resolution. Stages: decode (alone, one thread), 2D
backend, lifter, and the whole pipeline end to end (decode overlapping 2D, as `coach poses` runs).

``--lifter poseformerv2-random`` times PoseFormerV2 with random weights written to a temporary
checkpoint in the official format: speed does not depend on the weight values. It exists for
measuring only; no user-facing path runs PoseFormerV2 without real weights. ``--lifter ours`` times
the shipped checkpoint of checkpoints/ours/ (``lifter = ours``, whatever its accuracy verdict).

``--append`` adds a row to benchmarks/RESULTS.md with machine, date and commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from benchmarks._env import commit, machine, report
from lifting.lifter import Lifter, PoseFormerV2Lifter, PoseFormerV2Options, WorldLandmarkLifter
from lifting.pipeline import PosePipeline
from lifting.pose2d import MediaPipeBackend
from lifting.poseformerv2 import PoseFormerV2, save_checkpoint
from lifting.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "media" / "pushup_side_nasm.mp4"


def transcode(src: Path, dst: Path, width: int, height: int) -> int:
    """Scale-and-crop ``src`` to exactly width x height (H.264); return the frame count."""
    count = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        in_stream = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=in_stream.average_rate or 30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in inp.decode(in_stream):
            scale = max(width / frame.width, height / frame.height)
            w, h = round(frame.width * scale), round(frame.height * scale)
            img = frame.to_ndarray(format="rgb24", width=w, height=h)
            top, left = (h - height) // 2, (w - width) // 2
            crop = np.ascontiguousarray(img[top : top + height, left : left + width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                out.mux(packet)
            count += 1
        for packet in stream.encode():
            out.mux(packet)
    return count


def random_poseformer(device: str, tmp: Path) -> Lifter:
    path = tmp / "random_27_243.bin"
    save_checkpoint(PoseFormerV2(), path)
    return PoseFormerV2Lifter(PoseFormerV2Options(path, device=device))


def shipped_poseformer(device: str) -> Lifter:
    """The shipped checkpoint as the server builds it for ``lifter = ours``."""
    from server.services import make_lifter
    from server.settings import Settings

    return make_lifter(Settings(lifter="ours", device=device))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT the clip is transcoded to")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lifter", choices=["default", "ours", "poseformerv2-random"], default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--append", action="store_true", help="add a row to benchmarks/RESULTS.md")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        clip = tmp / f"bench_{width}x{height}.mp4"
        frames = transcode(args.video, clip, width, height)

        decode_s = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with VideoReader(clip) as reader:
                n = sum(1 for _ in reader)
            decode_s.append(time.perf_counter() - t0)
        assert n == frames

        lifter: Lifter = WorldLandmarkLifter()
        if args.lifter == "poseformerv2-random":
            lifter = random_poseformer(args.device, tmp)
        elif args.lifter == "ours":
            lifter = shipped_poseformer(args.device)
        runs = []
        with MediaPipeBackend() as backend:
            pipeline = PosePipeline(backend, lifter)
            pipeline.run(clip)  # warm-up: model load, first-call costs
            for _ in range(args.repeat):
                _, times = pipeline.run(clip)
                runs.append(times.as_dict())

    best = max(runs, key=lambda r: r["fps"])
    result = {
        "clip": f"{args.video.name} transcoded to {width}x{height}, {frames} frames",
        "backend": "mediapipe",
        "lifter": lifter.name
        + {"poseformerv2-random": " (random weights)", "ours": " (ours, checkpoints/ours)"}.get(args.lifter, ""),
        "device": lifter.device,
        "fps_median": round(statistics.median(r["fps"] for r in runs), 2),
        "fps_best": best["fps"],
        "decode_only_ms_per_frame": round(1000 * statistics.median(decode_s) / frames, 3),
        "pose2d_ms_per_frame": round(statistics.median(r["pose2d_ms_per_frame"] for r in runs), 3),
        "lift_ms_per_frame": round(statistics.median(r["lift_ms_per_frame"] for r in runs), 3),
        "decode_wait_ms_per_frame": round(statistics.median(r["decode_wait_ms_per_frame"] for r in runs), 3),
        "torch_threads": torch.get_num_threads(),
        "machine": machine(),
        "date": dt.date.today().isoformat(),
        "commit": commit(),
    }
    row = (
        f"`coach poses` {width}x{height}, {result['backend']} + {result['lifter']} ({result['device']}) | "
        f"**{result['fps_median']} frames/s** (best {result['fps_best']}); per frame: decode "
        f"{result['decode_only_ms_per_frame']} ms, 2D {result['pose2d_ms_per_frame']} ms, "
        f"lift {result['lift_ms_per_frame']} ms"
    )
    report(result, row if args.append else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
