"""Videos per hour through the batch analysis: the local job pool against a local Ray of 1 and 2 actors.

    .venv/bin/python -m benchmarks.batch_throughput [--clips A.mp4,B.mp4] [--repeat 2] [--workers 1,2]
        [--append]

The same videos (the shared push-up clips, each ``--repeat`` times) go through:

- ``local``: ``VideoAnalyzer.analyze`` one after the other in this process, which is what the upload
  job pool does with its default single worker (models loaded once beforehand, as the server does);
- ``ray-N``: ``server.jobs.batch.run_on_ray`` (what ``coach analyze-many`` runs) on a local Ray of
  ``N`` CPUs with ``N`` actors.

Two rates per run: end to end (a Ray run includes starting the local Ray and its actors loading the
models: what one ``coach analyze-many`` costs) and steady (workers x 3600 / the mean time one video
took on its worker: what a long batch converges to once the workers are up). The machine's load average is sampled
before and after each run (other work shares these cores). ``--append`` adds a row per run to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._env import commit, machine, report
from server.jobs.batch import BatchItem, run_on_ray
from server.jobs.cluster import RayOptions
from server.services import References, worker_analyzer
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
DEFAULT_CLIPS = "pushup_front_phone.mp4,pushup_side_nasm.mp4"


def load() -> str:
    """The 1-minute load average (and 5-minute) now."""
    one, five = Path("/proc/loadavg").read_text().split()[:2]
    return f"{one}/{five}"


def items_of(clips: list[str], repeat: int) -> list[BatchItem]:
    return [
        BatchItem(str(MEDIA / clip), MEDIA / clip, "pushup", f"{Path(clip).stem}-{i}")
        for i in range(repeat)
        for clip in clips
    ]


def rates(count: int, total_s: float, workers: int, per_video_s: list[float]) -> dict[str, float]:
    """Videos per hour end to end, and steady (``workers`` each taking the mean time per video)."""
    mean = sum(per_video_s) / len(per_video_s)
    return {
        "videos_per_hour": round(count / total_s * 3600, 1),
        "steady_videos_per_hour": round(workers * 3600 / mean, 1),
        "mean_video_s": round(mean, 1),
    }


def run_local(items: list[BatchItem], settings: Settings, references: References) -> dict[str, Any]:
    before = load()
    started = time.perf_counter()
    analyzer = worker_analyzer(settings, None)
    ready = time.perf_counter()
    seconds = []
    for item in items:
        begun = time.perf_counter()
        analyzer.analyze(item.path, references("pushup"), references.others("pushup"), "plain", lambda s: None)
        seconds.append(time.perf_counter() - begun)
    total = time.perf_counter() - started
    timing = {
        "startup_s": round(ready - started, 1),
        "total_s": round(total, 1),
        **rates(len(items), total, 1, seconds),
    }
    return {"mode": "local pool (1 worker)", "load_before": before, "load_after": load(), **timing}


def run_ray(items: list[BatchItem], settings: Settings, references: References, workers: int) -> dict[str, Any]:
    before = load()
    started = time.perf_counter()
    up = [started]
    seconds, failed = [], []
    shipped = {"pushup": (references("pushup"), references.others("pushup"))}
    options = RayOptions(cpus=workers, actors=workers)
    for result in run_on_ray(
        items,
        options,
        partial(worker_analyzer, settings, None),
        shipped,
        "plain",
        lambda n: up.append(time.perf_counter()),
    ):
        seconds.append(result.seconds)
        if result.report is None:
            failed.append(f"{result.item.name}: {result.reason}")
    if failed:
        raise RuntimeError(f"videos failed: {failed}")
    total = time.perf_counter() - started
    timing = {
        "startup_s": round(up[-1] - started, 1),
        "total_s": round(total, 1),
        **rates(len(items), total, workers, seconds),
    }
    mode = f"local Ray, {workers} actor(s) on {workers} CPU(s)"
    return {"mode": mode, "load_before": before, "load_after": load(), **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=DEFAULT_CLIPS, help="comma-separated clips of ../shared/media")
    parser.add_argument("--repeat", type=int, default=2, help="times each clip is in the batch")
    parser.add_argument("--workers", default="1,2", help="Ray actor counts to run (comma-separated)")
    parser.add_argument("--no-local", action="store_true", help="skip the local pool run")
    parser.add_argument("--append", action="store_true", help="add rows to benchmarks/RESULTS.md")
    args = parser.parse_args()
    clips = [c.strip() for c in args.clips.split(",") if c.strip()]
    items = items_of(clips, args.repeat)
    settings = Settings.model_validate({})
    references = References(settings.references_dir, settings.custom_dir)
    runs = [] if args.no_local else [run_local(items, settings, references)]
    runs += [run_ray(items, settings, references, int(n)) for n in args.workers.split(",")]
    what = f"{len(items)} videos ({' + '.join(clips)}, x{args.repeat}), {settings.backend} + lifter {settings.lifter}, max_people {settings.max_people}"  # noqa: E501
    for run in runs:
        result = {"date": dt.date.today().isoformat(), "commit": commit(), "machine": machine(), "videos": what, **run}
        row = (
            f"batch throughput, {run['mode']}: {what}; load average before/after {run['load_before']} -> "
            f"{run['load_after']} | **{run['videos_per_hour']} videos/h end to end** ({run['total_s']} s, of which "
            f"{run['startup_s']} s starting up); steady {run['steady_videos_per_hour']} videos/h "
            f"({run['mean_video_s']} s a video on its worker)"
        )
        report(result, row if args.append else None)


if __name__ == "__main__":
    main()
