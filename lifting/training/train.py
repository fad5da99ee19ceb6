"""The training loop: synthetic windows -> PoseFormerV2 -> a checkpoint in the official layout.

- Batch k is drawn from ``numpy.random.default_rng([seed, k])``, so a run is deterministic for a seed,
  resumes exactly where it stopped (``resume.pt``: step, weights, optimiser and schedule) and can draw
  its batches in worker processes in any order.
- AdamW, linear warm-up then cosine decay to 1 % of the peak rate, gradient norm clipped to 1.
- Loss: MPJPE (mean joint distance, metres) of the window's target frame, camera axes, pelvis at the origin.
- Output (``out_dir``), rewritten at every save: ``poseformerv2_<preset>.bin`` in the official layout
  (``{"epoch", "lr", "model_pos": {"module.*": tensor}}``, loaded strictly by
  ``lifting.poseformerv2.load_poseformerv2``), ``poseformerv2_<preset>.json`` (sources, licences, config,
  training log, git commit; the held-out metrics at the end) and ``resume.pt``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.checkpoints import sha256_of
from lifting.poseformerv2 import PoseFormerV2, PoseFormerV2Config, official_state_dict
from lifting.training.evaluate import NearestPose, checkpoint_config, checkpoint_lifter, evaluate, held_out_streams
from lifting.training.motion import HELD_OUT_ACTORS, SOURCES, MotionSet, weighted
from lifting.training.synth import Batch, SynthOptions, make_batch

PRESETS: dict[str, PoseFormerV2Config] = {
    "tiny": PoseFormerV2Config(frames=9, kept_frames=3, kept_coeffs=3, embed_dim_ratio=8, depth=1, num_heads=4),
    "small": PoseFormerV2Config(frames=81, kept_frames=9, kept_coeffs=9, embed_dim_ratio=16, depth=3, num_heads=8),
    "full": PoseFormerV2Config(),
    "single": PoseFormerV2Config(frames=1, kept_frames=1, kept_coeffs=1, embed_dim_ratio=16, depth=3, num_heads=8),
}
"""Network shapes: ``tiny`` for tests, ``small`` for a CPU beside MediaPipe (T = 81, 9 kept frames and
coefficients, width 16, depth 3: 2.7 M parameters), ``full`` the official 27_243 shape for GPUs,
``single`` the one-frame baseline (``small``'s widths with T = 1)."""

EVAL_LOOKAHEADS: tuple[int, ...] = (0, 4, 8, 13, 20, 30)
"""Lookaheads reported (live mode's default is 13); the window's pad (batch mode) is added."""


class TrainingError(Exception):
    """Training cannot start or resume; the message says what to do."""


@dataclass(frozen=True)
class TrainOptions:
    """One training run."""

    preset: str = "small"
    """A name in ``PRESETS`` (sets the network shape)."""
    steps: int = 20000
    """Optimiser steps in all (a resumed run continues up to this)."""
    batch_size: int = 256
    """Windows per step."""
    lr: float = 1e-3
    """Peak learning rate."""
    weight_decay: float = 0.01
    """AdamW's decoupled weight decay."""
    warmup_steps: int = 500
    """Steps of linear warm-up before the cosine decay."""
    seed: int = 0
    """Seed of the initial weights and of every batch."""
    device: str = "auto"
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    workers: int = 0
    """Processes drawing batches (0: in the training process)."""
    save_every: int = 500
    """Steps between checkpoints (and at the end)."""
    log_every: int = 50
    """Steps between log lines (and entries of the training log)."""
    share: dict[str, float] = field(default_factory=lambda: {"hdm05": 0.7, "reference": 0.15, "authored": 0.15})
    """Share of training windows per motion source."""
    live_lookahead_max: int = 30
    """Lookaheads drawn over 0 ... this (and pad with ``p_full_lookahead``)."""
    p_full_lookahead: float = 0.25
    """Chance of a window with lookahead = pad (batch mode)."""
    eval_stride: int = 2
    """Every n-th held-out frame is evaluated."""
    model: PoseFormerV2Config | None = None
    """A network shape other than the preset's (``--config``); the preset still names the run."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise TrainingError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        for name in ("steps", "batch_size", "save_every", "log_every", "eval_stride"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"lr must be a positive number, got {self.lr}")
        if self.warmup_steps < 0 or self.workers < 0 or self.weight_decay < 0:
            raise TrainingError("warmup_steps, workers and weight_decay must be >= 0")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise TrainingError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    @property
    def config(self) -> PoseFormerV2Config:
        """The network shape: ``model`` when given, else the preset's."""
        return self.model or PRESETS[self.preset]

    def synth(self) -> SynthOptions:
        return SynthOptions(
            frames=self.config.frames,
            live_lookahead_max=self.live_lookahead_max,
            p_full_lookahead=self.p_full_lookahead,
        )


@dataclass(frozen=True)
class TrainResult:
    """What a training run left behind."""

    checkpoint: Path
    """The official-format checkpoint."""
    metadata: Path
    """Its metadata file (JSON)."""
    steps: int
    """Steps done in all (this run and before)."""
    losses: list[tuple[int, float]]
    """(step, mean training MPJPE in mm over the last ``log_every`` steps), earlier parts of a resumed
    run included."""
    metrics: dict[str, Any]
    """The held-out evaluation (``evaluate_run``); empty without a held-out set."""


def lr_at(step: int, options: TrainOptions) -> float:
    """Linear warm-up to ``lr``, then cosine decay to 1 % of it at ``steps``."""
    if step < options.warmup_steps:
        return options.lr * (step + 1) / options.warmup_steps
    span = max(1, options.steps - options.warmup_steps)
    progress = min(1.0, (step - options.warmup_steps) / span)
    return options.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The generator that draws batch ``step`` of a run with ``seed``."""
    return np.random.default_rng([seed, step])


class _Batches(torch.utils.data.Dataset[Batch]):
    def __init__(self, motion: MotionSet, options: TrainOptions) -> None:
        self.motion, self.options, self.synth = motion, options, options.synth()

    def __len__(self) -> int:
        return self.options.steps

    def __getitem__(self, step: int) -> Batch:
        return make_batch(self.motion, batch_rng(self.options.seed, step), self.options.batch_size, self.synth)


def _as_is(batch: Any) -> Any:
    return batch


def _batches(motion: MotionSet, options: TrainOptions, start: int) -> Iterator[Batch]:
    dataset = _Batches(motion, options)
    if options.workers == 0:
        return (dataset[k] for k in range(start, options.steps))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=range(start, options.steps),
        num_workers=options.workers,
        collate_fn=_as_is,
        persistent_workers=False,
    )
    return iter(loader)


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean joint distance, metres: ``(B, 17, 3)`` x2 -> scalar."""
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()


def git_commit(repo: Path) -> str:
    """``<hash>`` or ``<hash>+dirty`` of the repository holding this code, or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def export_checkpoint(model: PoseFormerV2, path: Path, step: int, lr: float) -> None:
    """Write the official layout (float32), atomically."""
    state = {k: v.detach().cpu() for k, v in official_state_dict(model).items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"epoch": step, "lr": lr, "model_pos": state}, tmp)
    os.replace(tmp, path)


def export_fp16(checkpoint: Path, out: Path | None = None) -> Path:
    """A float16 copy of an official-format checkpoint (half the size; the loader casts back to
    float32), written as ``<name>_fp16.bin`` beside it unless ``out`` is given, with a copy of its
    metadata (size and SHA-256 of the new file) when it has one."""
    from lifting.poseformerv2 import read_state_dict

    out = out or checkpoint.with_name(f"{checkpoint.stem}_fp16.bin")
    if out.resolve() == checkpoint.resolve():
        raise TrainingError(f"{out}: the fp16 copy would overwrite its source")
    state = {k: v.half() if v.is_floating_point() else v for k, v in read_state_dict(checkpoint).items()}
    tmp = out.with_suffix(out.suffix + ".tmp")
    torch.save({"model_pos": state}, tmp)
    os.replace(tmp, out)
    meta = checkpoint.with_suffix(".json")
    if meta.is_file():
        data = json.loads(meta.read_text())
        data.update(checkpoint=out.name, sha256=sha256_of(out), size_bytes=out.stat().st_size, dtype="float16")
        data["derived_from"] = {"checkpoint": checkpoint.name, "sha256": sha256_of(checkpoint)}
        out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    return out


def _save_resume(
    path: Path, step: int, model: PoseFormerV2, optimizer: torch.optim.Optimizer, options: TrainOptions
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "options": _options_key(options),
        },
        tmp,
    )
    os.replace(tmp, path)


def _options_key(options: TrainOptions) -> dict[str, Any]:
    """What must match for a run to be resumed (``steps`` may grow; ``workers``, ``device`` and the
    logging and saving intervals may change)."""
    key = asdict(options)
    for name in ("steps", "workers", "device", "save_every", "log_every", "eval_stride"):
        key.pop(name)
    return key


def train(
    options: TrainOptions,
    motion: MotionSet,
    out_dir: Path,
    held_out: MotionSet | None = None,
    baseline: Path | None = None,
    resume: bool = True,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
) -> TrainResult:
    """Train (or resume) into ``out_dir``; evaluate on ``held_out`` at the end when given (with the
    one-frame ``baseline`` checkpoint and the nearest-pose baseline)."""
    from lifting.lifter import LifterError, resolve_device

    try:
        device = resolve_device(options.device)
    except LifterError as exc:
        raise TrainingError(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"poseformerv2_{options.preset}"
    ckpt_path, meta_path, resume_path = out_dir / f"{name}.bin", out_dir / f"{name}.json", out_dir / "resume.pt"
    torch.manual_seed(options.seed)
    model = PoseFormerV2(options.config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    start = 0
    losses: list[tuple[int, float]] = []
    earlier_s = 0.0
    if resume and resume_path.is_file():
        state = torch.load(resume_path, map_location=device, weights_only=True)
        if state["options"] != _options_key(options):
            raise TrainingError(
                f"{resume_path} belongs to a run with other options ({state['options']}); "
                "use another --out folder, or --fresh to start over"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log(f"resuming {resume_path} at step {start}")
        if meta_path.is_file():  # the earlier parts' log and time carry over into the metadata
            before = json.loads(meta_path.read_text()).get("training", {})
            losses = [(int(k), float(v)) for k, v in before.get("train_loss_mm", []) if int(k) <= start]
            earlier_s = float(before.get("elapsed_s", 0.0))
    running: list[float] = []
    began = clock()
    model.train()
    for step, batch in enumerate(_batches(motion, options, start), start=start):
        lr = lr_at(step, options)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = torch.from_numpy(batch.inputs).to(device, non_blocking=True)
        y = torch.from_numpy(batch.targets).to(device, non_blocking=True)
        loss = mpjpe_loss(model(x)[:, 0], y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running.append(float(loss.detach()) * 1000.0)
        done = step + 1
        last = done == options.steps
        if done % options.log_every == 0 or last:
            losses.append((done, float(np.mean(running))))
            running = []
        if done % options.save_every == 0 or last:
            export_checkpoint(model, ckpt_path, done, lr)
            _save_resume(resume_path, done, model, optimizer, options)
            partial = build_metadata(
                options, motion, held_out, ckpt_path, done, earlier_s + clock() - began, device, losses, {}
            )
            meta_path.write_text(json.dumps(partial, indent=2) + "\n")
        if done % options.log_every == 0 or last:
            mean = losses[-1][1]
            log(f"step {done}/{options.steps}  train MPJPE {mean:.1f} mm  lr {lr:.2e}  {clock() - began:.0f} s")
    steps_done = max(start, options.steps)
    elapsed = earlier_s + clock() - began
    if not ckpt_path.is_file():
        export_checkpoint(model, ckpt_path, steps_done, lr_at(steps_done, options))
    metrics: dict[str, Any] = {}
    if held_out is not None:
        log("evaluating on the held-out actors ...")
        metrics = evaluate_run(ckpt_path, options, held_out, motion, baseline, device)
    metadata = build_metadata(options, motion, held_out, ckpt_path, steps_done, elapsed, device, losses, metrics)
    meta_path.write_text(json.dumps(metadata, indent=2) + "\n")
    return TrainResult(ckpt_path, meta_path, steps_done, losses, metrics)


def evaluate_run(
    checkpoint: Path,
    options: TrainOptions,
    held_out: MotionSet,
    train_motion: MotionSet | None,
    baseline: Path | None,
    device: str = "cpu",
) -> dict[str, Any]:
    """MPJPE / P-MPJPE in mm per lookahead for the checkpoint, the one-frame baseline checkpoint (when
    given) and the nearest pose of the HDM05 training actors (when ``train_motion`` has them)."""
    streams = held_out_streams(held_out, options.seed)
    pad = options.config.pad
    lookaheads = sorted({*(min(a, pad) for a in EVAL_LOOKAHEADS), pad})
    lifters: dict[str, tuple[Any, int]] = {
        f"poseformerv2_{options.preset}": (checkpoint_lifter(checkpoint, options.config, device), options.config.frames)
    }
    if baseline is not None:
        single = checkpoint_config(baseline) if baseline.with_suffix(".json").is_file() else PRESETS["single"]
        lifters["one-frame baseline"] = (checkpoint_lifter(baseline, single, device), single.frames)
    library = [c for c in train_motion.clips if c.source == "hdm05"] if train_motion is not None else []
    if library:  # the HDM05 training actors' poses, whatever else the network was trained on
        lifters["nearest mocap pose"] = (NearestPose(weighted(library), options.seed).lift, 1)
    out: dict[str, Any] = {
        "held_out_actors": list(HELD_OUT_ACTORS),
        "frames_per_lookahead": None,
        "note": "mm; each held-out clip filmed once by a drawn camera with detector-like noise (seed "
        f"{options.seed}); 1 in {options.eval_stride} detected frames; live windows (stream from the clip's start)",
        "lifters": {},
    }
    for label, (lift, frames) in lifters.items():
        scores = evaluate(lift, frames, streams, lookaheads, options.eval_stride)
        out["lifters"][label] = {
            str(a): {"mpjpe_mm": round(s.mpjpe_mm, 1), "p_mpjpe_mm": round(s.p_mpjpe_mm, 1)} for a, s in scores.items()
        }
        out["frames_per_lookahead"] = next(iter(scores.values())).windows
    return out


def build_metadata(
    options: TrainOptions,
    motion: MotionSet,
    held_out: MotionSet | None,
    checkpoint: Path,
    steps: int,
    elapsed_s: float,
    device: str,
    losses: list[tuple[int, float]],
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """The metadata file written beside every checkpoint."""
    repo = Path(__file__).resolve().parents[2]
    return {
        "checkpoint": checkpoint.name,
        "sha256": sha256_of(checkpoint),
        "size_bytes": checkpoint.stat().st_size,
        "format": "official PoseFormerV2 layout: torch.save dict, 'model_pos' state_dict with 'module.' keys "
        "(lifting/poseformerv2.py load_poseformerv2 loads it strictly)",
        "config": asdict(options.config),
        "lifter": {
            "input": "(T, 17, 2) normalize_screen coordinates (lifting/window.py), H36M-17, gaps filled with the "
            "last detection, frames after t + lookahead edge-padded as LiftStream pads them",
            "output": "(17, 3) metres, camera axes (x right, y down, z away), pelvis (hip midpoint) at the origin",
            "lookahead_trained": f"uniform 0..{min(options.live_lookahead_max, options.config.pad)}, "
            f"and {options.config.pad} (batch) with p={options.p_full_lookahead}",
        },
        "training": {
            **{k: v for k, v in asdict(options).items()},
            "steps_done": steps,
            "elapsed_s": round(elapsed_s, 1),
            "device": device,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "train_loss_mm": losses,
        },
        "data": {
            "train": motion.summary(),
            "held_out": held_out.summary() if held_out is not None else None,
            "held_out_actors": list(HELD_OUT_ACTORS),
        },
        "sources": SOURCES,
        "licence": "CC BY-SA 3.0: the weights are trained on HDM05 motion capture (see sources); share alike and "
        "keep the attribution",
        "metrics": metrics,
        "git_commit": git_commit(repo),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_config_file(path: Path) -> PoseFormerV2Config:
    """A network shape from a JSON file of ``PoseFormerV2Config`` fields (missing ones take the official
    values); raises TrainingError naming what is wrong."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainingError(f"{path}: no such config file") from None
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path}: not a JSON config ({exc})") from None
    names = set(PoseFormerV2Config.__dataclass_fields__)
    if not isinstance(data, dict) or set(data) - names:
        unknown = sorted(set(data) - names) if isinstance(data, dict) else type(data).__name__
        raise TrainingError(f"{path}: expected an object with fields from {sorted(names)}; unknown: {unknown}")
    try:
        return PoseFormerV2Config(**data)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"{path}: bad config: {exc}") from None


def record_metrics(checkpoint: Path, metrics: dict[str, Any]) -> Path | None:
    """Put ``metrics`` (with the commit that measured them) into the metadata file beside ``checkpoint``;
    returns its path, or None when the checkpoint has none (e.g. the official file)."""
    meta = checkpoint.with_suffix(".json")
    if not meta.is_file():
        return None
    data = json.loads(meta.read_text())
    data["metrics"] = {**metrics, "measured_at_commit": git_commit(Path(__file__).resolve().parents[2])}
    meta.write_text(json.dumps(data, indent=2) + "\n")
    return meta
