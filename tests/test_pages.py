"""The pages as a person meets them (issue 16): the upload and custom pages on a laptop and a phone
(no sideways scrolling, axe-core clean, 44 px targets, a focus ring for the keyboard, failed requests
shown with what to do), the API docs with no network but this server, the installable app (manifest,
icons, service worker) and its offline shell, and the shared style sheet's colours (WCAG AA).

One app and one browser for the module; each browser test opens its own context (own service worker
and cache).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from server.app import create_app
from server.pwa import WorkerTemplateError, shell_files, worker_script
from server.settings import Settings
from tests.support.harness import axe_violations, horizontal_overflow, running_app, widest_elements
from tests.support.pages import (
    contrast,
    css_colour_pairs,
    css_variables,
    focus_without_ring,
    plain_chromium,
    small_targets,
)

WEB = Path(__file__).resolve().parents[1] / "web_client"
SIZES = [(1280, 800), (390, 844)]
PAGES = {
    # page -> a selector that shows the page has loaded its data
    "upload.html": "#exercise option",
    "custom.html": "#custom-empty:not([hidden])",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The app without its lifespan (no models): the pages, docs and PWA files need none."""
    data = tmp_path_factory.mktemp("pages-client")
    return TestClient(create_app(Settings.model_validate({"data_dir": data, "allowed_hosts": ["testserver"]})))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings.model_validate({"data_dir": tmp_path_factory.mktemp("pages-app")})
    with running_app(settings) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with plain_chromium() as b:
        yield b


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    try:
        yield ctx
    finally:
        ctx.close()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# -- the API docs ------------------------------------------------------------------------------------------


def test_the_docs_page_names_nothing_outside_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in page.text and "https://" not in page.text and "<script>" not in page.text
    for url in urls:  # every script and style sheet it loads is served here
        assert client.get(url).status_code == 200, url
    start = client.get("/docs/assets/start.js")
    assert start.headers["content-type"].startswith("text/javascript") and '"/openapi.json"' in start.text
    csp = page.headers["content-security-policy"]  # the same security headers as every page
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert client.get("/redoc").status_code == 404  # not served (ReDoc writes inline styles)


def test_the_docs_render_with_no_network_but_this_server(base: str, context: Any) -> None:
    outside: list[str] = []
    refused: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{base}/docs")
    path = page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/sessions$"))
    sessions = page.locator(".opblock", has=path)
    expect(sessions.first).to_be_visible(timeout=20_000)
    assert page.locator(".opblock").count() >= 10
    sessions.first.locator(".opblock-summary").click()  # an operation opens, with its "Try it out"
    expect(page.locator(".try-out__btn").first).to_be_visible()
    assert outside == [] and refused == [], (outside, refused)


# -- the installable app -----------------------------------------------------------------------------------


def test_the_manifest_and_its_icons(client: TestClient) -> None:
    answer = client.get("/manifest.webmanifest")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/manifest+json"
    manifest = json.loads(answer.text)
    assert manifest["name"] == "AI Fitness Coach" and 0 < len(manifest["short_name"]) <= 12
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    colours = css_variables((WEB / "style.css").read_text())
    assert manifest["theme_color"] == colours["--panel"] and manifest["background_color"] == colours["--bg"]
    declared = set()
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png", icon["src"]
        width, height = png_size(image.content)
        assert icon["sizes"] == f"{width}x{height}", (icon["src"], width, height)
        declared.add((icon["sizes"], icon.get("purpose", "any")))
    for size in ("192x192", "512x512"):
        assert {(size, "any"), (size, "maskable")} <= declared, size
    for page in ("index", "upload", "report", "history", "custom", "offline"):
        head = (WEB / f"{page}.html").read_text().split("</head>")[0]
        for tag in ('<link rel="manifest" href="/manifest.webmanifest">', '<meta name="theme-color"',
                    '<link rel="apple-touch-icon"', '<script type="module" src="pwa.js"></script>'):  # fmt: skip
            assert tag in head, (page, tag)
        touch = re.search(r'rel="apple-touch-icon" href="([^"]+)"', head)
        assert touch and png_size(client.get(touch.group(1)).content) == (180, 180)


