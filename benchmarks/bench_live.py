"""Live coaching latency and throughput: one 30-fps WebRTC stream from real Chromium.

    .venv/bin/python -m benchmarks.bench_live [--video CLIP] [--seconds 30] [--size 640x360]
        [--lifter default|ours|poseformerv2-random|poseformerv2-small-random] [--append]

Runs the app in-process (uvicorn in a thread), opens the web page in headless Chromium whose fake
camera loops the clip (converted to y4m at --size, 30 fps), starts a push-up session with no
countdown, lets it run for --seconds, stops it, and reads the session's statistics from the server:
frames received, processed and dropped; processed frames per second; and the latency from a frame's
arrival at the server (aiortc handed it over, decoded) to its ``pose`` event being written to the
WebSocket, and from the arrival of a rep's last frame to its ``rep`` event being written. Chromium
(camera, VP8 encoder, page) runs on the same machine and takes its share of the cores.

``--lifter poseformerv2-random`` serves PoseFormerV2 with random weights written to a temporary
checkpoint (speed does not depend on the values); rep events then wait for the lookahead frames.
``poseformerv2-small-random`` does the same with the ``small`` training preset's shape (T = 81, the
shape of the project's own checkpoint, ``coach train-lifter --preset small``). ``ours`` serves the
shipped checkpoint of checkpoints/ours/ whatever its accuracy verdict (``lifter = ours``).

Targets (issue 4): >= 28 frames/s processed and p95 <= 40 ms to the pose event, 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks._env import commit, machine, report
from benchmarks.latency import percentiles
from lifting.checkpoints import POSEFORMERV2_FILE
from lifting.poseformerv2 import PoseFormerV2, PoseFormerV2Config, save_checkpoint
from lifting.training.train import PRESETS
from server.services import services_of
from server.settings import Settings
from tests.support.harness import chromium_with_camera, running_app, to_y4m

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared" / "media" / "pushup_side_nasm.mp4")
    parser.add_argument("--exercise", default="pushup")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="640x360", help="camera picture WIDTHxHEIGHT")
    parser.add_argument(
        "--lifter", choices=["default", "ours", "poseformerv2-random", "poseformerv2-small-random"], default="default"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--append", action="store_true", help="add a row to benchmarks/RESULTS.md")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp_name:
        tmp = Path(tmp_name)
        y4m = to_y4m(args.video, tmp / "camera.y4m", width, height, 30)
        overrides: dict[str, object] = {"device": args.device}
        if args.lifter == "ours":
            overrides["lifter"] = "ours"
        elif args.lifter != "default":
            config = PRESETS["small"] if args.lifter == "poseformerv2-small-random" else PoseFormerV2Config()
            (tmp / "ckpt").mkdir()
            manifest = json.loads((ROOT / "checkpoints" / "manifest.json").read_text())
            for entry in manifest["files"]:
                if entry["name"] == POSEFORMERV2_FILE:
                    entry["config"] = dataclasses.asdict(config)
            (tmp / "ckpt" / "manifest.json").write_text(json.dumps(manifest))
            save_checkpoint(PoseFormerV2(config), tmp / "ckpt" / POSEFORMERV2_FILE)
            overrides.update(checkpoints_dir=tmp / "ckpt", lifter="poseformerv2")
        settings = Settings.model_validate(overrides)
        with running_app(settings) as (base, app), chromium_with_camera(y4m) as browser:
            manager = services_of(app).manager
            page = browser.new_page()
            page.goto(f"{base}/?countdown=0&exercise={args.exercise}")
            # a selector, not wait_for_function: the page's CSP (no eval) applies to Playwright's polling too
            page.wait_for_selector("#start:not([disabled])")
            page.click("#start")
            page.wait_for_selector("#conn-state[data-state=live]", timeout=30000)
            time.sleep(args.seconds)
            page.click("#stop")
            page.wait_for_selector("#summary:not([hidden])", timeout=30000)
            info = manager.ended[-1]
            lifter = manager.lifter
            stages = {name: percentiles(list(ms)) for name, ms in manager.loop_thread.stage_ms.items()}

    result = {
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
        "machine": machine(),
        "clip": args.video.name,
        "camera": f"{width}x{height} @30 fps (Chromium fake camera, VP8)",
        "lifter": lifter.name
        + {
            "default": "",
            "ours": " ours (checkpoints/ours)",
            "poseformerv2-random": " (random weights)",
            "poseformerv2-small-random": " small (random weights)",
        }[args.lifter],
        "device": lifter.device,
        "lookahead_frames": manager.lookahead,
        "seconds": args.seconds,
        **{k: info[k] for k in ("frames_received", "frames_processed", "frames_dropped", "mean_fps", "process_ms")},
        "pose_latency_ms": info["pose_latency_ms"],
        "rep_latency_ms": info["rep_latency_ms"],
        "reps": info["reps"],
        "loop_stage_ms": {"lift_per_batch": stages["lift"], "score_per_pose": stages["score"]},
        "torch_threads": torch.get_num_threads(),
    }
    pose, rep = info["pose_latency_ms"], info["rep_latency_ms"]
    row = (
        f"live, 1 Chromium stream {width}x{height} @30 fps, {args.seconds:.0f} s, {result['lifter']} "
        f"({lifter.device}, lookahead {manager.lookahead}) | **{info['mean_fps']} frames/s processed**, "
        f"{info['frames_dropped']} of {info['frames_received']} dropped; arrival -> pose event "
        f"**p50 {pose['p50']} / p95 {pose['p95']} ms**; rep end -> rep event p50 {rep['p50']} / p95 {rep['p95']} ms "
        f"({rep['count']} reps); 2D per frame p50 {info['process_ms']['p50']} ms"
    )
    report(result, row if args.append else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
