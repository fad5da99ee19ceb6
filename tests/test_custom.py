"""Custom exercises: the suggestion from a video, the generated fault rules, the HTTP API and the CLI,
on the real clips."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lifting.joints import H36M
from scoring.build import GENERATED_FLOOR_DEG, build_reference, generated_fault_rules, with_generated_faults
from scoring.core import analyze_track
from scoring.reference import ReferenceError
from scoring.suggest import MAX_CURVE_POINTS, suggest
from server.app import create_app
from server.exercises import ExerciseCatalog
from server.settings import Settings
from tests.support.inject import one_side_shallow

SQUAT = "squat_side.mp4"


def test_a_squat_video_suggests_a_leg_driver_that_bends_and_counts_the_labelled_reps(pose_tracks, labels) -> None:  # type: ignore[no-untyped-def]
    found = suggest(pose_tracks(SQUAT))
    spec = found.spec
    assert spec.driver in ("knee_mean", "hip_mean")
    assert spec.driver_direction == "decrease"
    assert set(spec.body_parts) == {"left_leg", "right_leg"}  # the arms held behind the head are left out
    assert spec.posture_feature == "torso_incline" and found.calibration.posture_value < 30  # standing
    assert found.view == "side" and "side" in spec.views
    assert sum(r.like_others for r in found.reps) == labels[SQUAT]["reps"]
    data = found.as_dict()
    assert len(data["curve"]["t"]) == len(data["curve"]["deg"]) <= MAX_CURVE_POINTS
    for rep in data["reps"]:
        assert rep["start_s"] < rep["bottom_s"] < rep["end_s"]
    # another driver on request; one that cannot drive a rep is refused with the choices
    assert suggest(pose_tracks(SQUAT), driver="knee_mean").spec.driver == "knee_mean"
    with pytest.raises(ReferenceError, match="cannot drive a rep; choose one of"):
        suggest(pose_tracks(SQUAT), driver="torso_incline")


def test_a_push_up_video_suggests_the_elbows_and_the_arms(pose_tracks, labels) -> None:  # type: ignore[no-untyped-def]
    found = suggest(pose_tracks("pushup_side_nasm.mp4"))
    assert found.spec.driver.startswith("elbow") and found.spec.driver_direction == "decrease"
    assert {"left_arm", "right_arm"} <= set(found.spec.body_parts) and "left_leg" not in found.spec.body_parts
    assert sum(r.like_others for r in found.reps) == labels["pushup_side_nasm.mp4"]["reps"]


def test_generated_rules_fire_on_an_injected_fault_and_stay_silent_on_another_good_rep(pose_tracks) -> None:  # type: ignore[no-untyped-def]
    track = pose_tracks(SQUAT)
    spec = suggest(track, "my_squat", "My squat").spec
    reference = with_generated_faults(build_reference(spec, track, [1]))  # built from the first rep only
    rules = reference.spec.faults
    offsets = [r for r in rules if r.kind == "offset"]
    assert 2 <= len(offsets) <= 6
    assert {r.id for r in rules} >= {"shallow", "too_fast", "too_slow"}
    assert all(r.relative and r.threshold >= GENERATED_FLOOR_DEG for r in offsets)
    assert all(spec.driver not in r.feature for r in offsets)  # depth is the shallow rule's
    assert generated_fault_rules(reference) == rules  # the same reference gives the same rules

    # the second rep, which the reference never saw, is good form: no generated fault
    analysis = analyze_track(reference, track)
    assert len(analysis.reps) == 2
    assert [f.id for rep in analysis.reps for f in rep.faults] == []

    # the left leg kept half as bent through every rep: named by body part and phase
    spans = [(r.start_frame, r.bottom_frame, r.end_frame) for r in analysis.reps]
    stiff = one_side_shallow(track.poses_3d, spans, [H36M.L_KNEE, H36M.L_ANKLE], H36M.L_HIP, 0.5)
    faulty = analyze_track(reference, replace(track, poses_3d=stiff))
    assert len(faulty.reps) == 2
    for rep in faulty.reps:
        fault = next(f for f in rep.faults if f.id == "left_knee_bends_less")
        assert (
            fault.message.startswith("left knee bends ") and "less than in the reference at the bottom" in fault.message
        )
        assert fault.body_parts == ("left_leg",)


def test_a_rep_number_that_was_not_found_is_refused(pose_tracks) -> None:  # type: ignore[no-untyped-def]
    track = pose_tracks(SQUAT)
    spec = suggest(track).spec
    with pytest.raises(ReferenceError, match=r"pick reps among the 2 found \(1-2\), got \[3\]"):
        build_reference(spec, track, [3])


# -- the HTTP API ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    hosts = ["testserver", "127.0.0.1", "localhost"]
    with TestClient(create_app(Settings.model_validate({"data_dir": data_dir, "allowed_hosts": hosts}))) as c:
        yield c


def draft_of(client: TestClient, path: Path, timeout: float = 240) -> dict[str, Any]:
    with path.open("rb") as fh:
        answer = client.post("/api/custom/drafts", files={"video": (path.name, fh, "video/mp4")})
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        draft: dict[str, Any] = client.get(answer.json()["status_url"]).json()
        if draft["state"] in ("done", "failed"):
            return draft
        time.sleep(0.3)
    raise AssertionError("the draft was not read in time")


@pytest.fixture(scope="module")
def squat_draft(client: TestClient, media: Path) -> dict[str, Any]:
    return draft_of(client, media / SQUAT)


def test_a_custom_exercise_over_http(
    client: TestClient, squat_draft: dict[str, Any], labels: dict, data_dir: Path, pose_tracks
) -> None:  # type: ignore[no-untyped-def]
    draft = squat_draft
    assert draft["state"] == "done", draft
    suggestion = draft["suggestion"]
    assert suggestion["driver"] in ("knee_mean", "hip_mean") and suggestion["direction"] == "decrease"
    reps = suggestion["reps"]
    assert sum(r["like_others"] for r in reps) == labels[SQUAT]["reps"]
    thumb = client.get(reps[0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8" and len(thumb.content) < 30_000
    assert "knee_mean" in draft["drivers"] and "core" in draft["all_body_parts"]
    other = client.get(f"/api/custom/drafts/{draft['id']}", params={"driver": "knee_mean"}).json()
    assert other["suggestion"]["driver"] == "knee_mean"

    # names that mean a shipped exercise are refused
    for name, display in (("squat", "Deep squat"), ("deep_squat", "Squat")):
        answer = client.post(
            "/api/custom/exercises", json={"draft": draft["id"], "name": name, "display_name": display, "reps": [1, 2]}
        )
        assert answer.status_code == 409 and "shipped exercise" in answer.json()["detail"]
    answer = client.post("/api/custom/exercises", json={"draft": draft["id"], "display_name": "My squat", "reps": [7]})
    assert answer.status_code == 422 and "pick reps among the 2 found" in answer.json()["detail"]

    saved = client.post(
        "/api/custom/exercises", json={"draft": draft["id"], "display_name": "My squat", "reps": [1, 2]}
    )
    assert saved.status_code == 201, saved.text
    exercise = saved.json()
    assert exercise["name"] == "my_squat" and exercise["yours"] and exercise["reps_used"] == [1, 2]
    assert any(f["id"] == "shallow" for f in exercise["faults"])
    listed = {e["name"]: e for e in client.get("/api/exercises").json()}
    assert listed["my_squat"]["custom"] and not listed["squat"]["custom"]
    assert (data_dir / "exercises" / "my_squat" / "exercise.json").is_file()
    assert client.get(f"/api/custom/drafts/{draft['id']}").status_code == 404  # used up
    # the saved exercise counts the reps of the video it was built from
    reference = ExerciseCatalog(Path("references"), data_dir / "exercises").load("My Squat")
    assert len(analyze_track(reference, pose_tracks(SQUAT)).reps) == labels[SQUAT]["reps"]
    again = client.post("/api/custom/exercises", json={"draft": draft["id"], "display_name": "Other", "reps": [1]})
    assert again.status_code == 404 and "upload the video again" in again.json()["detail"]

    # rename; edit the rules; a session can start with it
    renamed = client.patch("/api/custom/exercises/my_squat", json={"display_name": "Chair squat"})
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "Chair squat"
    assert client.patch("/api/custom/exercises/my_squat", json={"display_name": "Push-up"}).status_code == 409
    offset = next(f for f in exercise["faults"] if f["kind"] == "offset")
    edited = client.patch(
        "/api/custom/exercises/chair squat",
        json={"faults": [{"id": offset["id"], "enabled": False}, {"id": "shallow", "threshold": 70}]},
    ).json()
    rules = {f["id"]: f for f in edited["faults"]}
    assert rules[offset["id"]]["enabled"] is False and rules["shallow"]["threshold"] == 70
    assert offset["id"] not in next(e for e in client.get("/api/exercises").json() if e["name"] == "my_squat")["faults"]
    back = client.patch("/api/custom/exercises/my_squat", json={"faults": [{"id": offset["id"], "enabled": True}]})
    assert {f["id"]: f for f in back.json()["faults"]}[offset["id"]]["enabled"] is True
    bad = client.patch("/api/custom/exercises/my_squat", json={"faults": [{"id": "nope", "threshold": 3}]})
    assert bad.status_code == 422 and "has no fault rule 'nope'" in bad.json()["detail"]
    session = client.post("/api/sessions", json={"exercise": "Chair Squat", "persona": "plain"})
    assert session.status_code == 201 and session.json()["exercise"] == "my_squat"
    client.delete(
        f"/api/sessions/{session.json()['id']}", headers={"Authorization": f"Bearer {session.json()['token']}"}
    )

    # shipped exercises cannot be changed; unknown names get 404 with the known ones
    assert client.delete("/api/custom/exercises/squat").status_code == 403
    assert client.patch("/api/custom/exercises/pushup", json={"display_name": "P"}).status_code == 403
    gone = client.delete("/api/custom/exercises/my_squat")
    assert gone.status_code == 200 and gone.json() == {"deleted": "my_squat"}
    missing = client.delete("/api/custom/exercises/my_squat")
    assert missing.status_code == 404 and "unknown exercise 'my_squat'" in missing.json()["detail"]
    assert "my_squat" not in {e["name"] for e in client.get("/api/exercises").json()}


def test_a_movement_that_is_not_a_rep_is_refused_over_http(client: TestClient, media: Path) -> None:
    draft = draft_of(client, media / "pushup_front_phone.mp4")
    assert draft["state"] == "done", draft
    elbows = client.get(f"/api/custom/drafts/{draft['id']}", params={"driver": "elbow_mean"}).json()["suggestion"]
    odd = next(r for r in elbows["reps"] if not r["like_others"])
    answer = client.post(
        "/api/custom/exercises",
        json={"draft": draft["id"], "display_name": "Knee push-up", "reps": [odd["number"]], "driver": "elbow_mean"},
    )
    assert answer.status_code == 422
    assert f"rep {odd['number']} moved elbow_mean only" in answer.json()["detail"]
    assert "it is not a rep" in answer.json()["detail"] and str(media) not in answer.json()["detail"]
    assert client.delete(f"/api/custom/drafts/{draft['id']}").status_code == 200


def test_bad_drafts_are_refused_with_what_to_do(client: TestClient, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with text.open("rb") as fh:
        answer = client.post("/api/custom/drafts", files={"video": ("notes.mp4", fh, "video/mp4")})
    assert answer.status_code == 415 and "upload a video file" in answer.json()["detail"]
    assert client.post("/api/custom/drafts", data={"x": "1"}).status_code == 400
    unknown = client.get("/api/custom/drafts/0123456789abcdef")
    assert unknown.status_code == 404 and "upload the video again" in unknown.json()["detail"]
    assert client.get("/api/custom/drafts/..%2f..%2fetc").status_code == 404
    save = client.post("/api/custom/exercises", json={"draft": "0123456789abcdef", "display_name": "X", "reps": []})
    assert save.status_code in (400, 422)


# -- the CLI ---------------------------------------------------------------------------------------


def test_coach_reference_build_custom(pose_tracks, tmp_path: Path, monkeypatch, capsys, labels) -> None:  # type: ignore[no-untyped-def]
    from server.cli import main

    monkeypatch.setattr("server.cli.reference.track_of", lambda video, settings: pose_tracks(Path(video).name))
    video = str(Path("../shared/media") / SQUAT)
    base = ["reference", "build", "--video", video, "--custom", "--data-dir", str(tmp_path)]
    assert main([*base, "--exercise", "squat"]) == 2
    assert "is a shipped exercise" in capsys.readouterr().err
    assert main([*base, "--exercise", "air_squat", "--reps", "3"]) == 2
    err = capsys.readouterr()
    assert "rep 1: " in err.out and "outside the 2 reps found" in err.err
    assert main([*base, "--exercise", "Air_Squat", "--display-name", "Air squat"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n  rep ") == labels[SQUAT]["reps"] and "shallow (rom)" in out
    assert (tmp_path / "exercises" / "air_squat" / "custom.json").is_file()
    reference = ExerciseCatalog(Path("references"), tmp_path / "exercises").load("air squat")
    assert reference.spec.display_name == "Air squat" and any(r.kind == "offset" for r in reference.spec.faults)
