"""Many videos on Ray (``coach analyze-many``): the inputs, resuming, the Ray Data run, the outcomes.

A batch is a folder of videos or a list file; each video gets the report ``coach analyze --json``
writes, in an output folder, named after the video. The per-video work is
``server.jobs.runner.VideoAnalyzer.analyze`` (the local core, the upload jobs' code) inside the actors
of a Ray Data ``map_batches`` (``BatchWorker``: one video per batch, the models built once per actor,
GPU actors when the cluster has GPUs). Results stream back to the caller as each video finishes, so
an interrupted batch keeps what it finished, and a re-run skips every video whose report is there and
matches (``finished_report``). A video that fails (not a video, nobody in it, a worker that crashed
on it) is an outcome with its reason; it never stops the others.

On a cluster of several machines the videos are read by the actors: the folder must be mounted at the
same path on every node (the output folder and the store are written by the caller only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scoring.reference import Reference
from server.jobs.cluster import RayOptions, connect, plan_actors
from server.jobs.runner import JobError, VideoAnalyzer
from server.jobs.store import JobErrorCode, Store

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
"""The files of a folder that are analysed (a list file names its videos whatever their names)."""

DETAIL_KEYS = ("curves", "keypoints", "skeleton", "poses_3d", "reference_poses_3d", "reference_frame")
"""What an upload's report has beyond ``coach analyze``'s (``build_report(detail=True)``): the store
keeps it (the results page draws it); the report files leave it out."""


class BatchInputError(Exception):
    """The folder or list cannot be analysed as given; the message says what to fix."""


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch."""

    video: str
    """The video's path as given (the report's ``video``)."""
    path: Path
    """The same, absolute."""
    exercise: str
    """The exercise it is analysed as."""
    name: str
    """The report's file name without ``.json``: the video's stem, made unique within the batch."""


