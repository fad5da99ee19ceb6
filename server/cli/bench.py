"""``coach bench [...]``: the latency benchmark (``benchmarks/latency.py``), for users who do not read code.

N simulated live sessions at F fps through the real inference loop (or ``--webrtc``: aiortc clients
against ``coach serve``); prints per-stage and end-to-end p50/p95/p99, frames processed and dropped
per second, GPU memory. Every option of the script is accepted (``coach bench --help``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from server.cli.common import EXIT_BAD_INPUT
from server.settings import PROJECT_ROOT


def add_parser(sub: Any) -> None:
    bench = sub.add_parser(
        "bench",
        help="measure live latency and throughput: N sessions at F fps through the real loop (see --help)",
        add_help=False,
    )
    bench.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's own options (--help lists them)")
    bench.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    script = PROJECT_ROOT / "benchmarks" / "latency.py"
    if not script.is_file():
        print(f"coach: error: the benchmark scripts are not here ({script}): run it from a source checkout",
              file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    # the repository's benchmarks/ folder is not an installed package: run it as a module from the checkout
    return subprocess.call([sys.executable, "-m", "benchmarks.latency", *args.options], cwd=PROJECT_ROOT)
