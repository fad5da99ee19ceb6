"""``coach train-lifter``: train our own PoseFormerV2 checkpoint on synthetic 2D from 3D motion
(``lifting/training``), or evaluate one (``--eval-only``).

    coach train-lifter [--preset small|full|single|tiny] [--steps N] [--device auto|cpu|cuda] [-o DIR]
    coach train-lifter --eval-only CHECKPOINT [--baseline ONE_FRAME.bin] [--clip VIDEO]
    coach train-lifter --export-fp16 CHECKPOINT
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from server.cli.common import EXIT_OK, UsageError

DEFAULTS = {
    "small": (20000, 256, 1e-3),
    "full": (60000, 512, 5e-4),
    "single": (20000, 256, 1e-3),
    "tiny": (200, 64, 2e-3),
}
"""Per preset: steps, batch size, peak learning rate."""


def _default_mocap() -> Path:
    from server.settings import PROJECT_ROOT

    return PROJECT_ROOT.parent / "shared" / "mocap" / "hdm05_h36m17.npz"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train-lifter",
        help="train a PoseFormerV2 lifter on 2D made from 3D motion (HDM05 mocap, the references), or evaluate one",
        description="Trains PoseFormerV2 (official layout, loads as checkpoints/27_243_45.2.bin does) on windows "
        "made as live mode makes them; evaluates MPJPE per lookahead on the held-out HDM05 actors mm and tr.",
    )
    p.add_argument("--preset", choices=["small", "full", "single", "tiny"], default="small",
                   help="network shape: small (T=81, CPU live), full (the official 27_243, GPU), single (the "
                   "one-frame baseline), tiny (tests); default small")  # fmt: skip
    p.add_argument(
        "--config",
        type=Path,
        metavar="JSON",
        help="a network shape other than the preset's: a JSON object of PoseFormerV2Config fields "
        '(frames, kept_frames, kept_coeffs, embed_dim_ratio, depth, num_heads, mlp_ratio), e.g. {"frames": 27}',
    )
    p.add_argument(
        "--steps",
        type=int,
        help="optimiser steps in all (default per preset: small 20000, full 60000; small takes about 1 s per "
        "step of 256 windows on one CPU core)",
    )
    p.add_argument("--batch-size", type=int, help="windows per step (default 256; full 512)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3; full 5e-4)")
    p.add_argument("--warmup", type=int, help="warm-up steps (default 500, at most a tenth of the steps)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of every batch (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0, help="processes drawing batches (default 0: in-process)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--save-every", type=int, default=500, help="steps between checkpoints (default 500)")
    p.add_argument("--mocap", type=Path, help="the HDM05 npz (default ../shared/mocap/hdm05_h36m17.npz)")
    p.add_argument("--references-dir", type=Path, help="folder of reference exercises (default references/)")
    p.add_argument("--no-references", action="store_true", help="leave out the references' 3D poses")
    p.add_argument("--no-authored", action="store_true", help="leave out reps drawn from authored exercises")
    p.add_argument(
        "-o", "--out", type=Path, help="run folder (default data/lifter-runs/PRESET); resumed if it has resume.pt"
    )
    p.add_argument("--fresh", action="store_true", help="start over even if the run folder has resume.pt")
    p.add_argument("--baseline", type=Path, help="a one-frame checkpoint (--preset single) to compare against")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation at the end")
    p.add_argument(
        "--eval-only",
        type=Path,
        metavar="CHECKPOINT",
        help="only evaluate this checkpoint (shape: --config, else the .json beside it, else --preset)",
    )
    p.add_argument(
        "--export-fp16",
        type=Path,
        metavar="CHECKPOINT",
        help="only write a float16 copy of this checkpoint (NAME_fp16.bin and .json beside it) for shipping",
    )
    p.add_argument(
        "--clip",
        type=Path,
        action="append",
        default=[],
        metavar="VIDEO",
        help="also compare with MediaPipe's world landmarks on this real video (joint angles, smoothness); repeatable",
    )
    p.add_argument("--eval-stride", type=int, default=2, help="evaluate every n-th held-out frame (default 2)")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> Any:
    from lifting.training.evaluate import checkpoint_config
    from lifting.training.train import TrainOptions, read_config_file

    steps, batch, lr = DEFAULTS[args.preset]
    model = None
    if args.config is not None:
        model = read_config_file(args.config)
    elif args.eval_only is not None and args.eval_only.with_suffix(".json").is_file():
        try:
            model = checkpoint_config(args.eval_only)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    steps = args.steps if args.steps is not None else steps
    warmup = args.warmup if args.warmup is not None else min(500, max(steps // 10, 0))
    return TrainOptions(
        preset=args.preset,
        steps=steps,
        batch_size=args.batch_size if args.batch_size is not None else batch,
        lr=args.lr if args.lr is not None else lr,
        warmup_steps=warmup,
        seed=args.seed,
        device=args.device,
        workers=args.workers,
        save_every=args.save_every,
        eval_stride=args.eval_stride,
        model=model,
    )


def print_metrics(metrics: dict[str, Any]) -> None:
    """The evaluation as a table: lifter x lookahead, MPJPE / P-MPJPE in mm."""
    lifters = metrics.get("lifters", {})
    if not lifters:
        return
    lookaheads = list(next(iter(lifters.values())))
    print(f"\nHeld-out actors {', '.join(metrics['held_out_actors'])}: MPJPE / P-MPJPE (mm) per lookahead "
          f"({metrics['frames_per_lookahead']} frames each)")  # fmt: skip
    print(f"{'lifter':<28}" + "".join(f"{'L=' + a:>14}" for a in lookaheads))
    for label, rows in lifters.items():
        cells = "".join(f"{rows[a]['mpjpe_mm']:>7.1f}/{rows[a]['p_mpjpe_mm']:<6.1f}" for a in lookaheads)
        print(f"{label:<28}{cells}")


def clip_agreements(checkpoint: Path, config: Any, videos: list[Path]) -> list[dict[str, Any]]:
    """For each real video: MediaPipe 2D + world landmarks, then the checkpoint on the same 2D at a few
    lookaheads; joint-angle differences and both lifters' mean acceleration."""
    from lifting.lifter import WorldLandmarkLifter
    from lifting.pipeline import PosePipeline
    from lifting.pose2d import MediaPipeBackend, MediaPipeOptions
    from lifting.training.evaluate import agreement, checkpoint_lifter, lift_track

    lift = checkpoint_lifter(checkpoint, config)
    rows = []
    for video in videos:
        with MediaPipeBackend(MediaPipeOptions()) as backend:
            track, _ = PosePipeline(backend, WorldLandmarkLifter()).run(video)
        for lookahead in sorted({0, min(13, config.pad), config.pad}):
            a = agreement(track, lift_track(track, lift, config.frames, lookahead))
            rows.append({"clip": video.name, "lookahead": lookahead, **asdict(a)})
    return rows