@dataclass(frozen=True)
class Outcome:
    """What became of one video."""

    item: BatchItem
    status: str
    """``done``, ``failed`` or ``skipped`` (its report was already there: resumed)."""
    seconds: float
    """Time its analysis took on its actor (0 when skipped)."""
    reps: int | None = None
    """Reps counted (holds for a hold exercise); None when failed."""
    mean_score: float | None = None
    """Mean score of the reps; None when failed or none scored."""
    reason: str | None = None
    """Why it failed, in words."""
    code: JobErrorCode | None = None
    """Why it failed, for programs."""
    job_id: str | None = None
    """Its job in the store (done or failed in this run)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "video": self.item.video,
            "exercise": self.item.exercise,
            "report": f"{self.item.name}.json" if self.status != "failed" else None,
            "status": self.status,
            "reps": self.reps,
            "mean_score": self.mean_score,
            "seconds": round(self.seconds, 2),
            "reason": self.reason,
            "code": self.code.value if self.code is not None else None,
            "job_id": self.job_id,
        }


def read_inputs(source: Path, exercise: str | None) -> list[BatchItem]:
    """The videos of ``source``: a folder (its files ending in ``VIDEO_SUFFIXES``, not its subfolders)
    or a list file (one video per line, optionally followed by a TAB and its exercise; relative paths
    from the list's folder; blank lines and lines starting with ``#`` ignored). Every video must be a
    readable file; ``BatchInputError`` names each one that is not."""
    if source.is_dir():
        if exercise is None:
            raise BatchInputError("name the exercise of the folder's videos with --exercise")
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and not p.is_dir())
        if not paths:
            raise BatchInputError(f"{source} holds no videos ({', '.join(VIDEO_SUFFIXES)} files)")
        entries = [(str(p), p, exercise) for p in paths]
    elif source.is_file():
        entries = list(_list_entries(source, exercise))
        if not entries:
            raise BatchInputError(f"the list {source} names no videos (one path a line)")
    else:
        raise BatchInputError(f"{source} is neither a folder of videos nor a list file")
    problems = [message for _, path, _ in entries if (message := _unreadable(path))]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise BatchInputError(f"{len(problems)} of the {len(entries)} videos cannot be read: {shown}")
    return _named(entries)


def _list_entries(source: Path, exercise: str | None) -> Iterator[tuple[str, Path, str]]:
    try:
        lines = source.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"cannot read the list {source}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        given, _, named = line.partition("\t")
        given, named = given.strip(), named.strip()
        if not named and exercise is None:
            raise BatchInputError(
                f"{source} line {number}: no exercise for {given}: add a TAB and its name, or pass --exercise"
            )
        path = Path(given).expanduser()
        yield given, (path if path.is_absolute() else source.parent / path).resolve(), named or str(exercise)


def _unreadable(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except IsADirectoryError:
        return f"{path} is a folder"
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    return None


def _named(entries: Sequence[tuple[str, Path, str]]) -> list[BatchItem]:
    """Items named after their videos' stems; a stem two videos share gets a short hash of the path."""
    stems: dict[str, int] = {}
    for _, path, _ in entries:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    items = []
    for given, path, exercise in entries:
        name = path.stem
        if stems[name] > 1:
            name = f"{name}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        items.append(BatchItem(given, path.resolve(), exercise, name))
    return items


def finished_report(item: BatchItem, out_dir: Path, persona: str, backend: str, lifter: str) -> dict[str, Any] | None:
    """The report a previous run wrote for ``item``, when it is there, newer than the video and made
    with the same options (video, exercise, persona, 2D backend, lifter); else None (analyse again)."""
    path = out_dir / f"{item.name}.json"
    try:
        if path.stat().st_mtime < item.path.stat().st_mtime:
            return None
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    wanted = {"video": item.video, "exercise": item.exercise, "persona": persona, "backend": backend, "lifter": lifter}
    if not isinstance(report, dict) or any(report.get(key) != value for key, value in wanted.items()):
        return None
    return report


def file_report(report: dict[str, Any], video: str) -> dict[str, Any]:
    """The report as ``coach analyze --json`` writes it: without the results page's detail, with ``video``."""
    out = {key: value for key, value in report.items() if key not in DETAIL_KEYS}
    out["video"] = video
    return out


def counted(report: dict[str, Any]) -> tuple[int | None, float | None]:
    """Reps (holds for a hold exercise) and mean score of a report."""
    summary = report.get("summary", {})
    count = summary.get("holds") if report.get("kind") == "hold" else summary.get("reps")
    return count, summary.get("mean_score")


class BatchWorker:
    """The Ray Data callable class (one per actor): builds its ``VideoAnalyzer`` once, then analyses
    each batch's videos (one per batch) and never raises for a video: a failure is a row with its reason."""

    def __init__(
        self, build: Callable[[], VideoAnalyzer], references: dict[str, tuple[Reference, list[Reference]]], persona: str
    ) -> None:
        self.analyzer = build()
        self.references = references
        self.persona = persona

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: dict[str, list[Any]] = {"index": [], "status": [], "report": [], "reason": [], "code": [], "seconds": []}
        for index, path, exercise in zip(batch["index"], batch["path"], batch["exercise"], strict=True):
            reference, alternatives = self.references[str(exercise)]
            started = time.perf_counter()
            report, reason, code = "", "", ""
            try:
                result = self.analyzer.analyze(
                    Path(str(path)), reference, alternatives, self.persona, lambda share: None, detail=True
                )
                report = json.dumps(result, separators=(",", ":"))
            except JobError as exc:
                reason, code = str(exc), exc.code.value
            except Exception as exc:  # a bug must not stop the batch: this video fails with the reason
                reason, code = f"the analysis failed: {exc}", JobErrorCode.INTERNAL.value
            rows["index"].append(int(index))
            rows["status"].append("failed" if code else "done")
            rows["report"].append(report)
            rows["reason"].append(reason)
            rows["code"].append(code)
            rows["seconds"].append(time.perf_counter() - started)
        return {
            key: np.array(values, dtype=object if key in ("report", "reason") else None) for key, values in rows.items()
        }


@dataclass(frozen=True)
class Analysed:
    """One video's result as it comes back from the cluster."""

    item: BatchItem
    report: dict[str, Any] | None
    """The report with detail (``build_report``), None when it failed."""
    seconds: float
    reason: str | None = None
    code: JobErrorCode | None = None


def run_on_ray(
    items: Sequence[BatchItem],
    options: RayOptions,
    build: Callable[[], VideoAnalyzer],
    references: dict[str, tuple[Reference, list[Reference]]],
    persona: str,
    started: Callable[[int], None] = lambda actors: None,
) -> Iterator[Analysed]:
    """Analyse ``items`` on the Ray cluster of ``options`` (joined or started here, left at the end),
    yielding each result as it finishes (in no particular order). ``started(actors)`` is called once
    the cluster is joined. A video whose worker crashed comes back failed with the reason."""
    import ray
    import ray.data

    with connect(options) as resources:
        plan = plan_actors(options, resources)
        count = min(plan.count, len(items))
        started(count)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the caller shows one bar over the videos
        context.print_on_execution_start = False
        context.max_errored_blocks = len(items)  # one video per block: a crashed one is skipped, not fatal
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # such a video is reported by the caller
        rows = [{"index": i, "path": str(item.path), "exercise": item.exercise} for i, item in enumerate(items)]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            BatchWorker,
            fn_constructor_args=(build, references, persona),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=count, max_tasks_in_flight_per_actor=1),
            num_cpus=plan.cpus,
            num_gpus=plan.gpus or None,
        )
        seen = set()
        # no prefetching: each video's result is handed on as soon as it is there (iter_rows holds one back)
        for batch in dataset.iter_batches(batch_size=None, prefetch_batches=0, batch_format="numpy"):
            for index, status, report, reason, code, seconds in zip(
                batch["index"], batch["status"], batch["report"], batch["reason"], batch["code"], batch["seconds"],
                strict=True,
            ):  # fmt: skip
                seen.add(int(index))
                item = items[int(index)]
                if status == "done":
                    yield Analysed(item, json.loads(report), float(seconds))
                else:
                    yield Analysed(item, None, float(seconds), str(reason), JobErrorCode(code))
        for index, item in enumerate(items):
            if index not in seen:
                yield Analysed(
                    item, None, 0.0, "the Ray worker analysing it crashed (see the Ray logs)", JobErrorCode.INTERNAL
                )


def record_job(store: Store, result: Analysed, persona: str, owner: str, uploads_dir: Path) -> str:
    """Keep ``result`` in the store as a finished job of ``owner`` (so it shows in their history like an
    upload), with no stored video (the batch's videos stay where they are, never under the retention
    policy); returns the job's id."""
    job_id = secrets.token_hex(8)
    store.add_job(job_id, result.item.exercise, persona, result.item.path.name, uploads_dir / f"{job_id}.video", owner)
    store.upload_removed(job_id)
    store.job_started(job_id)
    if result.report is not None:
        store.job_done(job_id, result.report)
    else:
        store.job_failed(job_id, result.reason or "failed", result.code or JobErrorCode.INTERNAL)
    return job_id
