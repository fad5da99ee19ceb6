"""The report page (web_client/report.html) in headless Chromium on a real analysed clip, at a desktop
and a phone width: it fits, passes axe, marks the reps and faults on the angle charts, shows a 3D view
that follows the video, draws no skeleton where nobody was found, opens live sets, and says what went
wrong when a request fails."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from server.settings import Settings
from tests.support.harness import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    axe_violations,
    horizontal_overflow,
    running_app,
    widest_elements,
)

CLIP = "pushup_front_phone.mp4"
"""2 push-ups, the second with sagging hips (a safety fault): short, so the analysis is quick."""
SIZES = [(1280, 800), (390, 844)]
DETAIL = ("curves", "keypoints", "poses_3d", "reference_poses_3d", "reference_frame", "skeleton", "image_size")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """The app, one analysed upload of ``CLIP`` (job id and job) and one Chromium for the module."""
    settings = Settings.model_validate({"data_dir": tmp_path_factory.mktemp("data")})
    with running_app(settings) as (base, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS))
        request = playwright.request.new_context(base_url=base)
        video = {"name": CLIP, "mimeType": "video/mp4", "buffer": (media / CLIP).read_bytes()}
        answer = request.post("/api/analyze", multipart={"video": video, "exercise": "pushup", "persona": "plain"})
        assert answer.status == 202, answer.text()
        job_id = answer.json()["job_id"]
        deadline = time.monotonic() + 240
        while (job := request.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, "the analysis did not finish"
            time.sleep(0.3)
        assert job["status"] == "done", job
        job["id"] = job_id
        try:
            yield base, job, browser
        finally:
            request.dispose()
            browser.close()


def open_report(browser: Any, url: str, size: tuple[int, int]) -> Page:
    page: Page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page._report_errors = errors  # type: ignore[attr-defined]
    return page


def fits_and_passes_axe(page: Page) -> None:
    assert horizontal_overflow(page) == 0, widest_elements(page)
    assert axe_violations(page) == []


CANVAS_PIXELS = """(selector) => {
    const source = document.querySelector(selector);
    const copy = document.createElement('canvas');
    copy.width = source.width; copy.height = source.height;
    const ctx = copy.getContext('2d');
    ctx.drawImage(source, 0, 0);
    const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
    let drawn = 0, sum = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0) {
            drawn += 1;
            sum = (sum + data[i] * 7 + data[i + 1] * 13 + data[i + 2] * 17 + i) % 1000000007;
        }
    }
    return [drawn, sum];
}"""


def video_loaded(page: Page) -> None:
    deadline = time.monotonic() + 30
    while page.evaluate("() => document.querySelector('#player').readyState") < 1:
        assert time.monotonic() < deadline, "the player never loaded the video"
        time.sleep(0.1)


def seek(page: Page, times_ms: list[float], seconds: float) -> None:
    """Put the video at the frame shown at ``seconds`` and wait for the page to show that frame."""
    frame = max(i for i, t in enumerate(times_ms) if t <= seconds * 1000 or i == 0)
    page.evaluate("(t) => { document.querySelector('#player').currentTime = t; }", times_ms[frame] / 1000 + 0.001)
    expect(page.locator("#view-caption")).to_contain_text(f"{times_ms[frame] / 1000:.1f} s,", timeout=10_000)
    page.wait_for_timeout(300)  # the 3D view renders on the next animation frame


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}px")
def test_an_upload_report_fits_passes_axe_and_marks_the_reps(
    served: tuple[str, dict, Any], size: tuple[int, int]
) -> None:
    base, job, browser = served
    result = job["result"]
    reps = result["reps"]
    page = open_report(browser, f"{base}/report.html?job={job['id']}", size)
    charts = page.locator("#angle-charts .angle-chart")
    expect(charts.first.locator("canvas").first).to_be_visible(timeout=20_000)
    assert charts.count() == len(result["curves"]["angles"])
    first = charts.first
    # one box per rep, each with its turning point and number; a fault mark over each rep that had one
    assert first.locator(".rep-band").count() == len(reps) >= 2
    assert first.locator(".rep-band .rep-turn").count() == len(reps)
    assert [first.locator(".rep-band").nth(i).get_attribute("data-rep") for i in range(len(reps))] == [
        f"rep {r['index']}" for r in reps
    ]
    faulty = [r for r in reps if r["faults"]]
    assert faulty, "the clip's second rep sags: a fault mark is expected"
    # the sagging hips (a fault of the core) are marked on the body line, not on the elbows
    assert "hips_sag" in {f["id"] for f in faulty[0]["faults"]}
    body_line = charts.filter(has=page.get_by_role("heading", name="body line", exact=True))
    elbow = charts.filter(has=page.get_by_role("heading", name="elbow l", exact=True))
    sag = body_line.locator(".fault-mark", has_text="hips sag")
    assert sag.count() == 1 and "hips sag (safety)" in (sag.get_attribute("aria-label") or "")
    assert elbow.locator(".fault-mark", has_text="hips sag").count() == 0
    expect(sag.locator(".fault-tip")).to_be_hidden()
    sag.focus()  # keyboard users read it too
    expect(sag.locator(".fault-tip")).to_be_visible()
    assert "safety: hips sag" in sag.locator(".fault-tip").inner_text()
    sag.blur()
    # ... where it was measured: over the phase the server names, with the phase's words and a bar as long
    [fault] = [f for f in faulty[0]["faults"] if f["id"] == "hips_sag"]
    start, end = fault["details"]["phase_start_ms"] / 1000, fault["details"]["phase_end_ms"] / 1000
    assert fault["details"]["where"] in (sag.get_attribute("aria-label") or "")
    band = body_line.locator(f'.rep-band[data-rep="rep {faulty[0]["index"]}"]').bounding_box()
    dot, bar = sag.bounding_box(), body_line.locator(".fault-span").bounding_box()
    assert band and dot and bar
    per_s = band["width"] / ((faulty[0]["end_ms"] - faulty[0]["start_ms"]) / 1000)  # the band spans the rep
    x_of = lambda t: band["x"] + (t - faulty[0]["start_ms"] / 1000) * per_s  # noqa: E731
    assert x_of(start) - 3 <= dot["x"] + dot["width"] / 2 <= x_of(end) + 3, (start, end, dot, band)
    assert bar["x"] == pytest.approx(x_of(start), abs=3) and bar["x"] + bar["width"] == pytest.approx(x_of(end), abs=3)
    # the legend stays one line at either width, with the cursor's values in it
    over = body_line.locator(".u-over").bounding_box()
    assert over
    page.mouse.move(x_of((start + end) / 2), over["y"] + over["height"] / 2)
    expect(body_line.locator(".u-legend")).to_contain_text("°")
    rows = page.evaluate(
        "() => [...document.querySelectorAll('.u-legend')].map(l => [...l.querySelectorAll('tr')]"
        ".map(r => Math.round(r.getBoundingClientRect().top)))"
    )
    assert rows and all(len(set(r)) == 1 for r in rows), rows
    page.mouse.move(0, 0)
    # axes readable: the uPlot axis text is drawn at 12 px or more
    fonts = page.evaluate(
        "() => [...document.querySelectorAll('#angle-charts canvas')].map(c => c.getContext('2d').font)"
    )
    assert fonts and all(int(f.split("px")[0].split()[-1]) >= 12 for f in fonts), fonts
    # the score bars: one per rep, numbers written on them; the summary in plain words
    assert page.locator("#score-chart svg rect.bar").count() == len(reps)
    bar_text = page.locator("#score-chart svg text.bar-value")
    assert bar_text.count() == len(reps)
    assert bar_text.first.evaluate("t => parseFloat(getComputedStyle(t).fontSize)") >= 12
    summary = page.inner_text("#report-summary")
    assert "n/a" not in summary and "best 100, worst 100" not in summary
    top = page.locator("#top-fault")
    assert "safety" in top.inner_text() and "⚠" in top.inner_text()  # severity as a word and an icon
    assert page.locator("#legend dt").count() >= 5
    assert page.locator("#reference-note").inner_text().startswith("aligned by DTW")
    fits_and_passes_axe(page)
    touch = page.evaluate(
        "() => [...document.querySelectorAll('nav a, #moment, .problem button, .fault-mark')]"
        ".map(e => Math.round(e.getBoundingClientRect().height))"
    )
    assert min(touch) >= 44, touch
    assert page._report_errors == []  # type: ignore[attr-defined]
    page.close()


def test_the_3d_view_follows_the_video_with_the_reference_in_reps(served: tuple[str, dict, Any]) -> None:
    base, job, browser = served
    reps = job["result"]["reps"]
    times = job["result"]["curves"]["timestamps_ms"]
    page = open_report(browser, f"{base}/report.html?job={job['id']}", (1280, 800))
    expect(page.locator("#skeleton3d canvas")).to_be_visible(timeout=20_000)
    video_loaded(page)
    before = reps[0]["start_ms"] / 1000 - 0.5
    seek(page, times, max(0.1, before))
    assert "you only" in page.inner_text("#view-caption")
    drawn_before, signature_before = page.evaluate(CANVAS_PIXELS, "#skeleton3d canvas")
    bottom = reps[-1]["bottom_ms"] / 1000
    seek(page, times, bottom)
    assert "the reference" in page.inner_text("#view-caption")
    drawn_at, signature_at = page.evaluate(CANVAS_PIXELS, "#skeleton3d canvas")
    assert drawn_before > 2000 and drawn_at > 2000, (drawn_before, drawn_at)  # a figure and the floor grid
    assert signature_at != signature_before
    # the charts' cursor line follows the video
    assert page.locator("#angle-charts .now-line").first.is_visible()
    # the charts follow the page's width: turned to a phone, nothing sticks out
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    assert horizontal_overflow(page) == 0, widest_elements(page)
    widths = page.evaluate("() => [...document.querySelectorAll('#angle-charts canvas')].map(c => c.clientWidth)")
    assert widths and max(widths) <= 390, widths
    page.close()


def test_frames_without_a_person_draw_no_skeleton(served: tuple[str, dict, Any]) -> None:
    base, job, browser = served
    body = json.loads(json.dumps(job))
    times = body["result"]["curves"]["timestamps_ms"]
    empty = [i for i, t in enumerate(times) if 1000 <= t <= 3000]
    for i in empty:  # nobody found here: a null frame, or (a report stored before) null joints
        body["result"]["keypoints"][i] = None if times[i] < 2000 else [[None, None]] * 17
        body["result"]["poses_3d"][i] = None
    page: Page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.route(f"**/api/jobs/{job['id']}", lambda route: route.fulfill(json=body))
    page.goto(f"{base}/report.html?job={job['id']}")
    expect(page.locator("#skeleton3d canvas")).to_be_visible(timeout=20_000)
    video_loaded(page)
    for moment in (1.5, 2.5):
        seek(page, times, moment)
        assert page.evaluate(CANVAS_PIXELS, "#player-overlay")[0] == 0, moment
        assert "nobody seen" in page.inner_text("#view-caption")
    seek(page, times, 5.0)
    assert page.evaluate(CANVAS_PIXELS, "#player-overlay")[0] > 200  # the same check sees a skeleton
    page.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}px")
def test_a_live_set_shows_what_it_has_and_says_what_it_has_not(
    served: tuple[str, dict, Any], size: tuple[int, int]
) -> None:
    base, job, browser = served
    live = {k: v for k, v in job["result"].items() if k not in DETAIL}
    live |= {"source": "live", "session_id": "s1", "started_at": 1767225600.0, "ended_at": 1767225660.0,
             "end_reason": "stopped by the client", "details_recorded": True}  # fmt: skip
    page: Page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.route("**/api/history/live/s1", lambda route: route.fulfill(json=live))
    page.goto(f"{base}/report.html?session=s1")
    expect(page.locator("#rep-table tbody tr")).to_have_count(len(live["reps"]), timeout=20_000)
    assert "live set" in page.inner_text("#report-summary h2")
    expect(page.locator("#live-note")).to_be_visible()
    assert "no video" in page.inner_text("#live-note")
    expect(page.locator("#media-panel")).to_be_hidden()
    expect(page.locator("#angles-panel")).to_be_hidden()
    assert page.locator("#score-chart svg rect.bar").count() == len(live["reps"])
    fits_and_passes_axe(page)
    page.close()


def test_a_holds_fault_marks_sit_at_each_episodes_start(served: tuple[str, dict, Any]) -> None:
    """A hold with two episodes of one fault: a mark at each episode's start, over a bar as long as it
    lasted (not one mark in the middle of the hold). The analysed clip's curves, with its two reps'
    span made one hold."""
    base, job, browser = served
    result = job["result"]
    reps = result["reps"]
    t0, t1 = reps[0]["start_ms"], reps[-1]["end_ms"]
    episodes = [(t0 / 1000 + 0.4, 0.8), (t1 / 1000 - 1.2, 0.9)]  # (start_s, duration_s): seconds of the video
    faults = [
        {"id": "hips_sag", "message": f"hips sag 15 deg below the line for {d:.1f} s from {a:.1f} s", "value": 15.0,
         "reference": 0.0, "severity": "safety", "body_parts": ["core"], "kind": "offset", "phase": "hold",
         "details": {"value": 15.0, "reference": 0.0, "delta": 15.0, "phase": "hold", "start_s": a, "duration_s": d}}
        for a, d in episodes
    ]  # fmt: skip
    hold = {"index": 1, "start_ms": t0, "end_ms": t1, "start_frame": reps[0]["start_frame"],
            "end_frame": reps[-1]["end_frame"], "score": 70.0, "duration_s": (t1 - t0) / 1000, "held_share": 0.8,
            "fault_s": 1.7, "faults": faults, "checks_skipped": {}}  # fmt: skip
    summary = result["summary"] | {"kind": "hold", "holds": 1, "hold_total_s": hold["duration_s"],
                                   "hold_longest_s": hold["duration_s"], "mean_score": 70.0}  # fmt: skip
    held = job | {"result": result | {"kind": "hold", "reps": [], "holds": [hold], "summary": summary}}
    page: Page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.route("**/api/jobs/held", lambda route: route.fulfill(json=held))
    page.goto(f"{base}/report.html?job=held")
    body_line = page.locator("#angle-charts .angle-chart").filter(
        has=page.get_by_role("heading", name="body line", exact=True)
    )
    marks = body_line.locator(".fault-mark")
    expect(marks).to_have_count(2, timeout=20_000)
    band = body_line.locator(".rep-band").bounding_box()
    assert band
    x_of = lambda t: band["x"] + (t - t0 / 1000) * band["width"] / ((t1 - t0) / 1000)  # noqa: E731
    bars = body_line.locator(".fault-span")
    for i, (start, duration) in enumerate(episodes):
        dot, bar = marks.nth(i).bounding_box(), bars.nth(i).bounding_box()
        assert dot and bar
        assert dot["x"] + dot["width"] / 2 == pytest.approx(x_of(start), abs=3), (i, dot, x_of(start))
        assert bar["x"] == pytest.approx(x_of(start), abs=3)
        assert bar["x"] + bar["width"] == pytest.approx(x_of(start + duration), abs=3)
        assert f"from {start:.1f} s for {duration:.1f} s" in (marks.nth(i).get_attribute("aria-label") or "")
    page.close()


def test_failures_say_what_happened_and_what_to_do(served: tuple[str, dict, Any]) -> None:
    base, _, browser = served
    page: Page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/report.html?job=not-a-job")
    problem = page.locator("#report-error .problem")
    expect(problem).to_be_visible(timeout=10_000)
    assert "not-a-job" in problem.inner_text() and "go back to the list" in problem.inner_text()
    expect(page.locator("#report-summary")).to_be_hidden()
    fits_and_passes_axe(page)

    def down(route: Route) -> None:
        route.abort("connectionrefused")

    page.route("**/api/history/live/*", down)
    page.goto(f"{base}/report.html?session=s2")
    expect(problem).to_contain_text("did not answer", timeout=10_000)
    assert "server is running" in problem.inner_text()
    page.unroute("**/api/history/live/*")
    page.route("**/api/history/live/*", lambda route: route.fulfill(json={"detail": "no live set 's2'"}, status=404))
    page.get_by_role("button", name="Try again").click()
    expect(problem).to_contain_text("no live set 's2'")
    page.goto(f"{base}/report.html")
    expect(problem).to_contain_text("No set was chosen")
    page.close()


def test_without_its_video_the_slider_still_moves_the_3d_view(served: tuple[str, dict, Any]) -> None:
    base, job, browser = served
    body = {**job, "video_url": None, "video_available": False}  # removed by the retention policy
    bottom = job["result"]["reps"][0]["bottom_frame"]
    times = job["result"]["curves"]["timestamps_ms"]
    page: Page = browser.new_page(viewport={"width": 390, "height": 844})
    page.route(f"**/api/jobs/{job['id']}", lambda route: route.fulfill(json=body))
    page.goto(f"{base}/report.html?job={job['id']}")
    expect(page.locator("#video-note")).to_contain_text("removed by the retention policy", timeout=20_000)
    expect(page.locator("#player")).to_be_hidden()
    slider = page.locator("#moment")
    slider.focus()
    slider.fill(str(bottom))  # the keyboard or a finger on a phone
    expect(page.locator("#view-caption")).to_contain_text(f"{times[bottom] / 1000:.1f} s, rep 1")
    assert "the reference" in page.inner_text("#view-caption")
    fits_and_passes_axe(page)
    page.close()
