"""The history page (web_client/history.html, history.js, history.css) in headless Chromium at a desktop
(1280x800) and a phone (390x844) width, on a store seeded with several exercises, live sets and uploads
and one empty set: layout, accessibility, one trend line per exercise, the empty-set toggle, deleting
after a confirmation, the details links, and a failed request shown with what to do. One app and one
browser serve the module."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.jobs.store import JobErrorCode, Store
from server.settings import Settings
from tests.support.harness import (
    axe_violations,
    horizontal_overflow,
    running_app,
    widest_elements,
)
from tests.support.pages import plain_chromium

DAY = 86400.0
NOW = time.time()
SHOTS = Path(tempfile.gettempdir()) / "coach-history-shots"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def seed(data: Path) -> dict[str, str]:
    """Sets of several exercises, live and uploaded, over the last week; returns the ids by role."""
    clock = Clock()
    store = Store(data / "coach.sqlite3", clock=clock)

    def upload(job_id: str, days_ago: float, exercise: str, summary: dict[str, Any], name: str) -> None:
        clock.now = NOW - days_ago * DAY
        video = data / "uploads" / f"{job_id}.video"
        video.parent.mkdir(exist_ok=True)
        video.write_bytes(b"video")
        store.add_job(job_id, exercise, "plain", name, video)
        store.job_done(job_id, {"exercise": exercise, "summary": summary, "reps": [], "tips": []})

    def live(session_id: str, days_ago: float, exercise: str, summary: dict[str, Any], details: bool = True) -> None:
        at = NOW - days_ago * DAY
        info = {"id": session_id, "exercise": exercise, "persona": "plain", "end_reason": "stopped by the client"}
        result = {"exercise": exercise, "summary": summary, "reps": [], "tips": []} if details else None
        store.add_live_session(info, summary, at, result=result, ended_at=at + 120)

    live("live-push-old", 7, "pushup", {"reps": 5, "mean_score": 60.0}, details=False)
    upload("up-squat", 5, "squat", {"reps": 4, "mean_score": 64.0}, "squats-monday.mp4")
    live("live-push-1", 4, "pushup", {"reps": 6, "mean_score": 72.0})
    upload(
        "up-push",
        3,
        "pushup",
        {"reps": 5, "mean_score": 80.0},
        "a-very-long-file-name-from-my-phone-camera-2026-11-29.mp4",
    )
    upload("up-plank", 2, "plank", {"reps": 0, "holds": 1, "hold_total_s": 42.0, "mean_score": 90.0}, "plank.mp4")
    live("live-squat", 1.9, "squat", {"reps": 5, "mean_score": 70.0})
    live("live-push-2", 1, "pushup", {"reps": 8, "mean_score": 85.0})
    live("live-empty", 0.25, "pushup", {"reps": 0, "mean_score": None})
    clock.now = NOW - 0.05 * DAY
    store.add_job("up-failed", "squat", "plain", "dark.mp4", data / "uploads" / "dark.video")
    store.job_failed("up-failed", "nobody was found in the video: film your whole body", JobErrorCode.NO_PERSON)
    store.close()
    return {"live": "live-push-2", "empty": "live-empty", "old": "live-push-old", "upload": "up-push"}


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[str, Path]]:
    data = Path(tempfile.mkdtemp(prefix="coach-history-page-"))
    seed(data)
    settings = Settings.model_validate({"data_dir": data, "upload_retention_h": 1e6})
    with running_app(settings) as (base, _):
        yield base, data


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with plain_chromium() as chromium:
        yield chromium


def open_page(browser: Any, url: str, width: int, height: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("#history-table tbody tr")
    return page


def row_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#history-table tbody tr", "rows => rows.map(r => r.dataset.id)"))


def legend(page: Any) -> list[str]:
    """The trend's series (the date series left out)."""
    labels = page.eval_on_selector_all(".trend .u-legend .u-series .u-label", "ls => ls.map(l => l.textContent)")
    return list(labels[1:])


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_history_page_fits_reads_well_and_draws_one_line_per_exercise(
    app: tuple[str, Path], browser: Any, size: tuple[int, int]
) -> None:
    base, _ = app
    page = open_page(browser, f"{base}/history.html", *size)
    try:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"history-{size[0]}.png"), full_page=True)
        assert horizontal_overflow(page) == 0, widest_elements(page)
        assert axe_violations(page) == []
        # newest first, the empty set hidden and counted
        assert row_ids(page) == [
            "up-failed", "live-push-2", "live-squat", "up-plank", "up-push", "live-push-1", "up-squat", "live-push-old",
        ]  # fmt: skip
        assert "1 empty set (nothing counted) is hidden" in page.inner_text("#hidden-note")
        # one line per exercise with two scored sets or more; the exercise with one is named in words
        assert legend(page) == ["Push-up", "Squat"]
        assert "Plank: only one scored set so far" in page.inner_text("#trend-note")
        assert page.locator(".trend canvas").first.bounding_box()["width"] <= size[0]
        # rows say reps or time held, and how a live row and an upload differ
        row = page.locator('#history-table tr[data-id="up-plank"]')
        assert "42 s held" in row.inner_text() and "Upload" in row.inner_text()
        assert "8 reps" in page.locator('#history-table tr[data-id="live-push-2"]').inner_text()
        assert "details not recorded" in page.locator('#history-table tr[data-id="live-push-old"]').inner_text()
        failed = page.locator('#history-table tr[data-id="up-failed"]').inner_text()
        assert "failed: nobody was found" in failed and "Details" not in failed
        # every control a finger can hit is at least 44 px tall
        for selector in (
            "#exercise",
            "#kind",
            "label.check",
            "#history-table button.delete",
            "#history-table a.details",
        ):
            for box in [e.bounding_box() for e in page.locator(selector).all()]:
                assert box is not None and box["height"] >= 44 - 0.5, (selector, box)
    finally:
        page.close()


