"""The installable web app's two server-side pieces: its manifest and its service worker.

- ``/manifest.webmanifest`` with its registered media type, ``application/manifest+json`` (Python's
  ``mimetypes`` knows it only where the system's ``mime.types`` does).
- ``/sw.js`` (``web_client/sw.js``) with its two placeholders filled in at start-up: ``SHELL``, every
  file of the app shell (each page, style sheet, script, icon and vendored library in ``web_dir``), and
  ``VERSION``, a hash of those files' bytes. A changed or added file changes the script, so browsers
  install the new worker, which caches the new shell and deletes the old cache. Served with
  ``Cache-Control: no-cache`` and ``Service-Worker-Allowed: /`` (its scope is the whole app).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response

MANIFEST = "manifest.webmanifest"
WORKER = "sw.js"
VERSION_LINE = 'const VERSION = "coach-shell-dev";'
SHELL_LINE = 'const SHELL = ["/"];'
SKIPPED_NAMES = frozenset({WORKER, "README.md", "LICENSE"})
"""Files of ``web_dir`` that are not part of the shell (the worker itself, documentation, licences)."""


class WorkerTemplateError(RuntimeError):
    """``web_client/sw.js`` lacks a placeholder line the server fills in."""


def shell_files(web_dir: Path) -> list[str]:
    """The app shell: ``/`` and the URL path of every file under ``web_dir`` but ``SKIPPED_NAMES``,
    source maps and hidden files, sorted."""
    paths = ["/"]
    for path in sorted(web_dir.rglob("*")):
        relative = path.relative_to(web_dir)
        if not path.is_file() or path.name in SKIPPED_NAMES or path.suffix == ".map":
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue
        paths.append("/" + relative.as_posix())
    return paths


def shell_version(web_dir: Path, paths: list[str]) -> str:
    """16 hex digits of a hash over the shell's paths and bytes."""
    digest = hashlib.sha256()
    for path in paths[1:]:
        digest.update(path.encode() + b"\0" + (web_dir / path[1:]).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def worker_script(web_dir: Path) -> str:
    """``web_dir/sw.js`` with the shell and its version filled in."""
    template = (web_dir / WORKER).read_text()
    for line in (VERSION_LINE, SHELL_LINE):
        if template.count(line) != 1:
            raise WorkerTemplateError(f"{web_dir / WORKER} must hold the line {line!r} once (the server fills it in)")
    paths = shell_files(web_dir)
    return template.replace(VERSION_LINE, f'const VERSION = "coach-shell-{shell_version(web_dir, paths)}";').replace(
        SHELL_LINE, f"const SHELL = {json.dumps(paths)};"
    )


def add_pwa(app: FastAPI, web_dir: Path) -> None:
    """Serve ``/manifest.webmanifest`` and ``/sw.js`` from ``web_dir`` (before its static mount)."""
    script = worker_script(web_dir)
    manifest = web_dir / MANIFEST

    @app.get(f"/{MANIFEST}", include_in_schema=False)
    async def web_manifest() -> FileResponse:
        return FileResponse(manifest, media_type="application/manifest+json")

    @app.get(f"/{WORKER}", include_in_schema=False)
    async def service_worker() -> Response:
        headers = {"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"}
        return Response(script, media_type="text/javascript", headers=headers)