def test_the_service_worker_lists_the_whole_shell_and_never_the_api(client: TestClient) -> None:
    answer = client.get("/sw.js")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/" and answer.headers["cache-control"] == "no-cache"
    shell = json.loads(re.search(r"const SHELL = (\[.*\]);", answer.text).group(1))  # type: ignore[union-attr]
    files = {"/" + p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file()}
    pages = {f for f in files if f.endswith(".html")}
    vendored = {f for f in files if f.startswith("/vendor/") and f.endswith((".js", ".css"))}
    assert "/" in shell and pages | vendored <= set(shell), (pages | vendored) - set(shell)
    assert not [p for p in shell if p.startswith(("/api/", "/ws/")) or p.endswith((".md", "LICENSE", "/sw.js"))]
    for path in shell:
        assert client.get(path).status_code == 200, path
    assert re.search(r'const VERSION = "coach-shell-[0-9a-f]{16}";', answer.text)


def test_a_changed_file_changes_the_service_worker(tmp_path: Path) -> None:
    web = tmp_path / "web"
    shutil.copytree(WEB, web)
    before = worker_script(web)
    (web / "style.css").write_text((web / "style.css").read_text() + "\n/* changed */\n")
    after = worker_script(web)
    version = re.compile(r'const VERSION = "([^"]+)"')
    assert version.search(before).group(1) != version.search(after).group(1)  # type: ignore[union-attr]
    (web / "extra.js").write_text("export {};\n")
    assert "/extra.js" in shell_files(web) and '"/extra.js"' in worker_script(web)
    (web / "sw.js").write_text("// no placeholders\n")
    with pytest.raises(WorkerTemplateError, match="must hold the line 'const VERSION"):
        worker_script(web)


def test_offline_the_app_shell_opens_with_a_notice(base: str, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{base}/upload.html")
    expect(page.locator("#exercise option").first).to_be_attached()
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.reload()  # now under the worker's control
    assert page.evaluate("() => Boolean(navigator.serviceWorker.controller)")
    expect(page.locator("#exercise option").first).to_be_attached()
    kept = page.evaluate(
        """async () => {
            const out = [];
            for (const name of await caches.keys())
                for (const request of await (await caches.open(name)).keys()) out.push(new URL(request.url).pathname);
            return out;
        }"""
    )
    assert {"/", "/index.html", "/upload.html", "/style.css", "/pwa.js"} <= set(kept)
    assert not [p for p in kept if p.startswith(("/api/", "/ws/"))], kept  # data is never kept

    context.set_offline(True)
    page.goto(f"{base}/")
    expect(page.locator("#offline-notice")).to_be_visible()
    expect(page.locator("#offline-notice")).to_contain_text("Offline")
    expect(page.locator("header nav a[href='/upload.html']")).to_be_visible()  # the shell
    assert page.evaluate("() => document.documentElement.hasAttribute('data-offline')")
    refused = page.evaluate("() => fetch('/api/health').then(() => 'answered', () => 'refused')")
    assert refused == "refused"  # the API is never answered from a cache
    page.goto(f"{base}/report.html?job=somejob")  # one kept copy serves every ?job=
    expect(page.locator("#offline-notice")).to_be_visible()
    page.goto(f"{base}/never-visited.html")
    expect(page.locator("h2")).to_have_text("Offline")
    # the offline page is itself the notice: its text once, not pwa.js's notice on top of it
    expect(page.get_by_text("cannot be reached")).to_have_count(1)
    expect(page.locator("#offline-notice")).to_have_count(0)
    context.set_offline(False)
    page.goto(f"{base}/upload.html")
    expect(page.locator("#exercise option").first).to_be_attached()
    expect(page.locator("#offline-notice")).to_have_count(0)


# -- the upload and custom pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_fits_passes_axe_and_has_big_targets(
    base: str, context: Any, name: str, size: tuple[int, int], tmp_path: Path
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"{base}/{name}")
    expect(page.locator(PAGES[name]).first).to_be_attached()
    page.screenshot(path=str(tmp_path / f"{name}-{size[0]}.png"), full_page=True)
    assert horizontal_overflow(page) == 0, widest_elements(page)
    assert axe_violations(page) == []
    assert small_targets(page) == []


