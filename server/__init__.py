"""The coach's front door: the ``coach`` command line (``cli/``), the typed settings, the services built
from them (``services.py``), the FastAPI app (``app.py``: HTTP API, WebRTC signalling, WebSocket events,
uploads, the browser app) and the upload jobs with their store (``jobs/``, no HTTP)."""
