"""The history of past sets: a live set stored with its reps and tips, old databases, the filters, the
count of empty sets left out, deleting (owner-scoped, CSRF-protected) and the API's answers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lifting.types import Pose3D
from realtime.events import HoldEvent, NotCountedEvent, RepEvent, SummaryEvent, TipEvent
from realtime.outbox import Outgoing
from realtime.session import Session, SetRecord
from scoring.reference import Reference
from server.app import create_app
from server.auth import CSRF_HEADER, add_user
from server.jobs.store import HistoryQuery, JobBusyError, JobErrorCode, Store
from server.services import record_session, services_of
from server.settings import Settings
from tests.support.old_schema import FIRST_RELEASE_SCHEMA
from tests.test_realtime import scoring_pipeline

DISPLAY = {"pushup": "Push-up", "squat": "Squat", "plank": "Plank"}


def live_set(reference: Reference, other: Reference, poses: np.ndarray, ts: np.ndarray) -> tuple[Session, list]:
    """A live session fed as the inference thread feeds it (3D poses through its pipeline, each outgoing
    event through ``Session.send``); returns it ended, and the events it sent, as sent."""
    loop = asyncio.new_event_loop()
    try:
        session = Session(reference.spec.name, "plain", loop, wake=lambda: None)
        pipeline = scoring_pipeline(reference, other)
        sent: list[Outgoing] = []
        for i in range(len(ts)):
            sent += pipeline.score(Pose3D(poses[i], float(ts[i]), "test-lifter", bool(np.isfinite(poses[i]).all())))
        sent += pipeline.finish("stopped by the client")
        for item in sent:
            session.send(item)
        session.end_reason = "stopped by the client"
        session.summary = pipeline.summary()
        return session, [item.event for item in sent]
    finally:
        loop.close()


def wire(event: Any) -> dict[str, Any]:
    """An event as the WebSocket carries it (JSON text, read back)."""
    return dict(json.loads(json.dumps(event.as_json())))


def test_a_live_set_is_stored_with_the_reps_and_tips_it_sent(
    database: Path | str, pushup: Reference, squat: Reference
) -> None:
    session, events = live_set(pushup, squat, pushup.poses_3d, pushup.timestamps_ms)
    store = Store(database)
    record_session(store, session, DISPLAY.__getitem__)
    stored = store.get_live_session(session.id, "local")
    assert stored is not None and stored["end_reason"] == "stopped by the client"
    result = stored["result"]
    # every rep as its rep event carried it (without the event's own type and number), in order
    sent_reps = [
        {k: v for k, v in wire(e).items() if k not in ("type", "rep")} for e in events if isinstance(e, RepEvent)
    ]
    assert len(sent_reps) == len(pushup.calibration.reps) >= 2
    assert result["reps"] == sent_reps
    sent_tips = [{k: v for k, v in wire(e).items() if k != "type"} for e in events if isinstance(e, TipEvent)]
    assert sent_tips and result["tips"] == sent_tips
    summary = wire(next(e for e in events if isinstance(e, SummaryEvent)))
    assert result["summary"] == {k: summary[k] for k in result["summary"]} and result["summary"]["reps"] == len(
        sent_reps
    )
    assert (result["exercise"], result["display_name"], result["kind"], result["persona"]) == (
        "pushup", "Push-up", "reps", "plain",
    )  # fmt: skip
    assert result["warnings"] == [] and result["holds"] == [] and result["truncated"] == 0
    # the same keys as an upload's report without detail (build_report(detail=False))
    upload_keys = {"exercise", "display_name", "frames", "detected_fraction", "backend", "lifter", "image_size",
                   "kind", "reps", "holds", "not_counted", "warnings", "summary", "tips", "persona"}  # fmt: skip
    assert upload_keys <= set(result)
    # the list shows it with its details, its reps and score
    item = store.history("local").items[0]
    assert (item["kind"], item["id"], item["details"], item["reps"]) == ("live", session.id, True, len(sent_reps))
    assert item["mean_score"] == pytest.approx(np.mean([r["score"] for r in sent_reps]), abs=0.1)
    store.close()


def test_a_mixed_up_live_set_keeps_what_did_not_count_and_the_warning(
    database: Path | str, pushup: Reference, squat: Reference
) -> None:
    session, events = live_set(pushup, squat, squat.poses_3d, squat.timestamps_ms)
    store = Store(database)
    record_session(store, session, DISPLAY.__getitem__)
    stored = store.get_live_session(session.id, "local")
    assert stored is not None
    result = stored["result"]
    assert result["reps"] == [] and result["summary"]["looks_like"] == "squat"
    assert result["warnings"] == ["the movement looked like Squat, not Push-up: its reps were not counted"]
    missed = [{k: v for k, v in wire(e).items() if k != "type"} for e in events if isinstance(e, NotCountedEvent)]
    assert result["not_counted"] == missed
    # 0 reps, no time held: an empty set, left out of the list unless asked for
    assert store.history("local").items == [] and store.history("local").hidden_empty == 1
    assert [i["id"] for i in store.history("local", HistoryQuery(include_empty=True)).items] == [session.id]
    store.close()


def test_the_record_of_a_set_is_bounded(pushup: Reference, squat: Reference) -> None:
    _, events = live_set(pushup, squat, pushup.poses_3d, pushup.timestamps_ms)
    reps = [e for e in events if isinstance(e, RepEvent)]
    record = SetRecord(keep=1)
    for event in reps:
        record.add(event)
    assert len(record.reps) == 1 and record.truncated == len(reps) - 1
    summary = next(e for e in events if isinstance(e, SummaryEvent))
    record.add(summary)  # the summary's list replaces the events' (not counted twice)
    assert record.reps == [reps[0].result.as_dict()] and record.truncated == len(reps) - 1
    assert isinstance(record.summary, dict) and record.summary["reps"] == len(reps)
    assert not any(isinstance(e, HoldEvent) for e in events) and record.holds == []


# -- the store: old databases, filters, empty sets, deleting ---------------------------------------


def test_an_old_database_keeps_working_and_its_live_sets_say_details_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(FIRST_RELEASE_SCHEMA)
    summary = {"reps": 3, "mean_score": 71.5, "kind": "reps", "hold_total_s": 0.0}
    db.execute(
        "INSERT INTO live_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("old1", "squat", "plain", 1000.0, 1060.0, "stopped by the client", 3, 71.5, json.dumps(summary), "{}"),
    )
    db.commit()
    db.close()
    store = Store(path)
    (item,) = store.history("local").items
    assert (item["id"], item["kind"], item["reps"], item["details"]) == ("old1", "live", 3, False)
    stored = store.get_live_session("old1", "local")
    assert stored is not None and stored["result"] is None and stored["summary"] == summary
    assert store.get_live_session("old1", "someone-else") is None
    store.close()
    Store(path).close()  # opening it again migrates nothing twice


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def seeded(database: Path | str, folder: Path) -> Store:
    """Uploads and live sets of two users at known times (unix seconds 1000 to 1600) in ``database`` (a
    SQLite file or a URL); the uploads' files in ``folder``."""
    clock = Clock(0.0)
    store = Store(database, clock=clock)

    def upload(job_id: str, at: float, exercise: str, summary: dict[str, Any] | None, owner: str = "ann") -> None:
        clock.now = at
        store.add_job(job_id, exercise, "plain", f"{job_id}.mp4", folder / f"{job_id}.video", owner)
        (folder / f"{job_id}.video").write_bytes(b"video")
        if summary is not None:
            store.job_done(job_id, {"summary": summary, "reps": []})

    def live(session_id: str, at: float, exercise: str, summary: dict[str, Any], owner: str = "ann") -> None:
        info = {"id": session_id, "exercise": exercise, "persona": "plain", "end_reason": "stopped"}
        store.add_live_session(info, summary, at, owner, {"summary": summary, "reps": []}, at + 60)

    upload("up-push", 1000, "pushup", {"reps": 5, "mean_score": 80.0})
    live("live-squat", 1100, "squat", {"reps": 4, "mean_score": 70.0})
    live("live-empty", 1200, "pushup", {"reps": 0, "mean_score": None})
    upload("up-empty", 1250, "squat", {"reps": 0, "mean_score": None, "hold_total_s": 0.0})
    upload("up-plank", 1300, "plank", {"reps": 0, "holds": 1, "hold_total_s": 42.0, "mean_score": 90.0})
    live("live-push", 1400, "pushup", {"reps": 6, "mean_score": 75.0})
    upload("up-queued", 1500, "pushup", None)  # waiting: not an empty set
    upload("up-failed", 1550, "squat", None)
    store.job_failed("up-failed", "nobody in the video", JobErrorCode.NO_PERSON)
    live("ben-push", 1600, "pushup", {"reps": 9, "mean_score": 60.0}, owner="ben")
    return store


