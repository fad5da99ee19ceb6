"""The hostile-input suite: every entry point fed what an attacker or a broken client would send.

Each case asserts the exact status (or WebSocket outcome) and message, and that the server is still
up and still serving a live session's API afterwards. Owners are checked in both modes: in ``single``
mode rows of another owner are planted in the store; in ``accounts`` mode two real users try each
other's jobs, videos and history.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.auth import CSRF_HEADER, add_user
from server.jobs.store import Store
from server.security import RedactTokens
from server.services import services_of
from server.settings import Settings

HOSTS = ["testserver", "127.0.0.1", "localhost"]
"""Starlette's TestClient calls itself ``testserver``."""


def make_client(**overrides: Any) -> TestClient:
    settings = {"data_dir": tempfile.mkdtemp(prefix="coach-sec-"), "allowed_hosts": HOSTS, **overrides}
    return TestClient(create_app(Settings.model_validate(settings)))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with make_client(max_upload_mb=1.0, sessions_per_minute=1000, uploads_per_minute=1000, max_sessions=16) as c:
        yield c


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory, media: Path, ffmpeg: str) -> Path:
    """One second of a shared clip, small enough for the 1 MB cap."""
    import subprocess

    out = tmp_path_factory.mktemp("video") / "one_second.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(media / "squat_side.mp4"), "-t", "1", "-vf", "scale=320:-2",
         "-c:v", "libx264", "-an", str(out)],
        check=True,
    )  # fmt: skip
    return out


