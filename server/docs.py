"""The API's documentation page, ``/docs`` (Swagger UI), served whole by this server: no CDN.

Swagger UI's script and style sheet come from the ``fastapi-offline`` package (MIT; it ships the
Swagger UI 5 bundle and keeps it current) and are served under ``/docs/assets/``. FastAPI's own docs
page starts Swagger UI with an inline ``<script>``, which the server's CSP (``script-src 'self'``)
forbids; this page loads the same start-up code as a served file, ``/docs/assets/start.js``, so
``/docs`` works under the same security headers as every other page. ``/redoc`` is not served: one
documentation page is enough, and ReDoc writes its styles inline (``style-src 'self'`` blocks them).
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"


class DocsAssetsMissing(RuntimeError):
    """The Swagger UI files are not installed (``fastapi-offline`` is missing or changed its layout)."""


def swagger_assets() -> Path:
    """The folder holding ``swagger-ui-bundle.js`` and ``swagger-ui.css`` (from ``fastapi-offline``)."""
    try:
        import fastapi_offline
    except ImportError as error:
        raise DocsAssetsMissing(
            "the /docs page needs the fastapi-offline package: run scripts/setup.sh (or pip install -e .)"
        ) from error
    folder = Path(fastapi_offline.__file__).parent / "static"
    missing = [name for name in ("swagger-ui-bundle.js", "swagger-ui.css") if not (folder / name).is_file()]
    if missing:
        raise DocsAssetsMissing(f"{', '.join(missing)} not found in {folder}: reinstall fastapi-offline")
    return folder


def _page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · API</title>
<link rel="icon" href="/icons/icon-192.png" type="image/png">
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
<script src="{ASSETS_URL}/swagger-ui-bundle.js" defer></script>
<script src="{ASSETS_URL}/start.js" defer></script>
</head>
<body>
<div id="swagger-ui"><p>Loading the API documentation…</p></div>
<noscript>The API documentation needs JavaScript; the raw description is at /openapi.json.</noscript>
</body>
</html>
"""


_START = """// Starts Swagger UI on /docs (served as a file: the CSP allows no inline script).
window.ui = SwaggerUIBundle({
  url: %s,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def add_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets on ``app`` (built with ``docs_url=None, redoc_url=None``)."""
    assert app.docs_url is None and app.redoc_url is None, "build the app with docs_url=None, redoc_url=None"
    assert app.openapi_url is not None
    page = _page(app.title)
    start = _START % json.dumps(app.openapi_url)

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{ASSETS_URL}/start.js", include_in_schema=False)
    async def docs_start() -> Response:
        return Response(start, media_type="text/javascript")

    app.mount(ASSETS_URL, StaticFiles(directory=swagger_assets()), name="docs-assets")