def ids(store: Store, owner: str = "ann", **query: Any) -> list[str]:
    return [item["id"] for item in store.history(owner, HistoryQuery(**query)).items]


def test_the_history_filters_and_counts_the_empty_sets_it_leaves_out(database: Path | str, tmp_path: Path) -> None:
    store = seeded(database, tmp_path)
    assert ids(store) == ["up-failed", "up-queued", "live-push", "up-plank", "live-squat", "up-push"]
    assert store.history("ann").hidden_empty == 2  # live-empty and up-empty
    assert ids(store, include_empty=True) == [
        "up-failed", "up-queued", "live-push", "up-plank", "up-empty", "live-empty", "live-squat", "up-push",
    ]  # fmt: skip
    assert store.history("ann", HistoryQuery(include_empty=True)).hidden_empty == 0
    assert ids(store, exercise="pushup") == ["up-queued", "live-push", "up-push"]
    assert store.history("ann", HistoryQuery(exercise="pushup")).hidden_empty == 1
    assert ids(store, kind="live") == ["live-push", "live-squat"]
    assert ids(store, kind="upload", exercise="squat", include_empty=True) == ["up-failed", "up-empty"]
    assert ids(store, since=1100, until=1300) == ["live-squat"]  # since inclusive, until exclusive
    assert store.history("ann", HistoryQuery(since=1100, until=1300)).hidden_empty == 2
    assert ids(store, since=1300, limit=2) == ["up-failed", "up-queued"]
    assert ids(store, "ben") == ["ben-push"] and ids(store, "nobody") == []
    for bad, words in (
        ({"kind": "both"}, "kind must be live or upload"),
        ({"since": 10, "until": 5}, "since (10) is after until (5)"),
        ({"limit": 0}, "limit must be at least 1"),
    ):
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            HistoryQuery(**bad)
    store.close()


