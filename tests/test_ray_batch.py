"""Batch on Ray: `coach analyze-many` and the server's jobs_backend=ray against the local path, on a
local Ray (2 CPUs, started once for the module by the same ``connect`` the command uses; the command
and the server join it). Failures listed with their reasons, resuming, bad input refused before Ray."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.cli import main
from server.jobs.batch import BatchItem, file_report, finished_report
from server.jobs.cluster import ActorPlan, ClusterError, RayOptions, check_reachable, connect, plan_actors
from server.jobs.store import LOCAL_USER, Store
from server.services import References, worker_analyzer
from server.settings import Settings
from tests.test_jobs import client_for, upload, wait_job

CLIP = "pushup_front_phone.mp4"
"""The quickest shared clip (300 frames at 360x640), 2 labelled push-ups."""


@pytest.fixture(scope="module", autouse=True)
def one_person() -> Iterator[None]:
    """Settings of this module (the command's, the server's, the local path's): one person looked for,
    which halves the 2D work on these 2 cores; the comparison holds for any settings."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COACH_MAX_PEOPLE", "1")
        yield


@pytest.fixture(scope="module")
def local_ray() -> Iterator[dict[str, float]]:
    with connect(RayOptions(cpus=2)) as resources:
        yield resources


@pytest.fixture(scope="module")
def local_report(media: Path, references_dir: Path) -> dict[str, Any]:
    """The clip's report (with detail) from the local core, in this process: what the job pool runs;
    as JSON has it (tuples become lists), as every reader of a report gets it."""
    settings = Settings.model_validate({})
    references = References(references_dir, settings.custom_dir)
    analyzer = worker_analyzer(settings, None)
    report = analyzer.analyze(
        media / CLIP, references("pushup"), references.others("pushup"), "plain", lambda share: None
    )
    return dict(json.loads(json.dumps(report)))


@pytest.fixture(scope="module")
def batch(local_ray: dict[str, float], media: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `coach analyze-many` run over a folder: the clip and a text file named like a video."""
    base = tmp_path_factory.mktemp("batch")
    videos = base / "videos"
    videos.mkdir()
    shutil.copy(media / CLIP, videos / CLIP)
    (videos / "notes.mp4").write_text("these are my notes, not a video\n" * 50)
    (videos / "readme.txt").write_text("not a video name: left out\n")
    out, data = base / "reports", base / "data"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["analyze-many", str(videos), "-o", str(out), "--exercise", "pushup", "--data-dir", str(data)])
    return {"code": code, "videos": videos, "out": out, "data": data, "printed": printed.getvalue()}


@pytest.mark.slow
def test_ray_batch_gives_the_local_reports_and_lists_failures(
    batch: dict[str, Any], local_report: dict[str, Any], labels: dict
) -> None:
    assert batch["code"] == 1  # one video failed
    out: Path = batch["out"]
    written = json.loads((out / "pushup_front_phone.json").read_text())
    # exactly the report `coach analyze --json` gives from the local core: reps, scores, faults, tips
    assert written == file_report(local_report, str(batch["videos"] / CLIP))
    assert len(written["reps"]) == labels[CLIP]["reps"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 1, "skipped": 0, "failed": 1}
    rows = {Path(row["video"]).name: row for row in summary["videos"]}
    assert set(rows) == {CLIP, "notes.mp4"}  # readme.txt is not a video file name
    assert rows[CLIP]["status"] == "done" and rows[CLIP]["reps"] == 2
    assert rows[CLIP]["mean_score"] == local_report["summary"]["mean_score"]
    assert rows["notes.mp4"]["status"] == "failed" and rows["notes.mp4"]["code"] == "not_video"
    assert "not a video file" in rows["notes.mp4"]["reason"]
    assert not (out / "notes.json").exists()
    printed = batch["printed"]
    assert "1 analysed, 1 failed" in printed and "notes.mp4: the video: not a video file" in printed
    assert "pushup_front_phone     2        " in printed  # the table: video, reps, mean score...
    # both are jobs of the local user in the store, the done one with the full report (the results page's)
    store = Store(batch["data"] / "coach.sqlite3")
    try:
        done = store.get_job(rows[CLIP]["job_id"], LOCAL_USER)
        failed = store.get_job(rows["notes.mp4"]["job_id"], LOCAL_USER)
        assert done is not None and done.result == local_report and done.upload_path is None
        assert failed is not None and failed.error_code is not None and failed.error_code.value == "not_video"
        assert {item["title"] for item in store.history(LOCAL_USER).items} == {CLIP, "notes.mp4"}
    finally:
        store.close()


@pytest.mark.slow
def test_ray_batch_gives_the_local_reports_for_the_other_shared_clips(
    local_ray: dict[str, float], media: Path, references_dir: Path, labels: dict, tmp_path: Path
) -> None:
    """The two other shared clips, one of another exercise, named with their exercises in a list: each
    report Ray writes is exactly the local core's, and counts the labelled reps."""
    clips = {"pushup_side_nasm.mp4": "pushup", "squat_side.mp4": "squat"}
    listing = tmp_path / "clips.txt"
    listing.write_text("".join(f"{media / name}\t{exercise}\n" for name, exercise in clips.items()))
    out = tmp_path / "reports"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["analyze-many", str(listing), "-o", str(out), "--data-dir", str(tmp_path / "data")])
    assert code == 0
    settings = Settings.model_validate({})
    references = References(references_dir, settings.custom_dir)
    analyzer = worker_analyzer(settings, None)
    for name, exercise in clips.items():
        local = analyzer.analyze(
            media / name, references(exercise), references.others(exercise), "plain", lambda share: None
        )
        written = json.loads((out / f"{Path(name).stem}.json").read_text())
        assert written == file_report(json.loads(json.dumps(local)), str(media / name)), name
        assert len(written["reps"]) == labels[name]["reps"], name