def print_agreement(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    print("\nReal clips, against MediaPipe's world landmarks: mean |joint angle difference| (deg), mean "
          "acceleration (mm/frame^2) of ours / MediaPipe's")  # fmt: skip
    for r in rows:
        print(f"{r['clip']:<28} L={r['lookahead']:<3} angles {r['mean_angle_diff_deg']:5.1f} deg  "
              f"accel {r['accel_mm']:5.1f} / {r['mediapipe_accel_mm']:5.1f}  ({r['frames']} frames)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import torch

    from lifting.poseformerv2 import CheckpointError
    from lifting.training.motion import MotionError, load_authored, load_hdm05, load_references, weighted
    from lifting.training.train import TrainingError, evaluate_run, record_metrics, train
    from server.settings import PROJECT_ROOT

    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    # Named files are checked before anything runs (a training run may take hours).
    for what, path in [("video", v) for v in args.clip] + [
        ("checkpoint", args.baseline),
        ("checkpoint", args.eval_only),
    ]:
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such {what} file")
    try:
        if args.export_fp16 is not None:
            from lifting.training.train import export_fp16

            print(f"fp16 copy: {export_fp16(args.export_fp16)}")
            return EXIT_OK
        options = _options(args)
        train_set, held_out = load_hdm05(args.mocap or _default_mocap())
        if args.eval_only is not None:
            checkpoint = args.eval_only
            metrics = evaluate_run(checkpoint, options, held_out, train_set, args.baseline, _device(options.device))
        else:
            references_dir = args.references_dir or PROJECT_ROOT / "references"
            clips = list(train_set.clips)
            if not args.no_references:
                clips += load_references(references_dir)
            if not args.no_authored:
                clips += load_authored(references_dir, seed=args.seed)
            motion = weighted(clips, options.share)
            out = args.out or PROJECT_ROOT / "data" / "lifter-runs" / args.preset
            print(f"training poseformerv2_{args.preset} into {out}: {motion.summary()}", file=sys.stderr)
            result = train(
                options,
                motion,
                out,
                held_out=None if args.no_eval else held_out,
                baseline=args.baseline,
                resume=not args.fresh,
                log=lambda line: print(line, file=sys.stderr),
            )
            checkpoint, metrics = result.checkpoint, result.metrics
            print(f"checkpoint: {result.checkpoint}\nmetadata:   {result.metadata}")
        if args.clip:
            metrics["real_clips"] = clip_agreements(checkpoint, options.config, args.clip)
        print_metrics(metrics)
        print_agreement(metrics.get("real_clips", []))
        if metrics and (meta := record_metrics(checkpoint, metrics)) is not None:
            print(f"metrics recorded in {meta}")
    except (MotionError, TrainingError, CheckpointError) as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def _device(device: str) -> str:
    from lifting.lifter import resolve_device

    return resolve_device(device)
