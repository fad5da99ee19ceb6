"""The live coaching page (web_client/index.html, app.js, live-state.js, speech.js) and what it is fed:
the ``pose3d`` event of a live session, the page's state machine driven with an injected clock, and
whole sets in headless Chromium at a desktop and a phone width (3D view, voice, Stop at any moment,
layout, accessibility). One app and one browser serve every browser test of this module."""

from __future__ import annotations

import asyncio
import json
import re
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import expect

from lifting.lifter import WorldLandmarkLifter
from lifting.pose2d import MediaPipeBackend
from lifting.types import Pose3D
from realtime.events import Pose3DEvent
from realtime.manager import LiveOptions, SessionManager
from scoring.reference import Reference
from server.settings import Settings
from tests.support.harness import (
    axe_violations,
    chromium_with_camera,
    horizontal_overflow,
    running_app,
    to_y4m,
    widest_elements,
)
from tests.test_realtime import ClipTrack, _camera_frames, _drain, _tips


def test_a_pose3d_event_is_the_lifted_pose_in_millimetres() -> None:
    joints = np.arange(51, dtype=np.float32).reshape(17, 3) / 1234.5678
    event = Pose3DEvent.of(Pose3D(joints, 1000.04, "test")).as_json()
    assert set(event) == {"type", "t", "joints"} and event["type"] == "pose3d" and event["t"] == 1000.0
    assert len(event["joints"]) == 17 and all(len(j) == 3 for j in event["joints"])
    assert np.abs(np.array(event["joints"]) - joints).max() <= 0.0005  # rounded to the millimetre
    assert all(round(v * 1000) == pytest.approx(v * 1000, abs=1e-6) for j in event["joints"] for v in j)
    assert Pose3DEvent.of(Pose3D.missing(5.0, "test")).as_json()["joints"] is None
    broken = joints.copy()
    broken[4, 1] = np.nan  # a lifter's NaN is never sent as a number
    assert Pose3DEvent.of(Pose3D(broken, 5.0, "test")).as_json()["joints"] is None


@pytest.mark.slow
def test_a_live_session_sends_every_lifted_pose(media: Path, pushup: Reference) -> None:
    """Each processed frame's lifted pose goes out once as a ``pose3d``, after that frame's ``pose``, with
    17 root-relative joints in metres that make a human-sized skeleton; about half a kilobyte each."""
    frames = _camera_frames(media / "pushup_side_nasm.mp4", 45)

    async def run() -> list[dict[str, Any]]:
        manager = SessionManager(LiveOptions(), WorldLandmarkLifter(), MediaPipeBackend, lambda name: pushup, _tips())
        async with manager:
            session = await manager.create("pushup", "plain")
            drain = asyncio.create_task(_drain(session))
            manager.offer_received(session)
            manager.attach_track(session, ClipTrack(frames, session, paced=True))
            return await asyncio.wait_for(drain, 60)

    events = asyncio.run(run())
    poses = [e for e in events if e["type"] == "pose"]
    lifted = [e for e in events if e["type"] == "pose3d"]
    assert len(poses) == len(frames)
    assert [e["t"] for e in lifted] == [e["t"] for e in poses]  # one each, in order
    order = [(e["type"], e["t"]) for e in events if e["type"] in ("pose", "pose3d")]
    assert all(order.index(("pose", t)) < order.index(("pose3d", t)) for _, t in order if _ == "pose3d")
    skeleton = next(e for e in events if e["type"] == "status")["skeleton"]
    seen = [e for e, p in zip(lifted, poses, strict=True) if p["detected"]]
    assert len(seen) > 0.9 * len(frames)
    assert all(e["joints"] is None for e, p in zip(lifted, poses, strict=True) if not p["detected"])
    for event in seen:
        joints = np.array(event["joints"])
        assert joints.shape == (17, 3) and np.isfinite(joints).all()
        assert np.abs(joints[0]).max() <= 0.002  # root-relative: the pelvis at the origin
        bones = [np.linalg.norm(joints[a] - joints[b]) for a, b in skeleton["bones"]]
        assert min(bones) > 0.03 and max(bones) < 0.8, bones  # metres, an adult's bones
        height = joints[:, 1].max() - joints[:, 1].min()
        assert 0.2 < height < 2.2
    size = np.mean([len(json.dumps(e)) for e in seen])
    print(f"pose3d: {size:.0f} bytes of JSON per event")
    assert size < 700, f"a pose3d event is {size:.0f} bytes of JSON"


