"""Screenshots of every page at a desktop (1280x800) and a phone (390x844) width, into docs/screenshots/.

    .venv/bin/python -m scripts.screenshots [--out docs/screenshots] [--media ../shared/media]

What a new user sees, with real data: the app runs in-process on a fresh data folder; a push-up clip is
uploaded and analysed (the report); a live set is trained in headless Chromium whose fake camera plays
the same clip, shot mid-set and after Stop (the summary), and it lands in the history with its reps
(the live set's report). The upload, custom-exercise and /docs pages are shot as they open. Takes
about two minutes on two cores. README.md links the pictures; rerun after a visible change.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from server.settings import Settings
from tests.support.harness import chromium_with_camera, running_app, to_y4m

CLIP = "pushup_side_nasm.mp4"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def analyse(request: Any, base: str, media: Path) -> str:
    """Upload ``CLIP`` and wait for its report; the job id."""
    video = {"name": CLIP, "mimeType": "video/mp4", "buffer": (media / CLIP).read_bytes()}
    answer = request.post(f"{base}/api/analyze", multipart={"video": video, "exercise": "pushup", "persona": "plain"})
    if answer.status != 202:
        raise SystemExit(f"the upload was refused: {answer.status} {answer.text()}")
    job_id: str = answer.json()["job_id"]
    deadline = time.monotonic() + 300
    while (job := request.get(f"{base}/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit("the analysis did not finish in 5 minutes")
        time.sleep(0.5)
    if job["status"] != "done":
        raise SystemExit(f"the analysis failed: {job.get('error')}")
    return job_id


def shoot(page: Any, out: Path, name: str, full_page: bool = True) -> None:
    page.wait_for_timeout(600)  # charts and the 3D view draw on the next frames
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"  {path}")


def live_set(context: Any, base: str, out: Path, size: str) -> None:
    """A live push-up set: the page mid-set (after two reps), then after Stop."""
    width, height = SIZES[size]
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{base}/?exercise=pushup&persona=hype_beast&countdown=0")
    page.wait_for_selector("#start:not([disabled])")
    shoot(page, out, f"live-idle-{size}")
    page.click("#start")
    page.wait_for_selector("#conn-state[data-state=live]", timeout=60_000)
    page.wait_for_function("() => Number(document.getElementById('rep-count').textContent) >= 2", timeout=90_000)
    shoot(page, out, f"live-set-{size}", full_page=False)
    page.click("#stop")
    page.wait_for_selector("#summary:not([hidden])", timeout=30_000)
    shoot(page, out, f"live-summary-{size}")
    page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--media", type=Path, default=Path("../shared/media"))
    args = parser.parse_args(argv)
    if not (args.media / CLIP).is_file():
        raise SystemExit(f"{args.media / CLIP} is missing: pass --media with the shared clips")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="coach-shots-") as tmp:
        camera = to_y4m(args.media / CLIP, Path(tmp) / "camera.y4m")
        settings = Settings.model_validate({"data_dir": Path(tmp) / "data"})
        with running_app(settings) as (base, _), chromium_with_camera(camera) as context:
            request = context.request
            print("analysing an upload ...")
            job_id = analyse(request, base, args.media)
            print("live sets ...")
            for size in SIZES:
                live_set(context, base, args.out, size)
            sessions = request.get(f"{base}/api/history?kind=live").json()["items"]
            pages = {
                "upload": "/upload.html",
                "report": f"/report.html?job={job_id}",
                "report-live": f"/report.html?session={sessions[0]['id']}" if sessions else None,
                "history": "/history.html",
                "custom": "/custom.html",
                "docs": "/docs",
            }
            for size, (width, height) in SIZES.items():
                for name, path in pages.items():
                    if path is None:
                        continue
                    page = context.new_page()
                    page.set_viewport_size({"width": width, "height": height})
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    if name == "report":
                        page.wait_for_selector("#angle-charts .uplot", timeout=30_000)
                    shoot(page, args.out, f"{name}-{size}")
                    page.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
