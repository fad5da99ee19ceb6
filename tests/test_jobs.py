"""Uploaded-video analysis: the jobs API on the real clips, every bad input, restarts, retention."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scoring.core import analyze_track
from scoring.reference import load_reference
from server.app import create_app
from server.jobs.store import JobStatus, Store
from server.services import remove_expired_uploads, services_of
from server.settings import Settings


def client_for(data_dir: Path, **overrides: Any) -> TestClient:
    hosts = ["testserver", "127.0.0.1", "localhost"]  # Starlette's TestClient calls itself testserver
    return TestClient(create_app(Settings.model_validate({"data_dir": data_dir, "allowed_hosts": hosts, **overrides})))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    # the module sends more than the default 10 uploads a minute when it runs fast; the limit itself is
    # tested in test_security.py
    with client_for(data_dir, uploads_per_minute=1000) as c:
        yield c


def upload(client: TestClient, path: Path, exercise: str = "pushup", persona: str = "plain", name: str = "") -> Any:
    with path.open("rb") as fh:
        return client.post(
            "/api/analyze",
            files={"video": (name or path.name, fh, "video/mp4")},
            data={"exercise": exercise, "persona": persona},
        )


def wait_job(client: TestClient, job_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    progress = []
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        progress.append(job["progress"])
        if job["status"] in ("done", "failed"):
            job["_progress_seen"] = progress
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


CLIPS = {"pushup_side_nasm.mp4": "pushup", "pushup_front_phone.mp4": "pushup", "squat_side.mp4": "squat"}


@pytest.mark.slow
@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_each_clip_gives_its_labelled_reps(
    client: TestClient, media: Path, labels: dict, clip: str, pose_tracks, references_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    response = upload(client, media / clip, CLIPS[clip], name="../../etc/passwd")
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    job = wait_job(client, job_id)
    assert job["status"] == "done", job
    result = job["result"]
    assert len(result["reps"]) == labels[clip]["reps"] == result["summary"]["reps"]
    # The same numbers as `coach analyze` (same pipeline, same core).
    batch = analyze_track(load_reference(references_dir, CLIPS[clip]), pose_tracks(clip))
    assert [r["score"] for r in result["reps"]] == [r.score for r in batch.reps]
    assert result["summary"] == batch.summary.as_dict()
    # Curves, overlay keypoints and feedback for the results page.
    curves = result["curves"]
    frames = result["frames"]
    assert len(curves["timestamps_ms"]) == frames == len(result["keypoints"])
    for name in curves["angles"]:
        assert len(curves["user"][name]) == len(curves["reference"][name]) == frames
        first = result["reps"][0]
        inside = curves["reference"][name][first["start_frame"] : first["end_frame"] + 1]
        assert all(v is not None for v in inside)
    assert any(t["kind"] == "summary" for t in result["tips"]) and result["persona"] == "plain"
    # The stored upload is named by the server and served back for the overlay player.
    assert job["filename"] == "passwd" and job["video_url"] == f"/api/jobs/{job_id}/video"
    video = client.get(job["video_url"])
    assert video.status_code == 200 and video.content == (media / clip).read_bytes()
    stored = [p.name for p in (services_of(client.app).settings.uploads_dir).iterdir()]
    assert f"{job_id}.video" in stored


def test_bad_uploads_get_a_clear_4xx(client: TestClient, media: Path, tmp_path: Path, data_dir: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("these are my notes, not a video\n" * 100)
    clip = media / "pushup_side_nasm.mp4"
    corrupt = tmp_path / "corrupt.mp4"
    data = bytearray(clip.read_bytes())
    data[4000:] = bytes(len(data) - 4000)  # header kept, every frame zeroed
    corrupt.write_bytes(bytes(data))

    uploads = data_dir / "uploads"
    before = set(uploads.iterdir()) if uploads.exists() else set()
    cases = [
        (upload(client, text), 415, "not a video file"),
        (upload(client, corrupt), 422, "corrupt"),
        (upload(client, clip, exercise="cartwheel"), 400, "unknown exercise 'cartwheel'"),
        (upload(client, clip, persona="yoda"), 400, "unknown persona 'yoda'"),
        (client.post("/api/analyze", data={"exercise": "pushup"}), 400, "'video' (a file) is missing"),
        (client.post("/api/analyze", files={"video": ("a.mp4", b"x")}), 400, "'exercise' is missing"),
    ]
    for response, code, message in cases:
        assert response.status_code == code, response.text
        assert message in response.json()["detail"], response.json()
    assert client.get("/api/jobs/nope").status_code == 404
    assert set(uploads.iterdir()) == before  # nothing refused was kept


def test_size_and_duration_limits(media: Path, tmp_path: Path) -> None:
    clip = media / "pushup_side_nasm.mp4"  # 1.55 MB, 13.6 s
    with client_for(tmp_path, max_upload_mb=1.0, max_video_s=5) as client:
        big = upload(client, clip)
        assert big.status_code == 413 and "larger than the 1 MB limit" in big.json()["detail"]
        long = upload(client, media / "pushup_front_phone.mp4")  # 0.73 MB, 10 s
        assert long.status_code == 422 and "lasts 10 s; the limit is 5 s" in long.json()["detail"]
        assert list((tmp_path / "uploads").iterdir()) == []


@pytest.mark.slow
def test_a_raw_stream_without_a_duration_cannot_run_past_the_limit(media: Path, ffmpeg: str, tmp_path: Path) -> None:
    """A raw H.264 stream declares no duration, so the upload check passes it; decoding stops at the
    limit and the job fails with the reason (the original finding: decoded to the end, progress 0)."""
    import subprocess

    raw = tmp_path / "set.h264"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(media / "pushup_front_phone.mp4"), "-vf", "scale=320:-2",
         "-c:v", "libx264", "-an", "-f", "h264", str(raw)],
        check=True,
    )  # fmt: skip
    with client_for(tmp_path / "data", max_video_s=3) as client:
        response = upload(client, raw, name="set.h264")
        assert response.status_code == 202, response.text  # no duration declared: only decoding can tell
        job = wait_job(client, response.json()["job_id"])
    assert job["status"] == "failed" and job["error_code"] == "too_long" and job["error_status"] == 422
    assert job["error"] == "the video runs past the 3 s limit: trim it"
    assert job["progress"] > 0  # it moved while decoding, without a frame count to divide by


@pytest.mark.slow
def test_a_truncated_video_is_analysed_and_says_so(
    client: TestClient, media: Path, ffmpeg: str, tmp_path: Path
) -> None:
    """A download that stopped half way (index at the front, so still readable): analysed as far as it
    goes, and the report says the file is truncated."""
    import subprocess

    whole = tmp_path / "whole.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(media / "squat_side.mp4"), "-c", "copy", "-movflags", "+faststart",
         str(whole)],
        check=True,
    )  # fmt: skip
    data = whole.read_bytes()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    response = upload(client, truncated)
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["job_id"])
    assert job["status"] == "done", job
    assert any("probably truncated" in w for w in job["result"]["warnings"]), job["result"]["warnings"]


@pytest.mark.slow
def test_no_person_fails_the_job_with_its_reason(client: TestClient, empty_room_clip: Path) -> None:
    response = upload(client, empty_room_clip)
    assert response.status_code == 202
    job = wait_job(client, response.json()["job_id"])
    assert job["status"] == "failed" and job["error_code"] == "no_person" and job["error_status"] == 422
    assert "no person was found" in job["error"]
    assert "result" not in job


@pytest.mark.slow
def test_a_restart_mid_job_reports_it_failed_and_keeps_finished_results(media: Path, tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        finished = upload(client, media / "pushup_front_phone.mp4").json()["job_id"]
        assert wait_job(client, finished)["status"] == "done"
        cut = upload(client, media / "squat_side.mp4", "squat").json()["job_id"]
        queued = upload(client, media / "pushup_side_nasm.mp4").json()["job_id"]
        deadline = time.monotonic() + 60
        while client.get(f"/api/jobs/{cut}").json()["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    # A crash leaves a job 'running' with nobody working on it: the store as a killed process leaves it.
    store = Store(tmp_path / "coach.sqlite3")
    store.add_job("crashed", "pushup", "plain", "a.mp4", tmp_path / "uploads" / "gone.video")
    store.job_started("crashed")
    store.close()

    with client_for(tmp_path) as client:
        for job_id in (cut, "crashed"):
            job = client.get(f"/api/jobs/{job_id}").json()
            assert job["status"] == "failed" and job["error_code"] == "interrupted", job
            assert "server stopped while this video was being analysed" in job["error"]
        done = client.get(f"/api/jobs/{finished}").json()
        assert done["status"] == "done" and len(done["result"]["reps"]) == 2
        # The job still waiting in the queue at the stop is not lost: it runs after the restart.
        assert wait_job(client, queued)["status"] == "done"
        history = client.get("/api/history").json()["items"]
        assert {h["id"] for h in history} >= {finished, cut, queued, "crashed"}


def test_retention_removes_old_uploads_but_not_results(database: Path | str, tmp_path: Path) -> None:
    store = Store(database)
    video = tmp_path / "job1.video"
    video.write_bytes(b"data")
    store.add_job("job1", "pushup", "plain", "mine.mp4", video)
    store.job_done("job1", {"summary": {"reps": 3, "mean_score": 80.0}, "reps": []})
    assert remove_expired_uploads(store, retention_s=3600) == 0 and video.exists()
    assert remove_expired_uploads(store, retention_s=0) == 1
    job = store.get_job("job1")
    assert not video.exists() and job is not None and job.upload_path is None
    assert job.status is JobStatus.DONE and job.result == {"summary": {"reps": 3, "mean_score": 80.0}, "reps": []}
    assert store.history("local").items[0]["reps"] == 3
    store.close()


def test_history_gives_a_hold_set_its_time_held(database: Path | str, tmp_path: Path) -> None:
    store = Store(database)
    store.add_job("plank1", "plank", "plain", "plank.mp4", tmp_path / "plank.video")
    store.job_done(
        "plank1", {"kind": "hold", "summary": {"reps": 0, "holds": 1, "hold_total_s": 42.5, "mean_score": 90.0}}
    )
    store.add_job("push1", "pushup", "plain", "push.mp4", tmp_path / "push.video")
    store.job_done("push1", {"summary": {"reps": 3, "mean_score": 80.0}, "reps": []})
    store.add_live_session(
        {"id": "live1", "exercise": "side_plank", "persona": "plain", "end_reason": "stopped"},
        {"reps": 0, "holds": 2, "hold_total_s": 31.0, "mean_score": 85.0},
        started_at=1.0,
    )
    held = {item["id"]: (item["reps"], item["held_s"]) for item in store.history("local").items}
    assert held == {"plank1": (0, 42.5), "push1": (3, None), "live1": (0, 31.0)}
    store.close()
