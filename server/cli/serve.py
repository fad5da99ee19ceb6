"""``coach serve [--host H] [--port P]``: the live coach (web app, HTTP API, WebRTC, WebSocket events)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path
from typing import Any

from server.cli.common import BACKENDS, EXIT_OK, LIFTERS, UsageError, add_tip_arguments, settings_from, warn


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="start the live coach (web app, HTTP API, WebRTC, WebSocket events)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--max-sessions", type=int, help="live sessions served at once (default 4)")
    serve.add_argument("--lifter", choices=LIFTERS, help="default: auto")
    serve.add_argument(
        "--backend", choices=BACKENDS, help="2D model (default: mediapipe; yolo-hrnet needs its weight files)"
    )
    serve.add_argument("--device", help="torch device for the lifter: auto, cpu, cuda, cuda:N")
    serve.add_argument("--checkpoints-dir", type=Path, help="folder holding weight files")
    serve.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    serve.add_argument("--ssl-certfile", help="TLS certificate (PEM), to serve https to other machines")
    serve.add_argument("--ssl-keyfile", help="TLS private key (PEM)")
    serve.add_argument("--auth", choices=("single", "accounts"), help="who may use it (default single: loopback only)")
    add_tip_arguments(serve, persona=False)
    serve.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.security import RedactTokens
    from server.services import make_lifter, make_tips

    settings = settings_from(args)
    if settings.auth == "single" and not is_loopback(settings.host) and not settings.allow_open_single:
        raise UsageError(
            f"auth=single on {settings.host} would let everyone who reaches it see every video: "
            "use --auth accounts (add users with `coach users add NAME`), "
            "or set COACH_ALLOW_OPEN_SINGLE=true if this network is yours alone"
        )
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise UsageError("--ssl-certfile and --ssl-keyfile go together")
    for path in (args.ssl_certfile, args.ssl_keyfile):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{path} does not exist")
    # Built before uvicorn starts: a missing checkpoint or a bad model folder is one clear error.
    lifter = make_lifter(settings)
    tips = make_tips(settings)
    scheme = "https" if args.ssl_certfile else "http"
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"coach: open {scheme}://{shown}:{settings.port}/ in Chromium or Chrome (Ctrl+C stops)", file=sys.stderr)
    if scheme == "http" and settings.host not in ("127.0.0.1", "localhost", "::1"):
        warn(
            "browsers give the camera only to https pages or localhost; "
            "use --ssl-certfile/--ssl-keyfile for other machines"
        )
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())  # the WebSocket's ?token= never logged
    try:
        uvicorn.run(
            create_app(settings, lifter, tips),
            host=settings.host,
            port=settings.port,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            log_level="info" if args.verbose else "warning",
            # hostile clients: frames over 64 KB close the WebSocket (1009); idle keep-alive connections and
            # floods of connections are bounded; server_header off (no version banner)
            ws_max_size=65536,
            timeout_keep_alive=5,
            limit_concurrency=256,
            server_header=False,
            h11_max_incomplete_event_size=16 * 1024,
            # behind a load balancer: its X-Forwarded-For is the client's address (rate limits, logs)
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    return EXIT_OK