@pytest.mark.slow
def test_a_rerun_skips_the_finished_videos(batch: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out: Path = batch["out"]
    report = out / "pushup_front_phone.json"
    before = report.stat().st_mtime_ns
    listing = batch["videos"].parent / "again.txt"
    listing.write_text(f"# the finished video only\n{batch['videos'] / CLIP}\tpushup\n")
    capsys.readouterr()
    started = time.monotonic()
    code = main(["analyze-many", str(listing), "-o", str(out), "--data-dir", str(batch["data"])])
    assert code == 0 and time.monotonic() - started < 30  # nothing analysed: no Ray actor started
    assert "0 analysed, 1 skipped" in capsys.readouterr().out
    assert report.stat().st_mtime_ns == before
    rows = json.loads((out / "summary.json").read_text())["videos"]
    assert [(r["status"], r["reps"]) for r in rows] == [("skipped", 2)]
    store = Store(batch["data"] / "coach.sqlite3")
    try:
        assert len(store.history(LOCAL_USER).items) == 2  # no new job
    finally:
        store.close()


def test_a_report_is_reused_only_with_the_same_options(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    item = BatchItem(str(video), video, "pushup", "a")
    report = {"video": str(video), "exercise": "pushup", "persona": "plain", "backend": "mediapipe", "lifter": "w"}
    (tmp_path / "a.json").write_text(json.dumps(report))
    assert finished_report(item, tmp_path, "plain", "mediapipe", "w") == report
    assert finished_report(item, tmp_path, "hype_beast", "mediapipe", "w") is None
    assert finished_report(item, tmp_path, "plain", "yolo-hrnet", "w") is None
    assert finished_report(BatchItem(str(video), video, "squat", "a"), tmp_path, "plain", "mediapipe", "w") is None
    os.utime(video, (time.time() + 60, time.time() + 60))  # the video changed after its report
    assert finished_report(item, tmp_path, "plain", "mediapipe", "w") is None
    (tmp_path / "a.json").write_text('{"video": ')  # a half-written report
    assert finished_report(item, tmp_path, "plain", "mediapipe", "w") is None


def test_bad_input_is_refused_before_ray_starts(
    media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    listing = tmp_path / "list.txt"
    out = ["-o", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")]

    def refused(*args: str) -> str:
        capsys.readouterr()
        assert main(["analyze-many", *args, *out]) == 2
        return capsys.readouterr().err

    assert "holds no videos" in refused(str(empty), "--exercise", "pushup")
    assert "unknown exercise" in refused(str(media), "--exercise", "burpee").lower()
    listing.write_text(f"{media / CLIP}\n{tmp_path / 'missing.mp4'}\n{empty}\n")
    message = refused(str(listing), "--exercise", "pushup")
    assert "2 of the 3 videos cannot be read" in message and "missing.mp4" in message and "is a folder" in message
    listing.write_text(f"{media / CLIP}\n")
    assert "line 1: no exercise" in refused(str(listing))
    assert "unknown persona" in refused(str(listing), "--exercise", "pushup", "--persona", "yoda")
    assert "no user 'nobody'" in refused(str(listing), "--exercise", "pushup", "--owner", "nobody")
    message = refused(str(listing), "--exercise", "pushup", "--ray-address", "127.0.0.1:9")
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in message
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.slow
def test_the_server_on_ray_analyses_an_upload_as_the_local_pool_does(
    local_ray: dict[str, float], media: Path, tmp_path: Path, local_report: dict[str, Any]
) -> None:
    with client_for(tmp_path, jobs_backend="ray", ray_actors=1) as client:
        response = upload(client, media / CLIP)
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["job_id"])
    assert job["status"] == "done", job
    assert job["result"] == local_report
    assert any(0 < p < 1 for p in job["_progress_seen"])  # progress came back from the actor while it ran


def test_actors_are_planned_from_the_cluster_resources() -> None:
    gpu_cluster = {"CPU": 64.0, "GPU": 8.0}
    assert plan_actors(RayOptions(), gpu_cluster) == ActorPlan(8, 1.0, 1.0)  # one GPU actor per GPU
    assert plan_actors(RayOptions(gpus_per_actor=0.5), gpu_cluster) == ActorPlan(16, 1.0, 0.5)
    assert plan_actors(RayOptions(), {"CPU": 6.0}) == ActorPlan(6, 1.0, 0.0)  # CPU only: one per CPU
    assert plan_actors(RayOptions(cpus_per_actor=2), {"CPU": 5.0}) == ActorPlan(2, 2.0, 0.0)
    assert plan_actors(RayOptions(address="head:6379", actors=3), {"CPU": 2.0}) == ActorPlan(3, 1.0, 0.0)
    with pytest.raises(ClusterError, match="asks for 1 GPU but the Ray cluster has 0"):
        plan_actors(RayOptions(gpus_per_actor=1), {"CPU": 4.0})
    with pytest.raises(ValueError, match="ray_cpus sizes a local Ray"):
        RayOptions(address="head:6379", cpus=2)
    with pytest.raises(ClusterError, match="not host:port"):
        check_reachable("head")
