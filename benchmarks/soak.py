"""Soak and load: live sessions and uploads together for minutes, on loopback, bounded in time.

    .venv/bin/python -m benchmarks.soak [--minutes 10] [--sessions 2] [--uploads 2] [--clip CLIP] [--append]

Starts ``coach serve`` as its own process (so its memory is its own) on a free loopback port with a
fresh data folder, then for ``--minutes``:

- ``--sessions`` live sessions, each an aiortc client (not a browser: the load of the coach, not of
  Chromium) streaming the clip in a loop at its own frame rate over WebRTC, its WebSocket drained;
  every session that ends is replaced by a new one at once, and every session must end only when
  told (a session lost is a failure);
- ``--uploads`` upload loops, each sending the clip for analysis and waiting for its report, again
  and again;
- every 10 s the server's resident memory (``/proc/PID/status`` VmRSS);
- at the end, the admission limit: sessions are opened until the server answers 503, which must come
  exactly at ``max_sessions`` and say why.

Prints per-session frames per second, pose-event latency percentiles and dropped frames, the uploads
done and failed, memory over time (flat = the last reading within 10 % of the first one after
warm-up, the first minute), and the 503. ``--append`` adds a row to RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks._env import commit, machine, report

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
WARM_UP_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                             **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def looped_clip(clip: Path, out: Path, seconds: float, height: int, fps: float) -> Path:
    """``clip`` looped into one file ``seconds`` long at ``height`` px and ``fps`` (aiortc's
    ``MediaPlayer(loop=True)`` stops after one pass of an mp4), for the clients to stream."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-stream_loop", "-1", "-i", str(clip), "-t", str(seconds),
         "-vf", f"scale=-2:{height},fps={fps:g}", "-c:v", "libx264", "-preset", "veryfast", "-an", str(out)],
        check=True,
    )  # fmt: skip
    return out