def test_deleting_is_the_owners_and_never_a_job_still_being_analysed(database: Path | str, tmp_path: Path) -> None:
    store = seeded(database, tmp_path)
    assert not store.delete_live_session("live-push", "ben") and "live-push" in ids(store)
    assert store.delete_live_session("live-push", "ann") and "live-push" not in ids(store)
    assert not store.delete_live_session("live-push", "ann")
    assert store.delete_job("up-push", "ben") is None and store.get_job("up-push") is not None
    deleted = store.delete_job("up-push", "ann")
    assert deleted is not None and deleted.upload_path == tmp_path / "up-push.video"
    assert store.get_job("up-push") is None
    with pytest.raises(JobBusyError, match="still being analysed \\(queued\\): wait until it is done"):
        store.delete_job("up-queued", "ann")
    store.job_started("up-queued")
    with pytest.raises(JobBusyError, match="running"):
        store.delete_job("up-queued", "ann")
    assert store.get_job("up-queued") is not None
    store.close()


# -- the API (auth=accounts: two users, bearer tokens and a cookie sign-in) --------------------------


@pytest.fixture(scope="module")
def accounts() -> Iterator[tuple[TestClient, dict[str, dict[str, str]], Path]]:
    data = Path(tempfile.mkdtemp(prefix="coach-history-"))
    store = seeded(data / "coach.sqlite3", data)
    tokens = {name: add_user(store, name, f"{name}-password-long") for name in ("ann", "ben")}
    store.close()
    # uploads "finished" in 1970 are kept: the retention sweep would remove their files at once
    settings = {"auth": "accounts", "data_dir": data, "allowed_hosts": ["testserver"], "upload_retention_h": 1e6}
    with TestClient(create_app(Settings.model_validate(settings))) as client:
        yield client, {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}, data


