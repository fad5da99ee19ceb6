"""The custom exercise builder in real Chromium (issue 15 item 4's acceptance): a custom exercise is
built in the page from a video of good reps, then the same video uploaded with that exercise gets its
reps counted."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from server.settings import Settings
from tests.support.harness import axe_violations, chromium_with_camera, horizontal_overflow, running_app
from tests.support.pages import small_targets

CLIP = "squat_side.mp4"


@pytest.mark.slow
def test_a_custom_exercise_built_in_the_page_counts_the_reps_of_an_upload(
    media: Path, labels: dict, tmp_path: Path
) -> None:
    expected = labels[CLIP]["reps"]
    settings = Settings.model_validate({"data_dir": tmp_path / "data"})
    # the fake camera is never opened on these pages: no clip needs converting for it
    with running_app(settings) as (base, _), chromium_with_camera(tmp_path / "no-camera.y4m") as browser:
        page = browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmation
        page.goto(f"{base}/custom.html")
        expect(page.locator("#custom-empty")).to_be_visible()
        page.set_input_files("#video", str(media / CLIP))
        page.click("#read")
        expect(page.locator("#draft")).to_be_visible(timeout=240_000)
        reps = page.locator("#found-reps .found-rep")
        assert reps.count() >= expected
        expect(page.locator("#found-reps input:checked")).to_have_count(expected)  # the real reps, ticked
        assert page.input_value("#driver") in ("knee_mean", "hip_mean")
        assert page.locator("#parts input:checked").count() == 2  # both legs
        assert page.locator("#curve svg rect.band.rep").count() == expected
        assert page.locator("#curve svg path.user").get_attribute("d")
        page.wait_for_load_state("networkidle")
        widths = page.evaluate(
            "() => [...document.querySelectorAll('#found-reps img')].map(i => i.complete ? i.naturalWidth : 0)"
        )
        assert all(0 < w <= 160 for w in widths), widths
        for width, height in ((1280, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(tmp_path / f"custom-{width}.png"), full_page=True)
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            assert scroll <= width, f"{scroll} px wide at {width}: sideways scrolling"
            assert axe_violations(page) == [] and small_targets(page) == [], width  # the found reps too
        page.fill("#display-name", "My squat")
        page.click("#save")
        expect(page.locator("#saved")).to_be_visible(timeout=60_000)
        expect(page.locator("#custom-list .custom-item")).to_have_count(1)
        assert "My squat" in page.inner_text("#custom-list")
        page.locator("#custom-list details.rules summary").click()  # its fault rules, on a phone
        assert horizontal_overflow(page) == 0 and axe_violations(page) == [] and small_targets(page) == []
        page.set_viewport_size({"width": 1280, "height": 900})

        # it is in the pickers at once: upload the same video with it
        page.goto(f"{base}/upload.html")
        expect(page.locator("#exercise option[value=my_squat]")).to_have_count(1)
        page.select_option("#exercise", "my_squat")
        page.set_input_files("#video", str(media / CLIP))
        page.click("#send")
        page.wait_for_url("**/report.html?job=*", timeout=240_000)
        page.wait_for_selector("#rep-table tbody tr", timeout=30_000)
        assert page.locator("#rep-table tbody tr").count() == expected
        assert page.inner_text("#report-reps") == str(expected)

        # rename and delete it in the page
        page.goto(f"{base}/custom.html")
        item = page.locator("#custom-list .custom-item[data-name=my_squat]")
        expect(item).to_have_count(1)
        item.locator("input.rename").fill("Prisoner squat")
        item.locator("button.rename-button").click()
        expect(page.locator("#custom-list")).to_contain_text("Prisoner squat")
        with urllib.request.urlopen(f"{base}/api/exercises") as answer:
            names = {e["name"]: e["display_name"] for e in json.load(answer)}
        assert names["my_squat"] == "Prisoner squat"
        page.locator("#custom-list .custom-item button.delete-button").click()
        expect(page.locator("#custom-list .custom-item")).to_have_count(0)
        expect(page.locator("#custom-empty")).to_be_visible()
