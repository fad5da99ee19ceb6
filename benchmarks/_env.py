"""Machine and commit stamps for benchmark results (shared by the scripts in this folder)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """Cores, CPU model and GPU (if any) of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} cores ({cpu}){gpu}"


def commit() -> str:
    """Short hash of HEAD, with +dirty when tracked code differs from it."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        # Code changes make a result "+dirty"; the results file itself does not.
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/RESULTS.md",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def report(result: dict[str, Any], row: str | None) -> None:
    """Print a result as JSON; with ``row`` (the "what | result" cells), also append it to RESULTS.md."""
    print(json.dumps(result, indent=2))
    if row is not None:
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as fh:
            fh.write(f"| {result['date']} | {result['commit']} | {result['machine']} | {row} |\n")