def test_the_history_api_filters_with_clear_messages(accounts: tuple[TestClient, dict, Path]) -> None:
    client, auth, _ = accounts
    answer = client.get("/api/history", headers=auth["ann"]).json()
    assert [i["id"] for i in answer["items"]] == ids_expected_for_ann() and answer["hidden_empty"] == 2
    names = {i["exercise"]: i["display_name"] for i in answer["items"]}
    assert names == {"pushup": "Push-up", "squat": "Squat", "plank": "Plank"}
    query = "/api/history?exercise=pushup&kind=upload&include_empty=true&since=900&until=2000"
    assert [i["id"] for i in client.get(query, headers=auth["ann"]).json()["items"]] == ["up-queued", "up-push"]
    for bad, status, words in (
        ("kind=both", 422, "kind must be live or upload"),
        ("exercise=Push%20up", 422, "exercise must be an exercise's name"),
        ("since=-5", 422, "since must be a unix time in seconds"),
        ("since=soon", 422, "valid number"),
        ("since=2000&until=1000", 422, "since (2000) is after until (1000)"),
        ("include_empty=perhaps", 422, "valid boolean"),
    ):
        response = client.get(f"/api/history?{bad}", headers=auth["ann"])
        assert response.status_code == status and words in json.dumps(response.json()["detail"]), (bad, response.text)


def ids_expected_for_ann() -> list[str]:
    return ["up-failed", "up-queued", "live-push", "up-plank", "live-squat", "up-push"]


def test_a_live_set_report_is_its_owners(accounts: tuple[TestClient, dict, Path]) -> None:
    client, auth, _ = accounts
    report = client.get("/api/history/live/live-squat", headers=auth["ann"]).json()
    assert (report["source"], report["session_id"], report["details_recorded"]) == ("live", "live-squat", True)
    assert report["summary"] == {"reps": 4, "mean_score": 70.0} and report["started_at"] == 1100
    other = client.get("/api/history/live/live-squat", headers=auth["ben"])
    assert other.status_code == 404 and "no live set 'live-squat'" in other.json()["detail"]


def test_deleting_through_the_api_needs_the_owner_and_the_csrf_token(accounts: tuple[TestClient, dict, Path]) -> None:
    client, auth, data = accounts
    # somebody else's set is not there for ben; ann's stays
    for path in ("/api/history/live/live-squat", "/api/jobs/up-plank"):
        response = client.delete(path, headers=auth["ben"])
        assert response.status_code == 404 and "not yours" in response.json()["detail"]
    assert client.get("/api/history/live/live-squat", headers=auth["ann"]).status_code == 200
    # a job still being analysed cannot go
    store = services_of(client.app).store
    store.add_job("up-running", "pushup", "plain", "now.mp4", data / "now.video", owner="ann")
    store.job_started("up-running")
    busy = client.delete("/api/jobs/up-running", headers=auth["ann"])
    assert busy.status_code == 409 and "wait until it is done" in busy.json()["detail"]
    # a cookie sign-in must send its CSRF token
    signed = client.post("/api/sign-in", json={"name": "ann", "password": "ann-password-long"})
    csrf = signed.json()["csrf"]
    try:
        forged = client.delete("/api/history/live/live-squat")
        assert forged.status_code == 403 and CSRF_HEADER in forged.json()["detail"]
        forged = client.delete("/api/jobs/up-plank")
        assert forged.status_code == 403
        assert client.get("/api/history/live/live-squat").status_code == 200
        gone = client.delete("/api/history/live/live-squat", headers={CSRF_HEADER: csrf})
        assert gone.status_code == 200 and gone.json() == {"deleted": "live-squat", "kind": "live"}
        assert client.get("/api/history/live/live-squat").status_code == 404
        assert (data / "up-plank.video").is_file()
        gone = client.delete("/api/jobs/up-plank", headers={CSRF_HEADER: csrf})
        assert gone.status_code == 200 and not (data / "up-plank.video").exists()
        assert client.get("/api/jobs/up-plank").status_code == 404
        left = [i["id"] for i in client.get("/api/history?include_empty=true").json()["items"]]
        assert "up-plank" not in left and "live-squat" not in left and "up-push" in left
        assert store.get_job("up-push") is not None and store.get_job("up-running") is not None
    finally:
        client.post("/api/sign-out", headers={CSRF_HEADER: csrf})
        client.cookies.clear()


