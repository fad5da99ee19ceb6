"""End to end in real Chromium: the page streams a fake camera (a real push-up clip) over WebRTC to
the app, which counts and scores the reps and pushes events back over the WebSocket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from playwright.sync_api import expect

from scoring.reference import list_exercises
from server.services import services_of
from server.settings import Settings
from tests.conftest import with_drill_sergeant
from tests.support.harness import chromium_with_camera, running_app, to_y4m

CLIP = "pushup_side_nasm.mp4"
SHIPPED = len(list_exercises(Path(__file__).resolve().parents[1] / "references"))
"""Exercises in the pickers: every shipped one (the app's references folder is the repository's)."""


@pytest.fixture(scope="module")
def camera(media: Path, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return to_y4m(media / CLIP, tmp_path_factory.mktemp("camera") / "pushup.y4m", 640, 360, 30)


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    personas = with_drill_sergeant(tmp_path_factory.mktemp("coaches") / "personas")  # a coach added as a file
    settings = {"data_dir": tmp_path_factory.mktemp("data"), "personas_dir": personas}
    with running_app(Settings.model_validate(settings)) as served:
        yield served


def clip_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


@pytest.mark.slow
def test_a_live_set_in_chromium(camera: Path, live_app: tuple[str, Any], media: Path, labels: dict) -> None:
    base, app = live_app
    expected = labels[CLIP]["reps"]
    duration = clip_seconds(media / CLIP)
    with chromium_with_camera(camera) as browser:
        page = browser.new_page()
        received: list[dict[str, Any]] = []

        def listen(ws: Any) -> None:
            ws.on("framereceived", lambda payload: received.append(json.loads(payload)))

        page.on("websocket", listen)
        page.goto(f"{base}/?countdown=0&exercise=pushup&persona=plain")
        # locators, not wait_for_function: the page's CSP (no eval) applies to the test's polling too
        expect(page.locator("#exercise option")).to_have_count(SHIPPED)
        assert "Camera: side view" in page.inner_text("#camera-hint")
        assert page.locator("#persona option[value=drill_sergeant]").inner_text() == "Drill Sergeant"
        page.click("#start")
        page.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)

        # One pass of the clip (the fake camera then loops it): every labelled rep shows up.
        expect(page.locator("#rep-count")).to_have_text(str(expected), timeout=(duration + 8) * 1000)
        page.select_option("#persona", "no_nonsense_pro")  # another coach mid-set
        # Counted within one pass of the clip, on the camera's own clock (source timestamps).
        first_frame_ms = next(e["t"] for e in received if e["type"] == "pose")
        last_rep_ms = [e["end_ms"] for e in received if e["type"] == "rep"][expected - 1]
        counted_after = (last_rep_ms - first_frame_ms) / 1000
        assert counted_after < duration + 2.0, f"{expected} reps took {counted_after:.1f} s for a {duration:.1f} s clip"
        skeleton_pixels = page.evaluate(
            """() => { const c = document.querySelector('#overlay');
                       const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                       let n = 0; for (let i = 3; i < data.length; i += 4) n += data[i] > 0; return n; }"""
        )
        assert skeleton_pixels > 500, "the skeleton overlay is not drawn"
        page.click("#stop")
        page.wait_for_selector("#summary:not([hidden])", timeout=20_000)
        assert page.inner_text("#summary-reps") == str(expected)
        assert page.locator(".rep-card:not(.not-counted)").count() == expected
        assert page.locator("#tips .tip").count() >= 1
        assert page.locator("#tips .tip[data-kind=summary][data-persona=no_nonsense_pro]").count() == 1
        page.wait_for_selector("#conn-state[data-state=idle]", timeout=20_000)
        # The bitrate fix is applied to VP8 in the answer the page uses.
        sdp = "\r\n".join(["v=0", "a=rtpmap:96 VP8/90000", "a=fmtp:96 foo=1", "a=rtpmap:97 H264/90000"])
        hinted = page.evaluate("async (sdp) => (await import('/webrtc.js')).withVp8Bitrate(sdp)", sdp)
    assert "a=fmtp:96 foo=1;x-google-min-bitrate=1500;x-google-start-bitrate=1500;x-google-max-bitrate=4500" in hinted
    assert "a=fmtp:97" not in hinted

    kinds = [e["type"] for e in received]
    assert kinds.count("rep") == expected
    assert "tip" in kinds, "no tip arrived over the WebSocket"
    tips = [e for e in received if e["type"] == "tip"]
    assert tips[0]["persona"] == "plain" and tips[-1]["persona"] == "no_nonsense_pro"
    assert any(e.get("persona") == "no_nonsense_pro" for e in received if e["type"] == "status")
    poses = [e for e in received if e["type"] == "pose"]
    assert sum(p["detected"] for p in poses) > 0.9 * len(poses)
    summary = next(e for e in received if e["type"] == "summary")
    assert summary["reps"] == expected and summary["reason"] == "stopped by the client"

    # Every frame is accounted for, and every processed one reached the page as a pose event. How many
    # frames a second this machine keeps is the live benchmark's to measure (benchmarks/bench_live.py),
    # not a test's: on a slower CPU the coach drops more frames (latest frame wins) and still counts.
    info = services_of(app).manager.ended[-1]
    assert info["reps"] == expected and info["state"] == "closed"
    assert 0 <= info["frames_received"] - info["frames_processed"] - info["frames_dropped"] <= 1, info
    assert info["pose_latency_ms"]["count"] == info["frames_processed"] == len(poses)


@pytest.mark.slow
def test_an_upload_through_the_page(camera: Path, live_app: tuple[str, Any], media: Path, labels: dict) -> None:
    base, _ = live_app
    clip = "pushup_front_phone.mp4"
    expected = labels[clip]["reps"]
    with chromium_with_camera(camera) as browser:
        page = browser.new_page()
        page.goto(f"{base}/upload.html")
        # locators, not wait_for_function: the page's CSP (no eval) applies to the test's polling too
        expect(page.locator("#exercise option")).to_have_count(SHIPPED)
        assert page.locator("#persona option[value=drill_sergeant]").count() == 1
        page.select_option("#persona", "data_scientist")
        page.set_input_files("#video", str(media / clip))
        page.select_option("#exercise", "pushup")
        page.click("#send")
        page.wait_for_url("**/report.html?job=*", timeout=180_000)
        job_id = page.url.split("job=")[1]
        page.wait_for_selector("#rep-table tbody tr", timeout=30_000)
        assert page.locator("#rep-table tbody tr").count() == expected
        assert page.inner_text("#report-reps") == str(expected)
        assert page.locator("#score-chart svg rect.bar").count() == expected
        charts = page.locator("#angle-charts .angle-chart")
        assert charts.count() >= 3
        assert charts.first.locator("canvas").count() >= 1  # uPlot: you and the DTW-aligned reference
        assert charts.first.locator(".rep-band").count() == expected
        assert page.locator("#feedback .tip").count() >= 1
        assert "coach data_scientist" in page.inner_text("body")
        deadline = time.monotonic() + 30
        while page.evaluate("() => document.querySelector('#player').readyState") < 1:
            assert time.monotonic() < deadline, "the player never loaded the video"
            time.sleep(0.1)

        page.goto(f"{base}/history.html")
        page.wait_for_selector("#history-table tbody tr")
        row = page.locator("#history-table tbody tr", has_text=clip)
        assert row.count() == 1 and f"{expected} reps" in row.inner_text()
        assert row.locator("a.details").get_attribute("href") == f"/report.html?job={job_id}"


ATTACK = """
import sys
import time
from http.client import HTTPConnection