def test_filters_the_empty_set_toggle_and_the_details_link(app: tuple[str, Path], browser: Any) -> None:
    base, _ = app
    page = open_page(browser, f"{base}/history.html", 390, 844)
    try:
        assert "live-empty" not in row_ids(page)
        page.check("#show-empty")
        page.wait_for_selector('#history-table tr[data-id="live-empty"]')
        assert "0 reps (nothing counted)" in page.locator('#history-table tr[data-id="live-empty"]').inner_text()
        assert page.inner_text("#hidden-note") == "" and "empty=1" in page.url
        page.select_option("#exercise", "squat")
        page.wait_for_function("() => document.querySelectorAll('#history-table tbody tr').length === 3")
        assert row_ids(page) == ["up-failed", "live-squat", "up-squat"]
        assert legend(page) == ["Squat"]
        page.select_option("#kind", "live")
        page.wait_for_function("() => document.querySelectorAll('#history-table tbody tr').length === 1")
        assert row_ids(page) == ["live-squat"] and legend(page) == []
        assert page.inner_text("#trend-note") == (
            "Squat has one scored set so far: its trend appears after at least two scored sets."
        )
        assert axe_violations(page) == []
        # the filters are kept in the address: a reload shows the same
        page.reload()
        page.wait_for_selector('#history-table tr[data-id="live-squat"]')
        assert page.input_value("#exercise") == "squat" and page.input_value("#kind") == "live"
        # a live row's details open its report
        link = page.locator('#history-table tr[data-id="live-squat"] a.details')
        assert link.get_attribute("href") == "/report.html?session=live-squat"
        link.click()
        page.wait_for_url("**/report.html?session=live-squat")
        page.goto(f"{base}/history.html")
        page.wait_for_selector("#history-table tbody tr")
        href = page.locator('#history-table tr[data-id="up-push"] a.details').get_attribute("href")
        assert href == "/report.html?job=up-push"
    finally:
        page.close()


def test_deleting_asks_first_and_removes_the_row(app: tuple[str, Path], browser: Any) -> None:
    base, data = app
    page = open_page(browser, f"{base}/history.html", 1280, 800)
    try:
        # keyboard: the delete button opens the confirmation; Escape keeps the set
        page.locator('#history-table tr[data-id="up-squat"] button.delete').focus()
        page.keyboard.press("Enter")
        assert page.locator("#confirm-delete").is_visible()
        assert "Squat, upload squats-monday.mp4" in page.inner_text("#confirm-what")
        page.keyboard.press("Escape")
        assert not page.locator("#confirm-delete").is_visible() and "up-squat" in row_ids(page)
        assert page.evaluate("() => document.activeElement.closest('tr')?.dataset.id") == "up-squat"
        # confirmed: the row goes, the server forgets it, the upload's video is removed
        assert (data / "uploads" / "up-squat.video").is_file()
        page.locator('#history-table tr[data-id="up-squat"] button.delete').click()
        page.click("#confirm-ok")
        page.wait_for_function("() => !document.querySelector('#history-table tr[data-id=\"up-squat\"]')")
        assert "Deleted: Squat" in page.inner_text("#status")
        assert not (data / "uploads" / "up-squat.video").exists()
        assert page.evaluate("async () => (await (await fetch('/api/jobs/up-squat')).status)") == 404
        # one scored squat left: no squat line any more, said in words
        assert legend(page) == ["Push-up"] and "Squat" in page.inner_text("#trend-note")
        # a live set too
        page.locator('#history-table tr[data-id="live-push-1"] button.delete').click()
        page.click("#confirm-ok")
        page.wait_for_function("() => !document.querySelector('#history-table tr[data-id=\"live-push-1\"]')")
        status = page.evaluate("async () => (await fetch('/api/history/live/live-push-1')).status")
        assert status == 404
        # a tablet's width: cards too, nothing sticks out (hidden words in a table once did)
        page.set_viewport_size({"width": 700, "height": 800})
        page.wait_for_function("() => document.querySelector('.trend .u-wrap').offsetWidth <= 700")  # redrawn
        assert horizontal_overflow(page) == 0, widest_elements(page)
        assert page.eval_on_selector("#history-table tbody tr", "r => getComputedStyle(r).display") == "grid"
    finally:
        page.close()


def test_a_failed_request_says_what_to_do_and_tries_again(app: tuple[str, Path], browser: Any) -> None:
    base, _ = app
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.route("**/api/history?*", lambda route: route.abort())
        page.goto(f"{base}/history.html")
        problem = page.locator("#history-problem .problem")
        problem.wait_for()
        assert (
            "did not answer" in problem.inner_text()
            and "Check that the coach server is running" in problem.inner_text()
        )
        assert axe_violations(page) == []
        page.unroute("**/api/history?*")
        page.route(
            "**/api/history?*",
            lambda route: route.fulfill(status=503, content_type="application/json", body='{"detail": "busy"}'),
        )
        page.click("#history-problem button")
        page.wait_for_function("() => document.querySelector('#history-problem').innerText.includes('busy')")
        assert "try again in a minute" in page.inner_text("#history-problem")
        page.unroute("**/api/history?*")
        page.click("#history-problem button")
        page.wait_for_selector("#history-table tbody tr")
        assert page.locator("#history-problem").is_hidden()
    finally:
        page.close()
