"""The HTTP API, signalling and the WebSocket, driven in-process with Starlette's TestClient."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from scoring.reference import list_exercises
from server.app import create_app
from server.services import services_of
from server.settings import Settings
from tests.conftest import with_drill_sergeant

REPO_REFERENCES = Path(__file__).resolve().parents[1] / "references"


def make_offer(video: bool = True, audio: bool = False) -> str:
    """A real browser-like offer SDP (aiortc as the sending peer)."""

    async def run() -> str:
        pc = RTCPeerConnection()
        if video:
            pc.addTrack(VideoStreamTrack())
        if audio:
            pc.addTrack(AudioStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(run())


@pytest.fixture(scope="module")
def offer_sdp() -> str:
    return make_offer()


TEST_HOSTS = {"allowed_hosts": ["testserver", "127.0.0.1", "localhost"]}
"""Starlette's TestClient calls itself ``testserver``."""


def app_client(**overrides: Any) -> TestClient:
    overrides.setdefault("data_dir", tempfile.mkdtemp(prefix="coach-test-"))
    return TestClient(create_app(Settings.model_validate({**TEST_HOSTS, **overrides})))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with app_client() as c:
        yield c


def new_session(client: TestClient, exercise: str = "pushup") -> dict[str, Any]:
    response = client.post("/api/sessions", json={"exercise": exercise, "persona": "plain"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_up(client: TestClient) -> None:
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_health_exercises_personas_and_the_page(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["backend"] == "mediapipe" and health["backend_device"] == "cpu"
    assert health["lifter"] == "mediapipe-world" and health["receptive_field"] == 1
    assert health["lookahead_frames"] == 0 and health["max_sessions"] == 4
    assert health["gpu_memory_mb"] is None  # no CUDA device in use
    exercises = {e["name"]: e for e in client.get("/api/exercises").json()}
    assert set(exercises) == set(list_exercises(REPO_REFERENCES))  # every shipped exercise, no custom one yet
    assert {"pushup", "squat", "lunge", "bicep_curl", "deadlift"} <= set(exercises)
    assert (exercises["pushup"]["reference"], exercises["lunge"]["reference"]) == ("video", "authored")
    assert (exercises["plank"]["kind"], exercises["squat"]["kind"]) == ("hold", "reps")
    assert "hips_sag" in exercises["pushup"]["faults"] and "side view" in exercises["pushup"]["camera"]
    assert exercises["pushup"]["kind"] == "reps" and exercises["pushup"]["target_s"] is None
    personas = [p["id"] for p in client.get("/api/personas").json()]
    assert personas == ["plain", "data_scientist", "hype_beast", "mindful_aligner", "no_nonsense_pro"]
    page = client.get("/")
    assert page.status_code == 200 and 'src="app.js"' in page.text
    assert client.get("/webrtc.js").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/api/health", "/api/sessions", "/api/sessions/{session_id}/offer"} <= set(schema["paths"])


def test_creating_a_session_checks_its_inputs(client: TestClient) -> None:
    body = new_session(client)
    assert len(body["token"]) >= 24 and body["offer_url"] == f"/api/sessions/{body['id']}/offer"
    unknown = client.post("/api/sessions", json={"exercise": "cartwheel"})
    detail = unknown.json()["detail"]
    assert unknown.status_code == 400 and detail.startswith("unknown exercise 'cartwheel' (known: ")
    assert "pushup" in detail and "squat" in detail and "lunge" in detail
    near = client.post("/api/sessions", json={"exercise": "sqat"})
    assert near.status_code == 400 and "did you mean 'squat'?" in near.json()["detail"]
    assert "/" not in near.json()["detail"]  # no server path in the answer
    persona = client.post("/api/sessions", json={"exercise": "pushup", "persona": "yoda"})
    assert persona.status_code == 400 and "unknown persona 'yoda'" in persona.json()["detail"]
    assert client.post("/api/sessions", json={}).status_code == 422
    client.delete(f"/api/sessions/{body['id']}", headers=bearer(body["token"]))


def test_the_offer_needs_the_token_and_a_real_sdp(client: TestClient, offer_sdp: str) -> None:
    session = new_session(client)
    url = session["offer_url"]
    offer = {"sdp": offer_sdp, "type": "offer"}

    missing = client.post(url, json=offer)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post(url, json=offer, headers=bearer("not-the-token"))
    # a wrong token is answered as an unknown session: it tells nobody the session exists
    assert wrong.status_code == 404 and wrong.json()["detail"].startswith("no session ")
    other = new_session(client)
    assert client.post(url, json=offer, headers=bearer(other["token"])).status_code == 404
    unknown = client.post("/api/sessions/0000/offer", json=offer, headers=bearer(session["token"]))
    assert unknown.status_code == 404
    assert_up(client)

    bad = {
        "garbage": ({"sdp": "hello", "type": "offer"}, "must start with the line 'v=0'"),
        "an answer": ({"sdp": offer_sdp, "type": "answer"}, "expected a description of type 'offer'"),
        "no ICE": (
            {"sdp": "\r\n".join(line for line in offer_sdp.split("\r\n") if "ice-" not in line), "type": "offer"},
            "no ICE credentials",
        ),
        "audio only": ({"sdp": make_offer(video=False, audio=True), "type": "offer"}, "no video stream"),
        "truncated": ({"sdp": offer_sdp[: len(offer_sdp) // 3], "type": "offer"}, "malformed SDP"),
    }
    for name, (body, message) in bad.items():
        response = client.post(url, json=body, headers=bearer(session["token"]))
        assert response.status_code == 400, name
        assert message in response.json()["detail"], (name, response.json())
        assert_up(client)

    # After all that, the session still takes a good offer, and only one.
    answer = client.post(url, json=offer, headers=bearer(session["token"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["type"] == "answer" and "m=video" in answer.json()["sdp"]
    assert "a=recvonly" in answer.json()["sdp"]
    info = client.get(f"/api/sessions/{session['id']}", headers=bearer(session["token"])).json()
    assert info["state"] == "connecting"
    again = client.post(url, json=offer, headers=bearer(session["token"]))
    assert again.status_code == 409 and "accepts one offer" in again.json()["detail"]
    for s in (session, other):
        assert client.delete(f"/api/sessions/{s['id']}", headers=bearer(s["token"])).status_code == 200
    assert client.get(f"/api/sessions/{session['id']}", headers=bearer(session["token"])).status_code == 404
    assert_up(client)


def test_the_websocket_needs_the_token(client: TestClient) -> None:
    session = new_session(client)
    cases = {
        "/ws/sessions/nope?token=x": 404,
        f"/ws/sessions/{session['id']}": 401,
        f"/ws/sessions/{session['id']}?token=wrong": 404,
    }
    for url, code in cases.items():
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(url):
            pass
        assert refused.value.status_code == code, url
        assert_up(client)
    url = f"/ws/sessions/{session['id']}?token={session['token']}"
    with client.websocket_connect(url) as ws:
        first = ws.receive_json()
        assert first["type"] == "status" and first["state"] == "created" and first["posture"] == "no_person"
        assert len(first["skeleton"]["bones"]) == 16 and len(first["skeleton"]["joints"]) == 17
        with pytest.raises(WebSocketDenialResponse) as second, client.websocket_connect(url):
            pass
        assert second.value.status_code == 409
        ws.send_json({"type": "dance"})
        ws.send_json({"type": "stop"})
        events = _until_closed(ws)
    notices = [e.get("notice") or "" for e in events if e["type"] == "status"]
    assert any("unknown command" in n for n in notices)
    summary = next(e for e in events if e["type"] == "summary")
    assert summary["reps"] == 0 and summary["reason"] == "stopped by the client"
    assert [e["type"] for e in events[-3:]] == ["summary", "tip", "status"]
    assert events[-2]["kind"] == "summary" and events[-1]["state"] == "closed"
    assert_up(client)


def test_a_client_that_disconnects_frees_its_session(client: TestClient) -> None:
    session = new_session(client)
    manager = services_of(client.app).manager
    with client.websocket_connect(f"/ws/sessions/{session['id']}?token={session['token']}") as ws:
        assert ws.receive_json()["type"] == "status"
        ws.close()  # the tab goes away (TestClient would cancel the handler on leaving the block)
        deadline = time.monotonic() + 10
        while session["id"] in {s.id for s in manager.sessions} and time.monotonic() < deadline:
            time.sleep(0.05)
    ended = next(e for e in reversed(manager.ended) if e["id"] == session["id"])
    assert ended["end_reason"] == "the client disconnected" and ended["state"] == "closed"
    assert client.get(f"/api/sessions/{session['id']}", headers=bearer(session["token"])).status_code == 404


def _until_closed(ws: Any) -> list[dict[str, Any]]:
    events = []
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            events.append(ws.receive_json())
    assert closed.value.code == 1000
    return events


def test_limits_timeouts_and_shutdown(offer_sdp: str) -> None:
    with app_client(max_sessions=2, offer_timeout_s=0.5) as client:
        a, b = new_session(client), new_session(client)
        full = client.post("/api/sessions", json={"exercise": "squat"})
        assert full.status_code == 503 and "already coaches 2" in full.json()["detail"]
        assert full.headers["retry-after"] == "30"
        # Nobody sends an offer: the reaper ends both, each with its summary and the reason.
        with client.websocket_connect(f"/ws/sessions/{a['id']}?token={a['token']}") as ws:
            events = _until_closed(ws)
        summary = next(e for e in events if e["type"] == "summary")
        assert summary["reason"] == "no WebRTC offer within 0.5 s"
        deadline = time.monotonic() + 5
        while client.get("/api/health").json()["sessions"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/api/health").json()["sessions"] == 0
        assert client.get(f"/api/sessions/{b['id']}", headers=bearer(b["token"])).status_code == 404
        c = new_session(client)  # room again
        manager = services_of(client.app).manager
    # Leaving the client shuts the app down: the open session ended with its reason, the loop stopped.
    assert manager.ended[-1]["id"] == c["id"] and manager.ended[-1]["end_reason"] == "server shutting down"
    assert not manager.loop_thread.alive


def test_settings_are_validated_at_start_up(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_sessions"):
        Settings.model_validate({"max_sessions": 0})
    with pytest.raises(ValidationError, match="port"):
        Settings.model_validate({"port": 70000})
    with pytest.raises(ValidationError, match="device must be"):
        Settings.model_validate({"device": "gpu"})


def test_persona_files_a_tip_model_and_a_switch_mid_session(tmp_path: Path, tiny_lm: Path) -> None:
    personas = with_drill_sergeant(tmp_path / "personas")
    (personas / "broken.toml").write_text('name = "Broken"\n')
    settings = {"personas_dir": personas, "tips_backend": "transformers", "tips_model": tiny_lm, "tips_budget_s": 5}
    with app_client(**settings) as client:
        health = client.get("/api/health").json()
        assert health["tips"] == {"backend": "transformers", "model": "tiny-gpt2", "prompt": "persona", "device": "cpu"}
        assert "broken.toml" in health["persona_errors"] and "description" in health["persona_errors"]["broken.toml"]
        listed = {p["id"]: p for p in client.get("/api/personas").json()}
        assert "drill_sergeant" in listed and "broken" not in listed
        assert listed["drill_sergeant"]["name"] == "Drill Sergeant"
        response = client.post("/api/sessions", json={"exercise": "pushup", "persona": "drill_sergeant"})
        assert response.status_code == 201 and response.json()["persona"] == "drill_sergeant"
        session = response.json()
        with client.websocket_connect(f"/ws/sessions/{session['id']}?token={session['token']}") as ws:
            assert ws.receive_json()["type"] == "status"
            ws.send_json({"type": "persona", "persona": "yoda"})
            ws.send_json({"type": "persona", "persona": "hype_beast"})
            ws.send_json({"type": "stop"})
            events = _until_closed(ws)
    statuses = [e for e in events if e["type"] == "status"]
    assert any("unknown persona 'yoda'" in (e.get("notice") or "") for e in statuses)
    assert statuses[0]["persona"] == "drill_sergeant" and statuses[-1]["persona"] == "hype_beast"
    [tip] = [e for e in events if e["type"] == "tip"]
    assert (tip["kind"], tip["persona"], tip["source"]) == ("summary", "hype_beast", "model")
    assert "(0 reps" in tip["text"]  # the model's nonsense, with the count appended
    assert events[-1]["state"] == "closed"


def test_a_bad_tip_model_is_refused_at_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pydantic import ValidationError

    from server.cli import main

    assert main(["serve", "--tips-model", str(tmp_path / "missing"), "--port", "1"]) == 2
    assert "no language model at" in capsys.readouterr().err
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "broken.toml").write_text("name = ")
    assert main(["personas", "--personas-dir", str(tmp_path / "personas")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["personas"]) == 0
    assert "hype_beast" in capsys.readouterr().out
    assert main(["personas", "--preview", "hype_beast"]) == 0
    preview = capsys.readouterr().out
    for fault in ("hips_sag", "hips_pike", "shallow", "too_fast", "too_slow", "arm_lag", "forward_lean", "knee_lag"):
        assert f"  {fault} " in preview
    assert preview.count("summary") == len(list_exercises(REPO_REFERENCES)) and "{" not in preview  # one each
    assert main(["personas", "--preview", "yoda"]) == 2
    with pytest.raises(ValidationError, match="tips_backend"):
        Settings.model_validate({"tips_backend": "gpt"})
