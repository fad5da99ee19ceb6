"""End to end in real Chromium: the page streams a fake camera (a real push-up clip) over WebRTC to
the app, which counts and scores the reps and pushes events back over the WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from server.services import services_of
from server.settings import Settings
from tests.conftest import with_drill_sergeant
from tests.support.harness import chromium_with_camera, running_app, to_y4m

CLIP = "pushup_side_nasm.mp4"


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
        page.wait_for_function("document.querySelector('#exercise').options.length === 2")
        assert "Camera: side view" in page.inner_text("#camera-hint")
        assert page.locator("#persona option[value=drill_sergeant]").inner_text() == "Drill Sergeant"
        page.click("#start")
        page.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)

        # One pass of the clip (the fake camera then loops it): every labelled rep shows up.
        page.wait_for_function(
            f"document.querySelector('#rep-count').textContent === '{expected}'", timeout=(duration + 8) * 1000
        )
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
    assert len(poses) > 25 * duration * 0.8 and sum(p["detected"] for p in poses) > 0.9 * len(poses)
    summary = next(e for e in received if e["type"] == "summary")
    assert summary["reps"] == expected and summary["reason"] == "stopped by the client"

    info = services_of(app).manager.ended[-1]
    assert info["reps"] == expected and info["state"] == "closed"
    assert info["frames_processed"] > 0.8 * info["frames_received"]
    assert info["pose_latency_ms"]["count"] == info["frames_processed"]


@pytest.mark.slow
def test_an_upload_through_the_page(camera: Path, live_app: tuple[str, Any], media: Path, labels: dict) -> None:
    base, _ = live_app
    clip = "pushup_front_phone.mp4"
    expected = labels[clip]["reps"]
    with chromium_with_camera(camera) as browser:
        page = browser.new_page()
        page.goto(f"{base}/upload.html")
        page.wait_for_function("document.querySelector('#exercise').options.length === 2")
        assert page.locator("#persona option[value=drill_sergeant]").count() == 1
        page.select_option("#persona", "data_scientist")
        page.set_input_files("#video", str(media / clip))
        page.select_option("#exercise", "pushup")
        page.click("#send")
        page.wait_for_url("**/report.html?job=*", timeout=180_000)
        page.wait_for_selector("#rep-table tbody tr", timeout=30_000)
        assert page.locator("#rep-table tbody tr").count() == expected
        assert page.inner_text("#report-reps") == str(expected)
        assert page.locator("#score-chart svg rect.bar").count() == expected
        charts = page.locator("#angle-charts .angle-chart")
        assert charts.count() >= 3
        assert charts.first.locator("path.user").get_attribute("d")
        assert charts.first.locator("path.reference").get_attribute("d")
        assert page.locator("#feedback .tip").count() >= 1
        assert "coach data_scientist" in page.inner_text("body")
        page.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=30_000)

        page.goto(f"{base}/history.html")
        page.wait_for_selector("#history-table tbody tr")
        assert page.locator("#history-table tbody tr", has_text=clip).count() == 1
        assert page.locator("#trend-chart svg").count() == 1