@contextlib.contextmanager
def running_server(port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``coach serve`` in its own process on ``port`` with these ``COACH_*`` variables, once it answers
    /api/health (SystemExit if it never does); terminated on exit."""
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=ROOT, env={**os.environ, **env}
    )
    try:
        for _ in range(240):
            with contextlib.suppress(OSError):
                if http_json("GET", f"http://127.0.0.1:{port}/api/health")[0] == 200:
                    break
            time.sleep(0.5)
        else:
            raise SystemExit("the server did not start")
        yield server
    finally:
        server.terminate()
        server.wait(30)


async def live_session(base: str, clip: Path, deadline: float, stats: list[dict[str, Any]], lost: list[str]) -> None:
    """One aiortc client after another until ``deadline``: each streams the clip and drains its events."""
    import websockets
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    while time.monotonic() < deadline:
        code, session = await asyncio.to_thread(http_json, "POST", f"{base}/api/sessions",
                                                {"exercise": "pushup", "persona": "plain"})  # fmt: skip
        if code != 201:
            lost.append(f"could not start a session: {code} {session}")
            await asyncio.sleep(1)
            continue
        auth = {"Authorization": f"Bearer {session['token']}"}
        player = MediaPlayer(str(clip))
        video = player.video
        if video is None:
            raise SystemExit(f"{clip}: no video track")
        pc = RTCPeerConnection()
        pc.addTrack(video)
        await pc.setLocalDescription(await pc.createOffer())
        code, answer = await asyncio.to_thread(http_json, "POST", f"{base}{session['offer_url']}",
                                               {"sdp": pc.localDescription.sdp, "type": "offer"}, auth)  # fmt: skip
        if code != 200:
            lost.append(f"offer refused: {code} {answer}")
            await pc.close()
            continue
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        ws_url = base.replace("http", "ws") + f"{session['events_url']}?token={session['token']}"
        ended_early, why = False, ""
        async with websockets.connect(ws_url, max_size=None) as ws:
            run_until = min(deadline, time.monotonic() + 120)  # a new session every 2 minutes
            while time.monotonic() < run_until:
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed as exc:
                    ended_early, why = True, f"the WebSocket closed ({exc})"
                    break
                if message.get("type") == "summary":
                    ended_early, why = True, str(message.get("reason"))
                    break
            if not ended_early:
                _, info = await asyncio.to_thread(http_json, "GET", f"{base}/api/sessions/{session['id']}", None, auth)
                await ws.send(json.dumps({"type": "stop"}))
                with contextlib.suppress(Exception):
                    async for _ in ws:
                        pass
                stats.append(info)
        if ended_early:
            lost.append(f"session {session['id']} ended without being told: {why}")
        await pc.close()
        video.stop()


def upload_loop(base: str, clip: Path, deadline: float, done: list[float], failed: list[str]) -> None:
    """Upload the clip and wait for its report, again and again, until ``deadline``."""
    boundary = "soakboundary"
    video = clip.read_bytes()
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="exercise"\r\n\r\npushup\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="{clip.name}"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + video
        + f"\r\n--{boundary}--\r\n".encode()
    )
    while time.monotonic() < deadline:
        started = time.monotonic()
        kind = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        request = urllib.request.Request(f"{base}/api/analyze", data=body, method="POST", headers=kind)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                job = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            failed.append(f"upload refused: {exc.code} {exc.read()[:200]!r}")
            time.sleep(5)
            continue
        while time.monotonic() < deadline + 300:
            _, status = http_json("GET", f"{base}{job['status_url']}")
            if status["status"] in ("done", "failed"):
                break
            time.sleep(1)
        if status["status"] == "done":
            done.append(time.monotonic() - started)
        else:
            failed.append(f"job {job['job_id']}: {status.get('error')}")


async def soak(base: str, pid: int, args: argparse.Namespace, clip: Path, upload: Path) -> dict[str, Any]:
    deadline = time.monotonic() + args.minutes * 60
    stats: list[dict[str, Any]] = []
    lost: list[str] = []
    done: list[float] = []
    failed: list[str] = []
    memory: list[tuple[float, float]] = []
    start = time.monotonic()

    async def sample() -> None:
        while time.monotonic() < deadline:
            memory.append((round(time.monotonic() - start), round(rss_mb(pid), 1)))
            await asyncio.sleep(10)

    uploads = [asyncio.to_thread(upload_loop, base, upload, deadline, done, failed) for _ in range(args.uploads)]
    lives = [live_session(base, clip, deadline, stats, lost) for _ in range(args.sessions)]
    await asyncio.gather(sample(), *uploads, *lives)
    # the admission limit: open sessions until the server says it is full
    opened, refusal = [], None
    for _ in range(64):
        code, body = await asyncio.to_thread(http_json, "POST", f"{base}/api/sessions",
                                             {"exercise": "pushup", "persona": "plain"})  # fmt: skip
        if code != 201:
            refusal = (code, body)
            break
        opened.append(body)
    for s in opened:
        await asyncio.to_thread(http_json, "DELETE", f"{base}/api/sessions/{s['id']}", None,
                                {"Authorization": f"Bearer {s['token']}"})  # fmt: skip
    after = [m for t, m in memory if t >= WARM_UP_S]
    return {
        "sessions_measured": len(stats),
        "fps": [s["mean_fps"] for s in stats],
        "dropped": [s["frames_dropped"] for s in stats],
        "pose_latency_p50_ms": [s["pose_latency_ms"]["p50"] for s in stats],
        "pose_latency_p95_ms": [s["pose_latency_ms"]["p95"] for s in stats],
        "sessions_lost": lost,
        "uploads_done": len(done),
        "upload_seconds_median": round(sorted(done)[len(done) // 2], 1) if done else None,
        "uploads_failed": failed,
        "memory_mb": memory,
        "memory_growth_after_warm_up": round(after[-1] / after[0] - 1, 3) if len(after) >= 2 else None,
        "admission": {"opened_before_refusal": len(opened), "refusal": refusal},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=1, help="live sessions at once (one keeps 30 fps on 2 cores)")
    parser.add_argument("--uploads", type=int, default=1, help="upload loops at once")
    parser.add_argument("--max-sessions", type=int, default=4, help="the server's admission limit")
    parser.add_argument("--clip", default="pushup_side_nasm.mp4")
    parser.add_argument(
        "--client-height", type=int, default=270,
        help="the clients stream the clip scaled to this height (their VP8 encoding shares the cores)",
    )  # fmt: skip
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    clip = MEDIA / args.clip
    if not clip.is_file():
        print(f"the clip is missing: {clip}", file=sys.stderr)
        return 2
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="coach-soak-") as data:
        streamed = looped_clip(clip, Path(data) / "client.mp4", args.minutes * 60 + 180, args.client_height, 30)
        env = {"COACH_DATA_DIR": data, "COACH_MAX_SESSIONS": str(args.max_sessions),
               "COACH_SESSIONS_PER_MINUTE": "1000", "COACH_UPLOADS_PER_MINUTE": "1000",
               "COACH_IDLE_TIMEOUT_S": "30"}  # fmt: skip
        with running_server(port, env) as server:
            result = asyncio.run(soak(base, server.pid, args, streamed, clip))
    result.update(
        date=dt.date.today().isoformat(), commit=commit(), machine=machine(), minutes=args.minutes,
        sessions=args.sessions, uploads=args.uploads, max_sessions=args.max_sessions,
    )  # fmt: skip
    fps = result["fps"]
    refusal = result["admission"]["refusal"]
    row = (
        f"soak, {args.minutes:g} min on loopback: {args.sessions} live session(s) (aiortc clients, {args.clip} looped "
        f"at {args.client_height} px, "
        f"a new session every 2 min) + {args.uploads} upload loop(s) | "
        f"**{len(result['sessions_lost'])} sessions lost** of {result['sessions_measured']}; fps per session "
        f"{min(fps, default=0):.1f}-{max(fps, default=0):.1f}; pose p95 "
        f"{max(result['pose_latency_p95_ms'], default=0):.0f} ms (worst session); frames dropped "
        f"{sum(result['dropped'])}; uploads done {result['uploads_done']} (median "
        f"{result['upload_seconds_median']} s), failed {len(result['uploads_failed'])}; **memory "
        f"{result['memory_mb'][0][1] if result['memory_mb'] else '?'} -> "
        f"{result['memory_mb'][-1][1] if result['memory_mb'] else '?'} MB, after the first minute "
        f"{(result['memory_growth_after_warm_up'] or 0) * 100:+.1f} %**; admission: "
        f"{result['admission']['opened_before_refusal']} more opened, then "
        f"{refusal[0] if refusal else 'no refusal'}"
    )
    report(result, row if args.append else None)
    return 0 if not result["sessions_lost"] and refusal is not None and refusal[0] == 503 else 1


if __name__ == "__main__":
    sys.exit(main())
