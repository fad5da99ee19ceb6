"""``coach checkpoints [--verify] [--json]``: which weight files are present or missing, where they go,
and which lifter the coach would run and why.

Shipping our own lifter checkpoint (issue 17, ``lifting.checkpoints``):

- ``coach checkpoints --ship RUN.bin``: store a ``coach train-lifter`` checkpoint in float16 under
  ``checkpoints/ours/`` with its metadata JSON beside it, and write its manifest entry (size, SHA-256,
  config, licence, metrics; no verdict yet, so ``lifter = auto`` keeps MediaPipe's world landmarks).
- ``coach checkpoints --verdict better|worse --summary TEXT``: record the accuracy benchmark's verdict
  (``benchmarks/accuracy.py`` with and without ``--lifter-checkpoint``) with this commit and today's date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

from server.cli.common import EXIT_OK, LIFTERS, UsageError, settings_from

SHIP_DIR = "ours"
"""Sub-folder of the checkpoints folder for our own checkpoints (committed; ``.gitignore`` only keeps
top-level weight files out)."""

LICENCE = (
    "CC BY-SA 3.0 (the training motion includes the HDM05 motion capture database, M. Müller, T. Röder, "
    "M. Clausen, B. Eberhardt, B. Krüger, A. Weber, Universität Bonn, 2007, CC BY-SA 3.0; weights trained on it "
    "are shared under the same licence with this attribution). Also trained on the project's own references "
    "and authored exercises; sources in the metrics file."
)


def add_parser(sub: Any) -> None:
    ckpt = sub.add_parser("checkpoints", help="list the weight files: present, missing, where they go")
    ckpt.add_argument("--verify", action="store_true", help="also compare SHA-256 digests where known")
    ckpt.add_argument("--json", action="store_true", help="print a JSON object: files and the lifter choice")
    ckpt.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    ckpt.add_argument("--lifter", choices=LIFTERS, help="the lifter setting to explain (default: auto)")
    ckpt.add_argument(
        "--ship",
        type=Path,
        metavar="RUN.bin",
        help="store this `coach train-lifter` checkpoint (float16) under ours/ and declare it in the manifest",
    )
    ckpt.add_argument("--verdict", choices=["better", "worse"], help="record the accuracy benchmark's verdict")
    ckpt.add_argument("--summary", help="the deciding numbers for --verdict, e.g. 'counts exact 95%% vs 93%%'")
    ckpt.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lifting.checkpoints import checkpoint_status

    settings = settings_from(args)
    if args.ship is not None:
        ship(settings.checkpoints_dir, args.ship)
    if args.verdict is not None:
        record_verdict(settings.checkpoints_dir, args.verdict == "better", args.summary)
    elif args.summary is not None:
        raise UsageError("--summary goes with --verdict better|worse")
    statuses = checkpoint_status(settings.checkpoints_dir, verify=args.verify)
    reason = lifter_reason(settings.checkpoints_dir, settings.lifter)
    if args.json:
        files = [
            {
                "name": s.entry.name,
                "present": s.present,
                "path": str(s.path),
                "size_bytes": s.size_bytes,
                "problem": s.problem,
                "used_by": s.entry.used_by,
                "obtain": s.entry.obtain,
                "shipped": s.entry.shipped,
            }
            for s in statuses
        ]
        print(json.dumps({"files": files, "lifter_setting": settings.lifter, "lifter_reason": reason}))
        return EXIT_OK
    print(f"Checkpoints folder: {settings.checkpoints_dir}\n")
    for s in statuses:
        mark = "present" if s.present and not s.problem else ("PROBLEM" if s.present else "missing")
        print(f"[{mark}] {s.entry.name} - {s.entry.model}")
        print(f"    for:    {s.entry.purpose} ({s.entry.used_by})")
        if s.present:
            print(f"    file:   {s.path} ({s.size_bytes:,} bytes)")
        if s.problem:
            print(f"    problem: {s.problem}")
        if not s.present:
            print(f"    get it: {s.entry.obtain}")
            print(f"    size:   {s.entry.size_note}")
            print(f"    put it: {s.path}")
        print()
    if any(not s.present for s in statuses):
        print(
            "The embedded default needs none of these: MediaPipe BlazePose (2D) and its world landmarks (3D)\n"
            "ship inside the mediapipe wheel. With 27_243_45.2.bin present, the lifter becomes PoseFormerV2.\n"
        )
    print(f"Lifter (setting {settings.lifter}): {reason}")
    return EXIT_OK


def lifter_reason(checkpoints_dir: Path, setting: str) -> str:
    """The lifter ``choose_lifter`` picks and why, or why none can be chosen (checks SHA-256 as a load does)."""
    from lifting.checkpoints import choose_lifter
    from lifting.poseformerv2 import CheckpointError

    try:
        return choose_lifter(checkpoints_dir, setting).reason
    except CheckpointError as exc:
        return f"cannot be chosen: {exc}"


def _manifest(checkpoints_dir: Path) -> tuple[Path, dict[str, Any]]:
    from lifting.checkpoints import MANIFEST_NAME, read_manifest

    read_manifest(checkpoints_dir)  # a clear CheckpointError for a missing or malformed file
    path = checkpoints_dir / MANIFEST_NAME
    return path, json.loads(path.read_text())


def ship(checkpoints_dir: Path, run_bin: Path) -> None:
    """Store ``run_bin`` in float16 under ``ours/`` with its metadata and (re)write its manifest entry."""
    from lifting.checkpoints import sha256_of, write_shipped
    from lifting.poseformerv2 import PoseFormerV2Config, load_poseformerv2

    meta_path = run_bin.with_suffix(".json")
    if not run_bin.is_file():
        raise UsageError(f"{run_bin}: no such checkpoint (coach train-lifter writes RUN.bin and RUN.json)")
    if not meta_path.is_file():
        raise UsageError(f"{meta_path}: the metadata JSON `coach train-lifter` writes beside {run_bin.name} is missing")
    meta = json.loads(meta_path.read_text())
    config = PoseFormerV2Config(**meta["config"])
    name = f"{SHIP_DIR}/{run_bin.name}"
    target = checkpoints_dir / name
    write_shipped(run_bin, target, config)
    load_poseformerv2(target, config)  # the shipped file loads strictly through the official-format loader
    metrics = f"{SHIP_DIR}/{meta_path.name}"
    meta["shipped_copy"] = {
        "file": name,
        "dtype": "float16",
        "note": "the training run's own checkpoint, sha256 and size_bytes above are of its float32 file; "
        "the manifest entry gives the shipped float16 file's",
    }
    (checkpoints_dir / metrics).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    preset = meta.get("training", {}).get("preset", "?")
    steps = meta.get("training", {}).get("steps_done", "?")
    entry = {
        "name": name,
        "model": f"PoseFormerV2, our own training (preset {preset}, {steps} steps; T={config.frames}, "
        f"{config.kept_frames} kept frames, {config.kept_coeffs} DCT coefficients, width {config.embed_dim_ratio}, "
        f"depth {config.depth})",
        "purpose": "2D -> 3D lifter trained for live windows (issue 17); used by lifter auto only while its "
        "verdict says it measured better than MediaPipe's world landmarks on the accuracy benchmark",
        "used_by": "lifter ours (and auto, by its verdict)",
        "obtain": "shipped in the repository (coach train-lifter, then coach checkpoints --ship)",
        "size_bytes": target.stat().st_size,
        "size_note": f"{target.stat().st_size / 1e6:.1f} MB, float16 (runs in float32)",
        "sha256": sha256_of(target),
        "config": meta["config"],
        "shipped": True,
        "dtype": "float16",
        "licence": LICENCE,
        "metrics": metrics,
        "verdict": None,
    }
    path, manifest = _manifest(checkpoints_dir)
    files = [f for f in manifest["files"] if not f.get("shipped")]
    manifest["files"] = [*files, entry]
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"coach: stored {target} ({entry['size_bytes']:,} bytes, sha256 {entry['sha256']}) and its manifest entry")


def record_verdict(checkpoints_dir: Path, better: bool, summary: str | None) -> None:
    """Write the accuracy verdict with the project's commit (the code the benchmark ran) and today's
    date into the shipped entry."""
    from server.settings import PROJECT_ROOT

    if not summary:
        raise UsageError("--verdict needs --summary with the deciding numbers (e.g. 'counts exact 95% vs 93%')")
    path, manifest = _manifest(checkpoints_dir)
    shipped = [f for f in manifest["files"] if f.get("shipped")]
    if not shipped:
        raise UsageError(f"{path}: no shipped checkpoint to give a verdict to (run coach checkpoints --ship first)")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    shipped[0]["verdict"] = {
        "better": better,
        "summary": summary,
        "commit": commit,
        "date": datetime.date.today().isoformat(),
    }
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"coach: verdict '{'better' if better else 'worse'}' recorded for {shipped[0]['name']}")