# -- the page in Chromium -------------------------------------------------------------------------------

CLIP = "pushup_side_nasm.mp4"
PORTRAIT_CLIP = "pushup_front_phone.mp4"

STUBS = """
window.__spoken = []; window.__cancels = 0; window.__streams = [];
class RecordedUtterance { constructor(text) { this.text = text; } }
Object.defineProperty(window, "SpeechSynthesisUtterance",
  { value: RecordedUtterance, configurable: true, writable: true });
Object.defineProperty(window, "speechSynthesis", { configurable: true, value: {
  speak(utterance) { window.__spoken.push(utterance.text); },
  cancel() { window.__cancels += 1; },
  getVoices() { return [{ name: "Test voice", lang: "en-GB", voiceURI: "test-voice" }]; },
  addEventListener() {},
} });
if (navigator.mediaDevices) {
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await open(constraints);
    window.__streams.push(stream);
    return stream;
  };
}
"""
"""Speech recorded instead of spoken (every utterance's text, every cancel), and every camera stream kept."""

LIVE_TRACKS = "() => window.__streams.flatMap((s) => s.getTracks()).filter((t) => t.readyState === 'live').length"

CANVAS_3D = """() => {
  const canvas = document.querySelector('#view3d canvas');
  if (!canvas) return null;
  const copy = document.createElement('canvas');
  copy.width = canvas.width; copy.height = canvas.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let drawn = 0;
  for (let i = 3; i < data.length; i += 4) drawn += data[i] > 0;
  return { drawn, total: data.length / 4, url: canvas.toDataURL() };
}"""
"""What the 3D view shows (a 2D copy of its WebGL canvas, which keeps its drawing buffer)."""


def pictographs(text: str) -> list[str]:
    """The characters of ``text`` that are no words: emoji and other symbols (Unicode category So),
    their modifiers and joiners."""
    return [
        ch
        for ch in text
        if unicodedata.category(ch) == "So" or ch in "\u200d\ufe0f\u20e3" or 0x1F3FB <= ord(ch) <= 0x1F3FF
    ]


