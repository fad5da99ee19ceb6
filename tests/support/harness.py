"""Run the app in-process and drive it with headless Chromium whose fake camera plays a clip.

Used by the end-to-end test and the live benchmark; handy for trying a change without a webcam.
Chromium is Debian's ``chromium`` driven by Playwright (``playwright install`` is never needed).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from server.app import create_app
from server.settings import Settings

CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium (scripts/setup.sh installs it)."""

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)
"""Flags measured to work as root on these machines (../shared/ENVIRONMENT.md)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def to_y4m(video: Path, out: Path, width: int = 640, height: int = 360, fps: int = 30) -> Path:
    """Convert a clip into the raw y4m Chromium's fake camera plays (ffmpeg), letterboxed into
    ``width`` x ``height``."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is missing: run scripts/setup.sh (it installs the Debian package)")
    command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(video)]
    # Letterboxed, never stretched: a squashed person reads as another posture (a portrait squat
    # stretched to 640x360 was counted as a push-up rep).
    fit = f"scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2"
    command += ["-vf", f"{fit},fps={fps}", "-pix_fmt", "yuv420p", str(out)]
    subprocess.run(command, check=True)
    return out


@contextmanager
def running_app(settings: Settings) -> Iterator[tuple[str, Any]]:
    """Serve the app on a free port in a background thread; yields (base URL, the FastAPI app)."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def chromium_with_camera(y4m: Path, playwright: Any = None) -> Iterator[Any]:
    """A Playwright browser context (fresh profile) whose fake camera loops ``y4m``. ``playwright``: a
    running ``sync_playwright()`` to launch it with (two cameras at once need one Playwright, as the
    sync API runs only one per thread); None starts one for this browser."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)")
    with ExitStack() as stack:
        profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="coach-chromium-"))
        if playwright is None:
            playwright = stack.enter_context(sync_playwright())
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={y4m}"],
        )
        try:
            yield context
        finally:
            context.close()


AXE = Path(__file__).parent / "axe" / "axe.min.js"
"""axe-core, vendored (tests/support/axe/README.md)."""


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of ``impacts`` on the page as it is now (WCAG 2.x A and AA rules and best
    practices): each ``{id, impact, help, targets}``, empty when the page passes."""
    if not page.evaluate("() => Boolean(window.axe)"):
        # evaluated by the driver, not as an inline <script>, which the app's CSP (script-src 'self') blocks
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:5],
        }
        for v in results
        if v["impact"] in impacts
    ]


def horizontal_overflow(page: Any) -> int:
    """CSS pixels the page scrolls sideways (0 when it fits the viewport's width)."""
    overflow: int = page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )
    return overflow


def widest_elements(page: Any, limit: int = 5) -> list[str]:
    """The elements that stick out past the viewport's right edge (to say what overflows)."""
    found: list[str] = page.evaluate(
        """(limit) => {
            const width = document.documentElement.clientWidth;
            const out = [];
            for (const el of document.querySelectorAll('body *')) {
                const r = el.getBoundingClientRect();
                if (r.right > width + 1 && r.width > 0) {
                    const cls = typeof el.className === 'string' && el.className
                        ? '.' + el.className.split(' ').join('.') : '';
                    const id = el.id ? '#' + el.id : '';
                    out.push(`${el.tagName.toLowerCase()}${id}${cls} right=${Math.round(r.right)}`);
                }
            }
            return out.slice(0, limit);
        }""",
        limit,
    )
    return found