def test_an_old_live_set_is_served_without_its_details(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "coach.sqlite3")
    db.executescript(FIRST_RELEASE_SCHEMA)
    summary = {"reps": 2, "mean_score": 64.0, "kind": "reps"}
    db.execute(
        "INSERT INTO live_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("old1", "pushup", "plain", 1000.0, 1030.0, "the camera stopped", 2, 64.0, json.dumps(summary), "{}"),
    )
    db.commit()
    db.close()
    settings = {"data_dir": tmp_path, "allowed_hosts": ["testserver"]}
    with TestClient(create_app(Settings.model_validate(settings))) as client:
        (item,) = client.get("/api/history").json()["items"]
        assert (item["id"], item["details"], item["display_name"]) == ("old1", False, "Push-up")
        report = client.get("/api/history/live/old1").json()
        assert report["details_recorded"] is False and report["summary"] == summary
        assert (
            report["reps"] == []
            and report["display_name"] == "Push-up"
            and report["end_reason"] == "the camera stopped"
        )


@pytest.mark.slow
def test_a_live_session_through_the_manager_is_stored_as_it_was_sent(
    tmp_path: Path, media: Path, pushup: Reference
) -> None:
    """A whole live set (the real clip through MediaPipe, the lifter and the inference thread): when it
    ends, the history holds every rep, tip and the summary its WebSocket carried."""
    from lifting.lifter import WorldLandmarkLifter
    from lifting.pose2d import MediaPipeBackend
    from realtime.manager import LiveOptions, SessionManager
    from tests.test_realtime import ClipTrack, _camera_frames, _drain, _tips

    frames = _camera_frames(media / "pushup_side_nasm.mp4", 175)  # two whole reps
    store = Store(tmp_path / "coach.sqlite3")

    async def run() -> tuple[str, list[dict[str, Any]]]:
        manager = SessionManager(
            LiveOptions(),
            WorldLandmarkLifter(),
            MediaPipeBackend,
            lambda name: pushup,
            _tips(),
            on_ended=lambda session: record_session(store, session, DISPLAY.__getitem__),
        )
        async with manager:
            session = await manager.create("pushup", "plain")
            drain = asyncio.create_task(_drain(session))
            manager.offer_received(session)
            manager.attach_track(session, ClipTrack(frames, session, paced=True))
            events = await asyncio.wait_for(drain, 120)
            await asyncio.wait_for(session.closed.wait(), 30)
        return session.id, events

    session_id, events = asyncio.run(run())
    stored = store.get_live_session(session_id, "local")
    assert stored is not None and stored["end_reason"] == "the camera stopped"
    result = stored["result"]
    reps = [
        {k: v for k, v in e.items() if k not in ("type", "rep")}
        for e in json.loads(json.dumps(events))
        if e["type"] == "rep"
    ]
    assert len(reps) == 2 and result["reps"] == reps
    assert result["tips"] == [{k: v for k, v in e.items() if k != "type"} for e in events if e["type"] == "tip"]
    summary = next(e for e in events if e["type"] == "summary")
    assert result["summary"] == {k: summary[k] for k in result["summary"]}
    assert result["frames"] == len(frames) and result["image_size"] == [640, 360]
    assert result["backend"] == next(e for e in events if e["type"] == "status")["backend"]
    assert 0.9 < result["detected_fraction"] <= 1.0
    store.close()