@pytest.fixture(scope="module")
def camera(media: Path, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return to_y4m(media / CLIP, tmp_path_factory.mktemp("camera") / "pushup.y4m", 640, 360, 30)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings.model_validate({"data_dir": tmp_path_factory.mktemp("data")})
    with running_app(settings) as (base, _):
        yield base


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(camera: Path, playwright: Any) -> Iterator[Any]:
    with chromium_with_camera(camera, playwright) as context:
        context.add_init_script(STUBS)
        yield context


def open_page(browser: Any, url: str, width: int = 1280, height: int = 800) -> Any:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(url)
    expect(page.locator("#start")).to_be_enabled()  # the choices are loaded
    return page


def fits(page: Any) -> None:
    assert horizontal_overflow(page) == 0, f"the page scrolls sideways: {widest_elements(page)}"


def no_axe_violations(page: Any) -> None:
    found = axe_violations(page)
    assert found == [], json.dumps(found, indent=1)


def status(posture: str = "ready", advice: str | None = None, rep: int | None = None, reps: int = 0) -> dict[str, Any]:
    """A server status event with what the banner reads (realtime/events.py StatusEvent)."""
    messages = {
        "step_back": "step back: your head, hands and feet must stay in the picture",
        "come_closer": "come closer: you are small in the picture",
        "change_view": "the camera sees you from the front: film this exercise from the side",
    }
    message = messages.get(advice or "", "ready: start your Push-up reps")
    return {
        "type": "status", "state": "live", "posture": posture, "message": message, "advice": advice,
        "rep_in_progress": rep, "notice": None, "reps": reps, "kind": "reps", "holds": 0,
    }  # fmt: skip


def test_the_banner_holds_hints_against_flicker_and_follows_the_counter_at_once(browser: Any, app_url: str) -> None:
    """On a made-up clock: hints that change every 0.6 s never reach the banner; one that lasts 1 s does,
    and then stays 2.5 s; a rep starting or counted, and the user's Stop, show at once; a wrong view is
    its own warning, never the green ready."""
    timeline: list[tuple[int, str, dict[str, Any] | None]] = [
        (0, "set:connecting", None),
        (100, "observe", status("ready")),  # the first status replaces the page's own state at once
        *[
            (1000 + 600 * i, "observe", status(advice=a))
            for i, a in enumerate(
                ["step_back", None, "come_closer", "change_view", None, "step_back", "change_view", None]
            )
        ],
        (6000, "observe", status(advice="step_back")),
        (6500, "observe", status(advice="step_back")),
        (6990, "tick", None),
        (7000, "tick", None),  # held 1 s: shown
        (7200, "observe", status(advice="change_view")),
        (8300, "tick", None),  # confirmed, but step back has been shown only 1.3 s
        (9490, "tick", None),
        (9500, "tick", None),  # 2.5 s since it was shown
        (9600, "observe", status(rep=1)),  # the counter: at once
        (9700, "observe", status(rep=2, reps=1)),
        (9800, "observe", status(reps=2)),
        (9900, "observe", status(advice="come_closer", reps=2)),
        (9950, "set:idle", None),  # Stop
    ]
    page = open_page(browser, f"{app_url}/")
    shown = page.evaluate(
        """async (timeline) => {
             const { LiveState, fromStatus, view } = await import('/live-state.js');
             const machine = new LiveState();
             return timeline.map(([t, what, status]) => {
               if (what.startsWith('set:')) machine.set(view(what.slice(4)), t);
               else if (what === 'tick') machine.tick(t);
               else machine.observe(fromStatus(status, 'Push-up'), t);
               const s = machine.shown;
               return [t, s.state, s.tone, s.title];
             });
           }""",
        [list(step) for step in timeline],
    )
    states = {t: state for t, state, _, _ in shown}
    assert states[0] == "connecting" and states[100] == "ready"
    assert {states[t] for t in range(1000, 5201, 600)} == {"ready"}, shown  # the flicker never showed
    assert states[6500] == "ready" and states[6990] == "ready" and states[7000] == "frame"
    assert states[8300] == "frame" and states[9490] == "frame" and states[9500] == "wrong_view"
    assert states[9600] == "in_rep" and states[9700] == "in_rep" and states[9800] == "resting"
    assert states[9900] == "resting" and states[9950] == "idle"
    titles = {t: title for t, _, _, title in shown}
    assert titles[9600] == "Rep 1 under way" and titles[9700] == "Rep 2 under way" and titles[9800] == "Rep 2 counted"
    tones = {state: tone for _, state, tone, _ in shown}
    assert tones["wrong_view"] == tones["frame"] == "warn" and tones["ready"] == "go"

    words = page.evaluate(
        """async (cases) => { const { summaryWords } = await import('/live-state.js');
                              return cases.map((c) => summaryWords(c)); }""",
        [
            summary_of(reps=3, scores=(100, 100, 100), trend="n/a"),
            summary_of(reps=1, scores=(87,), trend="n/a"),
            summary_of(reps=4, scores=(70, 80, 90, 95), trend="improving", fault="hips_sag", fault_count=2),
            summary_of(kind="hold", holds=1, scores=(90,)),
            summary_of(kind="hold", holds=2, scores=(90, 80)),
        ],
    )
    text = [" ".join([w["title"], *w["lines"]]) for w in words]
    assert text[0] == "Set finished: 3 reps Every rep scored 100. No recurring fault."
    assert text[1] == "Set finished: 1 rep Score 87. No recurring fault."
    assert "Mean score 84 (best 95, worst 70); improving." in text[2] and "hips sag (2 of 4 reps)" in text[2]
    assert text[3].startswith("Set finished: 1 hold, 30.0 s held") and text[4].startswith(
        "Set finished: 2 holds, 60.0 s"
    )
    assert not any("n/a" in t or "100, worst 100" in t for t in text)
    page.close()


def summary_of(
    reps: int = 0,
    scores: tuple[float, ...] = (),
    trend: str = "steady",
    fault: str | None = None,
    fault_count: int = 0,
    kind: str = "reps",
    holds: int = 0,
) -> dict[str, Any]:
    """A server summary event's fields (scoring/types.py SetSummary)."""
    return {
        "reps": reps, "mean_score": sum(scores) / len(scores) if scores else None,
        "best_score": max(scores, default=None), "worst_score": min(scores, default=None), "trend": trend,
        "trend_per_rep": 0.0, "most_frequent_fault": fault, "most_frequent_fault_count": fault_count,
        "fault_counts": {}, "not_counted": 0, "looks_like": None, "kind": kind, "holds": holds,
        "hold_total_s": 30.0 * holds, "hold_longest_s": 30.0 if holds else 0.0,
    }  # fmt: skip


def test_spoken_text_has_no_emoji(browser: Any, app_url: str) -> None:
    samples = [
        "🔥 Rep 3 done! 💪🏽 Keep going 👍",
        "⚠ Hips sagging: squeeze your glutes 🍑",
        "Family 👨‍👩‍👧 and flags 🇬🇧 out, keycap 3️⃣ keeps its digit",
        "Plain words stay, 100%, #1 * 2.",
    ]
    page = open_page(browser, f"{app_url}/")
    spoken = page.evaluate(
        "async (samples) => { const { speakable } = await import('/speech.js'); return samples.map(speakable); }",
        samples,
    )
    page.close()
    assert all(pictographs(s) for s in samples[:3])  # the samples do carry emoji
    assert [pictographs(s) for s in spoken] == [[], [], [], []], spoken
    assert spoken[0] == "Rep 3 done! Keep going"
    assert spoken[1] == "Hips sagging: squeeze your glutes"
    assert spoken[2] == "Family and flags out, keycap 3 keeps its digit"
    assert spoken[3] == samples[3]


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844), (360, 740)])
def test_the_idle_page_fits_and_passes_axe(browser: Any, app_url: str, width: int, height: int) -> None:
    page = open_page(browser, f"{app_url}/", width, height)
    page.click("#voice summary")  # the voice choices open, as a user would see them
    fits(page)
    no_axe_violations(page)
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, select, summary, nav a, label.check, input[type=checkbox]')]
             .filter((el) => el.getClientRects().length)
             .map((el) => { const r = (el.closest('label') || el).getBoundingClientRect();
                            const name = el.id || el.textContent.trim().slice(0, 20);
                            return [name, Math.round(r.width), Math.round(r.height)]; })
             .filter(([, w, h]) => w < 44 || h < 44)"""
    )
    assert small == [], f"touch targets under 44 px: {small}"
    page.close()


@pytest.mark.slow
def test_a_live_set_with_the_3d_view_the_voice_and_stop(browser: Any, app_url: str) -> None:
    """A set with the hype coach (tips with emoji) and every kind of speech on (speak=1): the 3D view
    draws the lifted skeleton and moves with it, nothing spoken has an emoji, the countdown and the rep
    count are spoken; the page fits and passes axe at 1280 and 390 px during the set; Stop cancels the
    speech (nothing is said after it), turns the camera off, clears the frame counts and shows the summary card."""
    received: list[dict[str, Any]] = []
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(json.loads(payload))))
    page.goto(f"{app_url}/?countdown=3&exercise=pushup&persona=hype_beast&speak=1")
    expect(page.locator("#start")).to_be_enabled()
    page.click("#start")
    expect(page.locator("#countdown-overlay")).to_be_visible()
    expect(page.locator("#banner")).to_have_attribute("data-state", "countdown")
    page.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)
    expect(page.locator("#rep-count")).to_have_text("2", timeout=30_000)
    expect(page.locator("#rep-announce")).to_have_text(re.compile(r"^Rep 2 counted: score \d+\.$"))

    first = page.evaluate(CANVAS_3D)
    time.sleep(0.6)
    second = page.evaluate(CANVAS_3D)
    assert first is not None and second is not None, "no 3D view"
    assert first["drawn"] > 0.01 * first["total"], first["drawn"]
    assert first["url"] != second["url"], "the 3D view did not move with the person"
    fits(page)
    no_axe_violations(page)
    order = page.evaluate(
        """() => [...document.querySelectorAll('#reps .rep-card')]
                 .map((c) => [c.dataset.rep, c.getBoundingClientRect().top])"""
    )
    assert [int(n) for n, _ in order] == sorted((int(n) for n, _ in order), reverse=True)  # newest first in the DOM
    assert [top for _, top in order] == sorted(top for _, top in order)  # ... and on screen

    page.set_viewport_size({"width": 390, "height": 844})
    time.sleep(0.3)
    fits(page)
    no_axe_violations(page)
    stage = page.evaluate(
        """() => { const v = document.querySelector('#video');
                   const r = document.querySelector('#stage').getBoundingClientRect();
                   return [v.videoWidth / v.videoHeight, r.width / r.height]; }"""
    )
    assert stage[1] == pytest.approx(stage[0], rel=0.02), stage  # the stage has the camera's shape

    expect(page.locator("#stats")).to_contain_text("frames/s processed")
    cancels = page.evaluate("window.__cancels")
    page.click("#stop")
    page.wait_for_selector("#summary:not([hidden])", timeout=20_000)
    expect(page.locator("#stats")).to_be_hidden()  # the live frame counts went with the set (not stale)
    spoken_at_stop = page.evaluate("window.__spoken.length")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "idle", timeout=20_000)
    expect(page.locator("#tips .tip[data-kind=summary]")).to_have_count(1, timeout=20_000)
    assert page.evaluate("window.__cancels") > cancels, "Stop did not cancel the speech"
    assert page.evaluate(LIVE_TRACKS) == 0, "the camera is still on after Stop"
    expect(page.locator("#live-view")).to_be_hidden()
    expect(page.locator("#banner")).to_have_attribute("data-state", "ended")
    spoken: list[str] = page.evaluate("window.__spoken")
    page.close()

    assert len(spoken) == spoken_at_stop, f"spoken after Stop: {spoken[spoken_at_stop:]}"
    assert spoken[:4] == ["3", "2", "1", "Go!"], spoken  # the countdown
    reps = [e["rep"] for e in received if e["type"] == "rep"]
    assert [str(n) for n in reps[:2]] == [s for s in spoken[4:] if s.isdigit()][:2], spoken  # each rep's count
    tips = [e["text"] for e in received if e["type"] == "tip"]
    assert any(pictographs(t) for t in tips), "the coach's tips carried no emoji: the test proves nothing"
    assert [s for s in spoken if pictographs(s)] == []
    words = [re.findall(r"\w+", s) for s in spoken]
    assert any(re.findall(r"\w+", t) in words for t in tips), f"no tip was spoken: {spoken}"
    summary = next(e for e in received if e["type"] == "summary")
    assert summary["reps"] >= 2
    lifted = [e for e in received if e["type"] == "pose3d"]
    assert len(lifted) > 0.8 * len([e for e in received if e["type"] == "pose"])


def test_stop_during_the_countdown_returns_to_idle(browser: Any, app_url: str) -> None:
    """Started and stopped from the keyboard in the middle of the countdown."""
    page = open_page(browser, f"{app_url}/?countdown=10&exercise=pushup&persona=plain&speak=1")
    page.focus("#start")
    page.keyboard.press("Enter")
    expect(page.locator("#countdown-overlay")).to_be_visible()
    expect(page.locator("#stop")).to_be_focused()  # Enter or Space stops from here
    assert page.evaluate(LIVE_TRACKS) == 1
    cancels = page.evaluate("window.__cancels")
    page.keyboard.press("Space")
    expect(page.locator("#start")).to_be_focused()
    expect(page.locator("#stop")).to_be_disabled()
    expect(page.locator("#countdown-overlay")).to_be_hidden()
    expect(page.locator("#live-view")).to_be_hidden()
    expect(page.locator("#summary")).to_contain_text("Stopped before the set began")
    expect(page.locator("#banner")).to_have_attribute("data-state", "idle")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "idle")
    assert page.evaluate(LIVE_TRACKS) == 0, "the camera is still on after Stop"
    assert page.evaluate("window.__cancels") > cancels
    spoken = page.evaluate("window.__spoken.length")
    time.sleep(1.5)  # the countdown's next seconds: nothing more is said or shown
    assert page.evaluate("window.__spoken.length") == spoken
    expect(page.locator("#countdown-overlay")).to_be_hidden()
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "idle")
    page.close()


def test_failed_requests_say_what_to_do(browser: Any, app_url: str) -> None:
    """The server unreachable at load, a session refused, an offer refused: each is shown with what
    happened and what to do, and the page recovers."""
    page = browser.new_page()
    page.route("**/api/exercises", lambda route: route.abort())
    page.goto(f"{app_url}/?countdown=0&exercise=pushup&persona=plain")
    problem = page.locator("#problem .problem")
    expect(problem).to_contain_text("The coach server did not answer.")
    expect(problem).to_contain_text("Check that the coach server is running")
    expect(page.locator("#start")).to_be_disabled()
    page.unroute("**/api/exercises")
    problem.get_by_role("button", name="Try again").click()
    expect(page.locator("#start")).to_be_enabled()
    expect(page.locator("#problem")).to_be_hidden()

    busy = {
        "status": 503,
        "content_type": "application/json",
        "body": json.dumps({"detail": "the server already coaches 4 live sessions"}),
    }
    page.route("**/api/sessions", lambda route: route.fulfill(**busy))
    page.click("#start")
    expect(problem).to_contain_text("the server already coaches 4 live sessions")
    expect(problem).to_contain_text("The server is busy: try again in a minute.")
    expect(page.locator("#start")).to_be_enabled()
    assert page.evaluate(LIVE_TRACKS) == 0
    page.unroute("**/api/sessions")

    gone = {"status": 409, "content_type": "application/json", "body": json.dumps({"detail": "session x is closed"})}
    page.route("**/offer", lambda route: route.fulfill(**gone))
    page.click("#start")
    expect(problem).to_contain_text("The server refused the video connection: session x is closed")
    expect(problem).to_contain_text("press Start again")
    expect(page.locator("#banner")).to_have_attribute("data-state", "error")
    expect(page.locator("#start")).to_be_enabled()
    assert page.evaluate(LIVE_TRACKS) == 0
    page.close()


def test_a_portrait_camera_is_shown_portrait(
    media: Path, ffmpeg: str, app_url: str, tmp_path: Path, playwright: Any
) -> None:
    portrait = to_y4m(media / PORTRAIT_CLIP, tmp_path / "portrait.y4m", 360, 640, 30)
    with chromium_with_camera(portrait, playwright) as context:
        context.add_init_script(STUBS)
        page = open_page(context, f"{app_url}/?countdown=10&exercise=pushup&persona=plain", 390, 844)
        page.click("#start")
        expect(page.locator("#countdown-overlay")).to_be_visible()
        deadline = time.monotonic() + 10
        while page.evaluate("() => document.querySelector('#video').videoWidth") == 0:
            assert time.monotonic() < deadline, "the camera picture never arrived"
            time.sleep(0.1)
        time.sleep(0.2)
        video, stage = page.evaluate(
            """() => { const v = document.querySelector('#video');
                       const r = document.querySelector('#stage').getBoundingClientRect();
                       return [[v.videoWidth, v.videoHeight], [r.width, r.height]]; }"""
        )
        assert video[1] > video[0], video  # the camera is portrait
        assert stage[1] > stage[0] and stage[0] / stage[1] == pytest.approx(video[0] / video[1], rel=0.02), stage
        fits(page)
        page.click("#stop")
        expect(page.locator("#start")).to_be_enabled()
        page.close()


def test_stop_while_the_connection_stalls(browser: Any, app_url: str) -> None:
    """The video offer never answered (a stalled connection): Stop still returns to idle at once, turns
    the camera off and ends the session on the server."""
    page = open_page(browser, f"{app_url}/?countdown=0&exercise=pushup&persona=plain")
    stalled: list[Any] = []
    page.route("**/offer", lambda route: stalled.append(route))  # never answered
    ended: list[str] = []
    page.on("request", lambda request: ended.append(request.url) if request.method == "DELETE" else None)
    page.click("#start")
    expect(page.locator("#banner")).to_have_attribute("data-state", "connecting")
    deadline = time.monotonic() + 10
    while not stalled:
        assert time.monotonic() < deadline, "the offer was never sent"
        page.wait_for_timeout(50)
    page.click("#stop")
    expect(page.locator("#start")).to_be_enabled()
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "idle")
    expect(page.locator("#summary")).to_contain_text("Stopped before the set began")
    assert page.evaluate(LIVE_TRACKS) == 0
    deadline = time.monotonic() + 5
    while not ended:
        assert time.monotonic() < deadline, "the session was not ended on the server"
        page.wait_for_timeout(50)
    assert "/api/sessions/" in ended[0]
    page.unroute_all(behavior="ignoreErrors")
    page.close()


def test_the_voice_choices_are_remembered(browser: Any, app_url: str) -> None:
    """Each kind of speech is switched on its own and remembered; a voice is remembered per coach."""
    page = open_page(browser, f"{app_url}/?persona=plain")
    page.click("#voice summary")
    boxes = ["#speak", "#speak-reps", "#speak-countdown", "#speak-guidance"]
    assert [page.is_checked(box) for box in boxes] == [False] * 4
    expect(page.locator("#voice-summary")).to_have_text("off")
    page.check("#speak-reps")
    page.check("#speak-countdown")
    expect(page.locator("#voice-summary")).to_have_text("count, countdown")
    page.select_option("#voice-name", "test-voice")
    page.select_option("#persona", "hype_beast")
    expect(page.locator("#voice-name")).to_have_value("")  # another coach: its own voice
    page.reload()
    expect(page.locator("#start")).to_be_enabled()
    assert [page.is_checked(box) for box in boxes] == [False, True, True, False]
    expect(page.locator("#voice-name")).to_have_value("test-voice")  # ?persona=plain again
    page.goto(f"{app_url}/?persona=plain&speak=1")  # the URL's speak=1 turns every kind on
    expect(page.locator("#start")).to_be_enabled()
    assert [page.is_checked(box) for box in boxes] == [True] * 4
    page.close()