def up(client: TestClient) -> None:
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def session(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/sessions", json={"exercise": "pushup", "persona": "plain"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def detail(response: Any) -> str:
    return str(response.json()["detail"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- HTTP cases: (name, request, status, words the answer must contain) ----------------------------

Request = Callable[[TestClient, dict[str, Any]], Any]


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def _multipart_stream(total: int) -> Iterator[bytes]:
    """A chunked multipart upload of ``total`` bytes of video field (no Content-Length)."""
    yield (
        b'--B\r\nContent-Disposition: form-data; name="exercise"\r\n\r\npushup\r\n'
        b'--B\r\nContent-Disposition: form-data; name="video"; filename="big.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n"
    )
    yield from _chunks(total)
    yield b"\r\n--B--\r\n"


CASES: list[tuple[str, Request, int, str]] = [
    ("host: another name", lambda c, s: c.get("/api/health", headers={"Host": "evil.example"}), 400,
     "does not answer for the host 'evil.example'"),
    ("host: rebinding name", lambda c, s: c.get("/api/history", headers={"Host": "127.0.0.1.nip.io"}), 400,
     "does not answer for the host"),
    ("host: another name with a port", lambda c, s: c.get("/", headers={"Host": "evil.example:8000"}), 400,
     "does not answer for the host"),
    ("origin: another page starts a session",
     lambda c, s: c.post("/api/sessions", json={"exercise": "pushup"}, headers={"Origin": "https://evil.example"}),
     403, "requests from the page at 'https://evil.example' are not allowed"),
    ("origin: another page uploads",
     lambda c, s: c.post("/api/analyze", data={"exercise": "pushup"}, headers={"Origin": "http://evil.example"}),
     403, "are not allowed"),
    ("origin: another page ends a session",
     lambda c, s: c.delete(f"/api/sessions/{s['id']}", headers={**bearer(s["token"]), "Origin": "http://x.test"}),
     403, "are not allowed"),
    ("origin: null (a sandboxed page)",
     lambda c, s: c.post("/api/sessions", json={"exercise": "pushup"}, headers={"Origin": "null"}), 403,
     "'null' are not allowed"),
    ("origin: same host other port",
     lambda c, s: c.post("/api/sessions", json={"exercise": "pushup"}, headers={"Origin": "http://testserver:9999"}),
     403, "are not allowed"),
    ("json: 24 MB body with a length", lambda c, s: c.post(
        "/api/sessions", content=b"[" + b"{}," * (8 << 20) + b"{}]", headers={"Content-Type": "application/json"}),
     413, "larger than the 64 KB limit"),
    ("json: 1 MB body without a length", lambda c, s: c.post(
        "/api/sessions", content=_chunks(1 << 20), headers={"Content-Type": "application/json"}),
     413, "larger than the 64 KB limit"),
    ("json: huge SDP in an offer", lambda c, s: c.post(
        f"/api/sessions/{s['id']}/offer", json={"sdp": "v=0\r\n" + "a=x\r\n" * 20000, "type": "offer"},
        headers=bearer(s["token"])), 413, "larger than the 64 KB limit"),
    ("json: not JSON", lambda c, s: c.post(
        "/api/sessions", content=b"{", headers={"Content-Type": "application/json"}), 422, "json_invalid"),
    ("json: a list instead of an object", lambda c, s: c.post("/api/sessions", json=[1, 2]), 422,
     "model_attributes_type"),
    ("json: exercise of the wrong type", lambda c, s: c.post("/api/sessions", json={"exercise": 5}), 422,
     "string_type"),
    ("json: unknown exercise", lambda c, s: c.post("/api/sessions", json={"exercise": "nope"}), 400,
     "unknown exercise 'nope'"),
    ("json: exercise path traversal", lambda c, s: c.post("/api/sessions", json={"exercise": "../../etc"}), 400,
     "unknown exercise '../../etc'"),
    ("json: unknown persona",
     lambda c, s: c.post("/api/sessions", json={"exercise": "pushup", "persona": "x" * 50}), 400, "persona"),
    ("upload: not multipart", lambda c, s: c.post("/api/analyze", content=b"hello",
     headers={"Content-Type": "text/plain"}), 400, "the form field 'video' (a file) is missing"),
    ("upload: no video field", lambda c, s: c.post("/api/analyze", data={"exercise": "pushup"}, files={}), 400,
     "the form field 'video' (a file) is missing"),
    ("upload: no exercise field", lambda c, s: c.post(
        "/api/analyze", files={"video": ("a.mp4", b"x", "video/mp4")}), 400, "the form field 'exercise' is missing"),
    ("upload: not a video", lambda c, s: c.post(
        "/api/analyze", files={"video": ("a.mp4", b"just text, no video", "video/mp4")}, data={"exercise": "pushup"}),
     415, "upload a video file"),
    ("upload: empty file", lambda c, s: c.post(
        "/api/analyze", files={"video": ("a.mp4", b"", "video/mp4")}, data={"exercise": "pushup"}), 415,
     "upload a video file"),
    ("upload: unknown exercise", lambda c, s: c.post(
        "/api/analyze", files={"video": ("a.mp4", b"x", "video/mp4")}, data={"exercise": "../x"}), 400,
     "unknown exercise '../x'"),
    ("upload: unknown persona", lambda c, s: c.post(
        "/api/analyze", files={"video": ("a.mp4", b"x", "video/mp4")}, data={"exercise": "pushup", "persona": "no"}),
     400, "unknown persona 'no'"),
    ("upload: declared larger than the cap", lambda c, s: c.post(
        "/api/analyze", content=b"x" * 10, headers={"Content-Length": str(300 << 20),
                                                    "Content-Type": "multipart/form-data; boundary=B"}),
     413, "larger than the 1 MB limit"),
    ("upload: 300 MB chunked against a 1 MB cap", lambda c, s: c.post(
        "/api/analyze", content=_multipart_stream(300 << 20),
        headers={"Content-Type": "multipart/form-data; boundary=B"}), 413, "larger than the 1 MB limit"),
    ("upload: two files", lambda c, s: c.post("/api/analyze", files=[
        ("video", ("a.mp4", b"x", "video/mp4")), ("video", ("b.mp4", b"y", "video/mp4"))],
        data={"exercise": "pushup"}), 400, "send multipart/form-data"),
    ("jobs: unknown id", lambda c, s: c.get("/api/jobs/0123456789abcdef"), 404, "no job '0123456789abcdef'"),
    ("jobs: traversal in the id", lambda c, s: c.get("/api/jobs/..%2F..%2Fetc%2Fpasswd"), 404, "Not Found"),
    ("jobs: somebody else's job", lambda c, s: c.get("/api/jobs/bobsjob"), 404, "no job 'bobsjob'"),
    ("jobs: somebody else's video", lambda c, s: c.get("/api/jobs/bobsjob/video"), 404, "no job 'bobsjob'"),
    ("static: traversal", lambda c, s: c.get("/../server/settings.py"), 404, "Not Found"),
    ("static: encoded traversal", lambda c, s: c.get("/%2e%2e/pyproject.toml"), 404, "Not Found"),
    ("session: offer without a token", lambda c, s: c.post(
        f"/api/sessions/{s['id']}/offer", json={"sdp": "v=0", "type": "offer"}), 401, "Authorization: Bearer"),
    ("session: offer with a wrong token", lambda c, s: c.post(
        f"/api/sessions/{s['id']}/offer", json={"sdp": "v=0", "type": "offer"}, headers=bearer("guess")), 404,
     "no session"),
    ("session: malformed SDP", lambda c, s: c.post(
        f"/api/sessions/{s['id']}/offer", json={"sdp": "not sdp at all", "type": "offer"},
        headers=bearer(s["token"])), 400, "malformed SDP: "),
    ("session: an answer instead of an offer", lambda c, s: c.post(
        f"/api/sessions/{s['id']}/offer", json={"sdp": "v=0", "type": "answer"}, headers=bearer(s["token"])), 400,
     "offer"),
    ("session: read with a wrong token", lambda c, s: c.get(f"/api/sessions/{s['id']}", headers=bearer("x")), 404,
     "no session"),
    ("session: end with a wrong token", lambda c, s: c.delete(f"/api/sessions/{s['id']}", headers=bearer("x")), 404,
     "no session"),
    ("session: unknown id", lambda c, s: c.get("/api/sessions/ffff", headers=bearer(s["token"])), 404, "no session"),
    ("session: a basic-auth header", lambda c, s: c.get(
        f"/api/sessions/{s['id']}", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "Authorization: Bearer"),
    ("history: limit out of range", lambda c, s: c.get("/api/history?limit=-5"), 200, ""),
    ("history: limit not a number", lambda c, s: c.get("/api/history?limit=lots"), 422, "int_parsing"),
    ("sign-in: without accounts", lambda c, s: c.post("/api/sign-in", json={"name": "a", "password": "b"}), 400,
     "this server has no accounts"),
    ("method: PUT on sessions", lambda c, s: c.put("/api/sessions", json={}), 405, "Method Not Allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "request_", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_hostile_http(client: TestClient, name: str, request_: Request, code: int, words: str) -> None:
    store = services_of(client.app).store
    if store.get_job("bobsjob") is None:  # a job of another owner
        store.add_job("bobsjob", "pushup", "plain", "bob.mp4", Path("/nonexistent/bob.video"), owner="bob")
    live = session(client)
    response = request_(client, live)
    assert response.status_code == code, (response.status_code, response.text[:300])
    if words:
        assert words in response.text, response.text[:300]
    assert len(response.content) < 4096, "an error echoed the input back"
    assert response.headers.get("x-content-type-options") == "nosniff"
    up(client)
    # the live session beside is untouched
    assert client.get(f"/api/sessions/{live['id']}", headers=bearer(live["token"])).status_code == 200
    client.delete(f"/api/sessions/{live['id']}", headers=bearer(live["token"]))


def test_validation_errors_never_echo_the_input(client: TestClient) -> None:
    secret = "s3cr3t-" + "y" * 5000
    response = client.post("/api/sessions", json={"exercise": {"nested": secret}})
    assert response.status_code == 422 and secret[:20] not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "exercise"]


def test_a_chunked_upload_past_the_cap_leaves_no_file(client: TestClient) -> None:
    settings = services_of(client.app).settings
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    before = set(settings.uploads_dir.iterdir())
    response = client.post(
        "/api/analyze",
        content=_multipart_stream(300 << 20),
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 413
    assert set(settings.uploads_dir.iterdir()) == before
    up(client)


def test_every_page_and_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/upload.html", "/api/health", "/api/jobs/none", "/docs", "/sw.js", "/manifest.webmanifest"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"


def test_the_page_has_no_inline_script_or_style() -> None:
    web = Path(__file__).resolve().parents[1] / "web_client"
    for page in web.glob("*.html"):
        text = page.read_text()
        assert "<script>" not in text and " style=" not in text and "<style" not in text, page.name
        assert not re.search(r"<[^>]+\son[a-z]+=", text), f"{page.name}: an inline event handler"


def test_a_download_has_a_fixed_video_type(client: TestClient, small_video: Path) -> None:
    store = services_of(client.app).store
    stored = services_of(client.app).settings.uploads_dir / "planted.video"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(small_video.read_bytes())
    store.add_job("plantedjob", "squat", "plain", "evil.html", stored)
    response = client.get("/api/jobs/plantedjob/video")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"  # not text/html from the user's file name
    assert 'filename="evil.mp4"' in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_too_many_sessions_or_uploads_a_minute_get_429() -> None:
    with make_client(sessions_per_minute=2, uploads_per_minute=1) as c:
        for _ in range(2):
            c.post("/api/sessions", json={"exercise": "pushup", "persona": "plain"})
        third = c.post("/api/sessions", json={"exercise": "pushup", "persona": "plain"})
        assert third.status_code == 429 and "at most 2 a minute" in detail(third)
        assert 1 <= int(third.headers["retry-after"]) <= 61
        c.post("/api/analyze", data={"exercise": "pushup"})
        second = c.post("/api/analyze", data={"exercise": "pushup"})
        assert second.status_code == 429 and "too many upload requests" in detail(second)
        up(c)


# -- WebSocket cases ---------------------------------------------------------------------------------


def test_a_websocket_from_another_page_is_refused(client: TestClient) -> None:
    """(Unknown sessions, missing and wrong tokens: tests/test_server.py.)"""
    live = session(client)
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(
            f"/ws/sessions/{live['id']}?token={live['token']}", headers={"Origin": "https://evil.example"}
        ),
    ):
        pass
    assert closed.value.code == 1008 and "'https://evil.example' are not allowed" in closed.value.reason
    up(client)


@pytest.mark.parametrize(
    ("send", "notice"),
    [
        (lambda ws: ws.send_bytes(b"\x00\x01binary"), "binary messages are not accepted"),
        (lambda ws: ws.send_text("x" * 5000), "that command was 5000 bytes; commands are at most 4096"),
        (lambda ws: ws.send_text("[" * 2000 + "]" * 2000), "nested more than 4 levels deep"),
        (lambda ws: ws.send_text('{"type": {"a": {"b": {"c": {"d": 1}}}}}'), "nested more than 4 levels deep"),
        (lambda ws: ws.send_text("not json"), "unknown command 'not json'"),
        (lambda ws: ws.send_text('{"type": "rm -rf"}'), "unknown command"),
        (lambda ws: ws.send_text('{"type": "persona", "persona": "../../etc"}'), "unknown persona"),
    ],
    ids=["binary", "oversized", "deep-array", "deep-object", "not-json", "unknown-type", "bad-persona"],
)
def test_hostile_websocket_messages_are_answered_and_the_session_kept(
    client: TestClient, send: Callable[[Any], None], notice: str
) -> None:
    live = session(client)
    with client.websocket_connect(f"/ws/sessions/{live['id']}?token={live['token']}") as ws:
        send(ws)
        for _ in range(20):
            event = ws.receive_json()
            if event["type"] == "status" and event.get("notice"):
                break
        assert notice in event["notice"], event
        ws.send_text('{"type": "ping"}')
        info = client.get(f"/api/sessions/{live['id']}", headers=bearer(live["token"]))
        assert info.status_code == 200 and info.json()["state"] != "closed"
        ws.send_text('{"type": "stop"}')  # and the session still obeys: its summary, then a clean close
        kinds = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                kinds.append(ws.receive_json()["type"])
        assert "summary" in kinds and closed.value.code == 1000
    up(client)


# -- owners -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def accounts() -> Iterator[tuple[TestClient, dict[str, str]]]:
    data = Path(tempfile.mkdtemp(prefix="coach-acc-"))
    store = Store(data / "coach.sqlite3")
    tokens = {name: add_user(store, name, f"{name}-password-long") for name in ("ann", "ben")}
    store.close()
    settings = {"auth": "accounts", "data_dir": data, "logins_per_minute": 5}
    with make_client(**settings) as c:
        store = services_of(c.app).store
        for name in ("ann", "ben"):
            path = data / f"{name}.video"
            path.write_bytes(b"not really a video")
            store.add_job(f"{name}job", "pushup", "plain", f"{name}.mp4", path, owner=name)
        yield c, tokens


def test_in_accounts_mode_nothing_is_served_without_a_sign_in(accounts: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = accounts
    for method, path in (("get", "/api/history"), ("get", "/api/jobs/annjob"), ("get", "/api/jobs/annjob/video"),
                         ("post", "/api/sessions"), ("post", "/api/analyze"), ("get", "/api/me")):  # fmt: skip
        response = getattr(c, method)(path) if method == "get" else c.post(path, json={"exercise": "pushup"})
        assert response.status_code == 401, (path, response.text)
        assert "sign in first" in detail(response)
    assert c.get("/api/history", headers=bearer("coach-guess")).status_code == 401
    up(c)


def test_users_see_only_their_own_jobs_videos_and_history(accounts: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = accounts
    ann, ben = bearer(tokens["ann"]), bearer(tokens["ben"])
    assert c.get("/api/jobs/annjob", headers=ann).status_code == 200
    for path in ("/api/jobs/annjob", "/api/jobs/annjob/video"):
        response = c.get(path, headers=ben)
        assert response.status_code == 404 and detail(response) == "no job 'annjob'"
    assert [item["id"] for item in c.get("/api/history", headers=ben).json()["items"]] == ["benjob"]
    assert [item["id"] for item in c.get("/api/history", headers=ann).json()["items"]] == ["annjob"]
    # a live session is its owner's: ben cannot use ann's without its token, and its history row is ann's
    live = c.post("/api/sessions", json={"exercise": "pushup", "persona": "plain"}, headers=ann).json()
    assert services_of(c.app).manager.get(live["id"]).owner == "ann"
    assert c.get(f"/api/sessions/{live['id']}", headers=ben).status_code == 404


def test_a_cookie_sign_in_needs_the_csrf_token_to_change_anything(accounts: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = accounts
    wrong = c.post("/api/sign-in", json={"name": "ann", "password": "not-her-password"})
    unknown = c.post("/api/sign-in", json={"name": "nobody", "password": "whatever-long"})
    assert (
        wrong.status_code == unknown.status_code == 401 and detail(wrong) == detail(unknown) == "wrong name or password"
    )
    signed = c.post("/api/sign-in", json={"name": "ann", "password": "ann-password-long"})
    assert signed.status_code == 200
    cookie = signed.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    csrf = signed.json()["csrf"]
    assert c.get("/api/me").json() == {"user": "ann", "auth": "accounts", "csrf": csrf}
    assert [i["id"] for i in c.get("/api/history").json()["items"]] == ["annjob"]  # reading needs no CSRF token
    forged = c.post("/api/sessions", json={"exercise": "pushup", "persona": "plain"})
    assert forged.status_code == 403 and detail(forged) == f"missing or wrong {CSRF_HEADER} header"
    made = c.post("/api/sessions", json={"exercise": "pushup", "persona": "plain"}, headers={CSRF_HEADER: csrf})
    assert made.status_code == 201
    assert c.post("/api/sign-out", headers={CSRF_HEADER: csrf}).status_code == 200
    assert c.get("/api/history").status_code == 401
    c.cookies.clear()


def test_guessing_passwords_is_slowed_down(accounts: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = accounts
    codes = [c.post("/api/sign-in", json={"name": "ben", "password": f"guess-{i}-long"}).status_code for i in range(8)]
    assert 429 in codes and codes[0] == 401
    blocked = c.post("/api/sign-in", json={"name": "ben", "password": "ben-password-long"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1


def test_serving_the_network_without_accounts_is_refused(capsys: pytest.CaptureFixture) -> None:
    from server.cli import main

    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "auth=single on 0.0.0.0 would let everyone who reaches it see every video" in capsys.readouterr().err


def test_tokens_never_reach_the_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws/sessions/abc?token=SECRET123&x=1", "1.1", 101), None,
    )  # fmt: skip
    RedactTokens().filter(record)
    assert "SECRET123" not in record.getMessage() and "token=[hidden]" in record.getMessage()


def test_the_users_command(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from server.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "cara", "--password-stdin", "--data-dir", str(tmp_path)]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a-good-long-password\n"))
    assert main(["users", "add", "cara", "--password-stdin", "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.rsplit(" ", 1)[1].strip()
    store = Store(tmp_path / "coach.sqlite3")
    try:
        from server.auth import password_matches, secret_hash

        assert store.user_by_token(secret_hash(token)) == "cara"
        assert password_matches(store.password_hash("cara"), "a-good-long-password")
        assert "a-good-long-password" not in (tmp_path / "coach.sqlite3").read_bytes().decode("latin-1")
    finally:
        store.close()
    assert main(["users", "list", "--data-dir", str(tmp_path)]) == 0 and "cara" in capsys.readouterr().out
    assert main(["users", "remove", "nobody", "--data-dir", str(tmp_path)]) == 2