def test_the_upload_page_works_from_the_keyboard(base: str, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{base}/upload.html")
    expect(page.locator("#exercise option").first).to_be_attached()
    reached, bare = focus_without_ring(page)
    wanted = ['a[href="/"]', 'a[href="/upload.html"]', "input#video", "select#exercise", "select#persona"]
    wanted.append("button#send")
    assert [r for r in reached if r in wanted] == wanted, reached
    assert bare == [], bare


def test_the_custom_page_works_from_the_keyboard(base: str, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{base}/custom.html")
    expect(page.locator(PAGES["custom.html"])).to_be_attached()
    reached, bare = focus_without_ring(page)
    assert "input#video" in reached and "button#read" in reached, reached
    assert bare == [], bare


def test_the_upload_page_says_what_to_do_when_the_pickers_fail(base: str, context: Any) -> None:
    page = context.new_page()
    page.route("**/api/exercises", lambda r: r.fulfill(status=500, json={"detail": "the exercise list is broken"}))
    page.goto(f"{base}/upload.html")
    problem = page.locator("#upload-error .problem")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("the exercise list is broken")
    expect(problem.locator(".problem-advice")).to_contain_text("try again")
    assert page.locator("#send").is_disabled()  # nothing to send without an exercise
    page.unroute("**/api/exercises")
    problem.get_by_role("button", name="Try again").click()
    expect(page.locator("#exercise option").first).to_be_attached()
    expect(page.locator("#upload-error")).to_be_hidden()
    assert page.locator("#send").is_enabled()


def test_the_custom_page_says_what_to_do_when_the_server_is_gone(base: str, context: Any) -> None:
    page = context.new_page()
    page.route("**/api/custom/exercises", lambda r: r.abort())
    page.goto(f"{base}/custom.html")
    problem = page.locator("#list-error .problem")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("could not be listed")
    expect(problem.locator(".problem-advice")).to_contain_text("Check that the coach server is running")
    page.unroute("**/api/custom/exercises")
    problem.get_by_role("button", name="Try again").click()
    expect(page.locator("#custom-empty")).to_be_visible()
    expect(page.locator("#list-error")).to_be_hidden()


def test_the_header_fits_a_360_px_phone_on_every_page(base: str, context: Any) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 360, "height": 740})
    for name in ("index.html", "upload.html", "custom.html", "history.html", "report.html?job=none", "offline.html"):
        page.goto(f"{base}/{name}")
        expect(page.locator("header nav a")).to_have_count(4)
        sticking_out = page.evaluate(
            """() => [...document.querySelectorAll('header, header *')]
                .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''))"""
        )
        assert sticking_out == [], (name, sticking_out)
        heights = [box["height"] for box in (a.bounding_box() for a in page.locator("header nav a").all()) if box]
        assert len(heights) == 4 and min(heights) >= 44, (name, heights)


# -- the shared style sheet --------------------------------------------------------------------------------


def test_every_colour_pair_of_the_style_sheet_meets_wcag_aa() -> None:
    css = (WEB / "style.css").read_text()
    pairs = css_colour_pairs(css)
    assert len(pairs) >= 10  # the parser found the rules
    low = [(s, f, b, round(contrast(f, b), 2)) for s, f, b in pairs if contrast(f, b) < 4.5]
    assert low == [], low
    v = css_variables(css)
    # words that sit on the panels and the page without a background of their own
    words = {"--muted": v["--muted"], "--bad-text": v["--bad-text"], "--accent": v["--accent"], "--warn": v["--warn"]}
    words.update({"links": "#7cc4ff", ".error": "#ff9a94"})
    grounds = {"--bg": v["--bg"], "--panel": v["--panel"], "controls": "#22303a"}
    ratios = [(w, g, round(contrast(fg, bg), 2)) for w, fg in words.items() for g, bg in grounds.items()]
    assert [r for r in ratios if r[2] < 4.5] == [], ratios
    # a control's edge stands out from the panel it sits on (WCAG 1.4.11, 3:1)
    assert contrast(v["--line"], v["--panel"]) >= 3 and contrast(v["--line"], "#22303a") >= 3