host, port = sys.argv[1].removeprefix("http://").split(":")


def chunks(total):
    yield b'--B\\r\\nContent-Disposition: form-data; name="video"; filename="a.mp4"\\r\\n\\r\\n'
    for _ in range(total // (1 << 20)):
        yield bytes(1 << 20)


def post(path, body, kind, chunked=False):
    http = HTTPConnection(host, int(port), timeout=60)
    try:
        http.request("POST", path, body=body, headers={"Content-Type": kind}, encode_chunked=chunked)
        return http.getresponse().status
    except OSError:  # the server closed a body it refused while it was still being sent
        return 413
    finally:
        http.close()


big = b"[" + b"{}," * (8 << 20) + b"{}]"
while True:
    started = time.monotonic()
    print(post("/api/sessions", big, "application/json"), flush=True)
    print(post("/api/analyze", chunks(300 << 20), "multipart/form-data; boundary=B", True), flush=True)
    for _ in range(20):
        print(post("/api/sessions", b"{", "application/json"), flush=True)
    print("round", round(time.monotonic() - started, 2), file=sys.stderr, flush=True)
    time.sleep(1.0)
"""
"""A hostile client, every second: a 24 MB JSON body, a chunked 300 MB upload and 20 malformed JSON bodies
(the machine has 2 cores, shared with Chromium and the coach: a client flooding as fast as it can would
measure the client's own CPU, not the server's defences)."""


@pytest.mark.slow
def test_a_live_set_keeps_its_pace_while_hostile_requests_arrive(
    camera: Path, media: Path, labels: dict, tmp_path: Path
) -> None:
    """A 24 MB JSON body, a chunked 300 MB upload against a 1 MB cap and a flood of bad requests go to
    the server during a live set: each is refused (413 before parsing, without the body on disk), and
    the set counts every rep and keeps its pace: the frames a second processed under attack are at
    least 80 % of those processed right after it, on the same machine in the same run (the attacker is
    a client on the same 2 cores, whose own CPU the set pays for; the pace itself is the live
    benchmark's to measure)."""
    import subprocess
    import sys
    import time

    expected = labels[CLIP]["reps"]
    duration = clip_seconds(media / CLIP)
    settings = Settings.model_validate({"data_dir": tmp_path / "data", "max_upload_mb": 1.0})
    with running_app(settings) as (base, app), chromium_with_camera(camera) as browser:
        page = browser.new_page()
        page.goto(f"{base}/?countdown=0&exercise=pushup&persona=plain")
        expect(page.locator("#exercise option")).to_have_count(SHIPPED)
        page.click("#start")
        page.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)
        live = services_of(app).manager.sessions[0]

        def processed() -> tuple[int, float]:
            return live.info()["frames_processed"], time.monotonic()

        # the attacker is another process, as it would be (in this one it would fight the server for the GIL)
        attacker = subprocess.Popen([sys.executable, "-c", ATTACK, base], stdout=subprocess.PIPE, text=True)
        attack_start = processed()
        expect(page.locator("#rep-count")).to_have_text(str(expected), timeout=(duration + 8) * 1000)
        attack_end = processed()
        session = live.info()
        attacker.terminate()
        answers = [int(line) for line in attacker.communicate(timeout=60)[0].split()]
        calm_start = processed()
        page.wait_for_timeout(5000)  # the fake camera loops the clip: the same pictures, no attacker
        calm_end = processed()
        page.click("#stop")
        page.wait_for_selector("#summary:not([hidden])", timeout=20_000)
    assert answers and set(answers) <= {413, 422, 429}, set(answers)  # 429: uploads past 10 a minute
    assert answers.count(413) >= 2
    uploads = tmp_path / "data" / "uploads"
    assert not uploads.exists() or not list(uploads.iterdir())  # nothing of the refused upload kept
    assert session["reps"] == expected

    def pace(start: tuple[int, float], end: tuple[int, float]) -> float:
        return (end[0] - start[0]) / (end[1] - start[1])

    under_attack, calm = pace(attack_start, attack_end), pace(calm_start, calm_end)
    assert under_attack >= 0.8 * calm, (under_attack, calm, session)


@pytest.mark.slow
def test_signing_in_on_the_page(camera: Path, tmp_path: Path) -> None:
    """auth=accounts: a signed-out page asks for name and password, says what is wrong, and once signed in
    lists only this user's history and may start a session (the CSRF token goes with it)."""
    from server.auth import add_user
    from server.jobs.store import Store

    data = tmp_path / "data"
    store = Store(data / "coach.sqlite3")
    add_user(store, "dana", "dana-password-long")
    add_user(store, "eli", "eli-password-long")
    store.add_job("elijob", "pushup", "plain", "eli.mp4", data / "eli.video", owner="eli")
    store.close()
    settings = Settings.model_validate({"data_dir": data, "auth": "accounts"})
    with running_app(settings) as (base, _), chromium_with_camera(camera) as browser:
        for width, height in ((1280, 800), (390, 844)):
            page = browser.new_page()
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{base}/history.html")
            dialog = page.locator("dialog.sign-in")
            expect(dialog).to_be_visible()
            page.fill("dialog.sign-in input[name=name]", "dana")
            page.fill("dialog.sign-in input[name=password]", "wrong-password-x")
            page.click("dialog.sign-in button[type=submit]")
            expect(page.locator("dialog.sign-in .error")).to_have_text("wrong name or password")
            page.screenshot(path=str(tmp_path / f"sign-in-{width}.png"))
            page.fill("dialog.sign-in input[name=password]", "dana-password-long")
            page.click("dialog.sign-in button[type=submit]")
            expect(dialog).to_have_count(0)
            expect(page.locator("#history-empty")).to_be_visible()  # eli's job is not dana's
            status = page.evaluate(
                """async () => {
                     const { csrfHeaders } = await import('/auth.js');
                     const response = await fetch('/api/sessions', { method: 'POST',
                       headers: { 'Content-Type': 'application/json', ...(await csrfHeaders()) },
                       body: JSON.stringify({ exercise: 'pushup', persona: 'plain' }) });
                     return response.status; }"""
            )
            assert status == 201
            page.context.clear_cookies()
            page.close()


def test_the_pickers_remember_the_last_choice(camera: Path, live_app: tuple[str, Any]) -> None:
    """An exercise and a coach picked once are picked again on the next visit, on both pages; a link's
    ?exercise= still wins."""
    base, _ = live_app
    with chromium_with_camera(camera) as browser:
        page = browser.new_page()
        page.goto(f"{base}/")
        expect(page.locator("#exercise option")).to_have_count(SHIPPED)
        first = page.locator("#exercise option").first.get_attribute("value")
        assert page.input_value("#exercise") == first != "squat"  # nothing remembered yet: the first one
        page.select_option("#exercise", "squat")
        page.select_option("#persona", "hype_beast")
        page.reload()
        expect(page.locator("#exercise option")).to_have_count(SHIPPED)
        expect(page.locator("#exercise")).to_have_value("squat")
        expect(page.locator("#persona")).to_have_value("hype_beast")
        page.goto(f"{base}/upload.html")
        expect(page.locator("#exercise option")).to_have_count(SHIPPED)
        expect(page.locator("#exercise")).to_have_value("squat")
        page.goto(f"{base}/?exercise=pushup")
        expect(page.locator("#exercise option")).to_have_count(SHIPPED)
        expect(page.locator("#exercise")).to_have_value("pushup")
