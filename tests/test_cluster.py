"""Several `coach serve` processes behind HAProxy (deploy/haproxy.cfg, the shipped file itself): live
sessions sticky by their id, one shared history, a node killed mid-set losing no counted rep.

The end-to-end test runs two real servers (PostgreSQL store, one data folder), HAProxy and aiortc
clients on loopback; the others check the pieces it relies on without servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lifting.lifter import WorldLandmarkLifter
from lifting.pose2d import MediaPipeBackend
from realtime.manager import LiveOptions, SessionManager
from realtime.session import Session
from scoring.coach.persona import BUILTIN_DIR, PersonaLibrary
from scoring.coach.writer import TipService
from scoring.reference import Reference, ReferenceError
from server.exercises import ExerciseCatalog
from server.services import References
from server.settings import Settings

REPO = Path(__file__).resolve().parents[1]
HAPROXY_CFG = REPO / "deploy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
NODES = ("n1", "n2")


# -- the pieces -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["N1", "n-1", "1n", "", "n" * 17, "n1 ", "nœud"])
def test_a_bad_node_name_is_refused_naming_the_rule(name: str) -> None:
    with pytest.raises(ValidationError, match="node_name must be 1-16 lowercase letters and digits"):
        Settings(node_name=name)


def test_session_ids_start_with_their_node() -> None:
    loop = asyncio.new_event_loop()
    try:
        named = Session("pushup", "plain", loop, lambda: None, node="n2")
        alone = Session("pushup", "plain", loop, lambda: None)
    finally:
        loop.close()
    assert re.fullmatch(r"n2-[0-9a-f]{16}", named.id)
    assert re.fullmatch(r"[0-9a-f]{16}", alone.id)
    assert Settings(node_name="n2").node_name == "n2"


@pytest.mark.slow
def test_progress_is_saved_one_call_at_a_time_and_never_after_the_end(pushup: Reference) -> None:
    calls: list[str] = []

    def save(session: Session) -> None:
        calls.append(f"progress started ({session.state.value})")
        time.sleep(0.3)  # a slow database: counts arriving meanwhile are saved by one more call
        calls.append("progress saved")

    def ended(session: Session) -> None:
        calls.append(f"ended ({session.state.value})")

    async def run() -> None:
        manager = SessionManager(
            LiveOptions(node="n1"),
            WorldLandmarkLifter(),
            MediaPipeBackend,
            lambda name: pushup,
            TipService(PersonaLibrary(BUILTIN_DIR)),
            on_ended=ended,
            on_progress=save,
        )
        async with manager:
            session = await manager.create("pushup", "plain")
            assert session.id.startswith("n1-")
            assert session.on_counted is not None
            for _ in range(3):  # three counts while the first save runs: one more save covers the other two
                session.on_counted(session)
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.8)
            assert calls == ["progress started (created)", "progress saved"] * 2
            session.on_counted(session)
            await asyncio.sleep(0.05)
            await manager.end(session, "stopped by the client")  # waits for the save under way
            session.on_counted(session)  # a count after the end saves nothing
            await asyncio.sleep(0.4)

    asyncio.run(run())
    assert calls == ["progress started (created)", "progress saved"] * 3 + ["ended (closed)"]


def test_a_custom_exercise_changed_by_another_server_is_read_again(
    pushup: Reference, references_dir: Path, tmp_path: Path
) -> None:
    mine = dataclasses.replace(pushup, spec=dataclasses.replace(pushup.spec, name="wallpush", display_name="Wall push"))
    references = References(references_dir, tmp_path)  # this server's cache
    other = ExerciseCatalog(references_dir, tmp_path)  # another server sharing the custom folder
    other.add(mine, {})
    assert references("wallpush").spec.display_name == "Wall push"
    assert references("wallpush") is references("wallpush")  # cached while unchanged
    time.sleep(0.01)
    other.rename("wallpush", "Push-up against the wall")
    assert references("wallpush").spec.display_name == "Push-up against the wall"
    other.delete("wallpush")
    with pytest.raises(ReferenceError, match="wallpush"):
        references("wallpush")


def _servers(config: str) -> list[str]:
    return re.findall(r"^\s*server\s+(\S+)\s", config, re.MULTILINE)


def test_the_shipped_config_is_valid_and_routes_each_node_s_sessions_to_it() -> None:
    config = HAPROXY_CFG.read_text()
    servers = _servers(config)
    assert servers == list(NODES)
    for name in servers:  # a node without its rule would get its sessions' requests sent anywhere
        assert re.search(
            rf"^\s*use-server {name} if {{ path_beg /api/sessions/{name}- /ws/sessions/{name}- }}", config, re.M
        )
    assert re.search(r"^\s*timeout tunnel ", config, re.M)  # WebSockets outlive timeout client/server
    env = {**os.environ, "COACH_LB_BIND": "127.0.0.1:1"}
    checked = subprocess.run([HAPROXY, "-c", "-f", str(HAPROXY_CFG)], env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- the cluster ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:  # the balancer's own answers (503: no node up) are HTML
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, body.decode(errors="replace")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if _http("GET", f"{url}/api/health")[0] == 200:
                return
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer /api/health within {timeout_s:g} s:\n{log.read_text()[-3000:]}")


@dataclass
class Cluster:
    """Two `coach serve` nodes (one database, one data folder) behind HAProxy, all on loopback."""

    folder: Path
    database: str
    ports: dict[str, int]
    lb_port: int
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    haproxy: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def start_node(self, name: str) -> subprocess.Popen[bytes]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("COACH_")}
        env.update(
            COACH_NODE_NAME=name,
            COACH_DATABASE_URL=self.database,
            COACH_DATA_DIR=str(self.folder / "data"),
            COACH_BACKEND="mediapipe",
            COACH_LIFTER="mediapipe-world",
            COACH_POSE_WORKERS="1",
            COACH_MAX_SIDE="360",
            COACH_SESSIONS_PER_MINUTE="100",
            COACH_IDLE_TIMEOUT_S="30",
        )
        log = self.folder / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(self.ports[name])],
            cwd=REPO,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.nodes[name] = process
        return process

    def wait_node(self, name: str) -> None:
        _wait_healthy(f"http://127.0.0.1:{self.ports[name]}", self.nodes[name], self.folder / f"{name}.log")

    def start_balancer(self) -> None:
        env = {
            **os.environ,
            "COACH_LB_BIND": f"127.0.0.1:{self.lb_port}",
            **{f"COACH_NODE_{name.upper()}": f"127.0.0.1:{port}" for name, port in self.ports.items()},
        }
        log = self.folder / "haproxy.log"
        self.haproxy = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        _wait_healthy(self.url, self.haproxy, log, 20)

    def kill(self, name: str) -> None:
        process = self.nodes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in [*self.nodes.values(), self.haproxy]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.nodes.values(), self.haproxy]:
            if process is not None:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path, postgres: Any, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if not Path(HAPROXY).is_file():
        pytest.fail("HAProxy is not installed: run `make setup-browser` (scripts/setup.sh --browser installs it)")
    cluster = Cluster(tmp_path, postgres.database(), {name: _free_port() for name in NODES}, _free_port())
    try:
        for name in NODES:  # side by side: they migrate the database one after the other (advisory lock)
            cluster.start_node(name)
        request.getfixturevalue("client_clip")  # encoded while the servers load their models
        for name in NODES:
            cluster.wait_node(name)
        cluster.start_balancer()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def client_clip(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Path:
    """The side push-up clip (4 reps in 13.5 s) three times over, 270 px high: what the aiortc clients stream
    (the first session runs through the whole scenario; the others are ended long before the clip ends)."""
    folder = tmp_path_factory.mktemp("clip")
    once, out = folder / "once.mp4", folder / "pushups.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media / "pushup_side_nasm.mp4"),
         "-vf", "scale=-2:270", "-c:v", "libx264", "-preset", "veryfast", "-an", str(once)],
        check=True,
    )  # fmt: skip
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "2", "-i", str(once), "-c", "copy", str(out)], check=True)
    return out


class LiveClient:
    """One live session through the balancer: created, offered (aiortc streams the clip), its WebSocket
    drained into ``events`` (each with the monotonic time it arrived)."""

    def __init__(self, base: str, clip: Path) -> None:
        self.base = base
        self.clip = clip
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.closed: str | None = None
        self.session: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return str(self.session["id"])

    @property
    def token(self) -> str:
        return str(self.session["token"])

    def reps(self, after: float = 0.0) -> list[dict[str, Any]]:
        return [event for at, event in self.events if event["type"] == "rep" and at > after]

    async def start(self) -> None:
        import websockets
        from aiortc import RTCPeerConnection, RTCSessionDescription
        from aiortc.contrib.media import MediaPlayer

        code, self.session = await asyncio.to_thread(
            _http, "POST", f"{self.base}/api/sessions", {"exercise": "pushup", "persona": "plain"}
        )
        assert code == 201, self.session
        self.player = MediaPlayer(str(self.clip))
        self.pc = RTCPeerConnection()
        assert self.player.video is not None
        self.pc.addTrack(self.player.video)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer"}
        code, answer = await asyncio.to_thread(_http, "POST", self.base + self.session["offer_url"], offer, self.token)
        assert code == 200, answer  # only the process holding the session knows it: the routing worked
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        ws_url = self.base.replace("http", "ws") + f"{self.session['events_url']}?token={self.token}"
        self.ws = await websockets.connect(ws_url, max_size=None)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import websockets

        try:
            async for message in self.ws:
                self.events.append((time.monotonic(), json.loads(message)))
            self.closed = f"closed {self.ws.close_code}"
        except websockets.ConnectionClosed as exc:
            self.closed = f"lost ({exc})"

    async def wait_reps(self, count: int, after: float = 0.0, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.reps(after)) < count:
            assert self.closed is None, f"session {self.id} ended early ({self.closed}): {self.events[-3:]}"
            assert time.monotonic() < deadline, f"session {self.id}: {len(self.reps(after))} reps in {timeout_s:g} s"
            await asyncio.sleep(0.2)

    async def delete(self) -> dict[str, Any]:
        """DELETE through the balancer: the summary comes on the WebSocket, which then closes."""
        code, info = await asyncio.to_thread(_http, "DELETE", f"{self.base}/api/sessions/{self.id}", None, self.token)
        assert code == 200, info
        await asyncio.wait_for(self.reader, 30)
        return info

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        await self.pc.close()
        if self.player.video is not None:
            self.player.video.stop()

    def summary(self) -> dict[str, Any]:
        found = [event for _, event in self.events if event["type"] == "summary"]
        assert found, f"session {self.id}: no summary event"
        return found[-1]


def _node_of(client: LiveClient) -> str:
    return client.id.split("-", 1)[0]


def _history(base: str) -> dict[str, dict[str, Any]]:
    code, page = _http("GET", f"{base}/api/history?kind=live&include_empty=true")
    assert code == 200, page
    return {item["id"]: item for item in page["items"]}


@pytest.mark.slow
def test_two_nodes_behind_the_balancer_share_one_history_and_a_killed_node_keeps_its_reps(
    cluster: Cluster, client_clip: Path
) -> None:
    base = cluster.url

    async def run() -> tuple[LiveClient, LiveClient, LiveClient, int]:
        first = LiveClient(base, client_clip)
        await first.start()
        # the balancer sends new sessions to the node with the fewest open connections: the other one
        second = LiveClient(base, client_clip)
        await second.start()
        assert {_node_of(first), _node_of(second)} == set(NODES), (first.id, second.id)
        await asyncio.gather(first.wait_reps(1), second.wait_reps(1))
        code, info = await asyncio.to_thread(_http, "GET", f"{base}/api/sessions/{second.id}", None, second.token)
        assert code == 200 and info["state"] == "live", info
        await second.delete()
        await second.close()

        # a third session goes to the idle node; once a rep of it is saved, that node is killed
        third = LiveClient(base, client_clip)
        await third.start()
        assert _node_of(third) == _node_of(second)
        await third.wait_reps(1)
        deadline = time.monotonic() + 20
        while True:
            code, saved = await asyncio.to_thread(_http, "GET", f"{base}/api/history/live/{third.id}")
            if code == 200 and saved["summary"]["reps"] >= len(third.reps()):
                break
            assert time.monotonic() < deadline, (code, saved)
            await asyncio.sleep(0.2)
        assert saved["ended_at"] is None  # in progress
        saved_reps = int(saved["summary"]["reps"])
        cluster.kill(_node_of(third))
        killed_at = time.monotonic()
        await asyncio.wait_for(third.reader, 20)  # the balancer drops its WebSocket
        await third.close()
        # restarted at once; meanwhile the survivor's session carries on, and is ended by DELETE
        cluster.start_node(_node_of(third))
        await first.wait_reps(1, after=killed_at)
        await first.delete()
        await first.close()
        await asyncio.to_thread(cluster.wait_node, _node_of(third))
        return first, second, third, saved_reps

    started = time.monotonic()
    first, second, third, saved_reps = asyncio.run(run())
    history = _history(base)  # through the balancer: either node answers from the one store
    for client in (first, second):
        assert client.summary()["reps"] == len(client.reps()) >= 1
        item = history[client.id]
        assert item["status"] == "done" and item["reps"] == len(client.reps())
        assert item["end_reason"] == "stopped by the client"
    lost = history[third.id]  # ended by its node's restart, its counted reps kept
    assert lost["status"] == "done" and lost["end_reason"] == "server lost"
    assert 1 <= saved_reps <= lost["reps"] <= len(third.reps())  # a rep counted after the last save may be lost
    code, report = _http("GET", f"{base}/api/history/live/{third.id}")
    assert code == 200 and len(report["reps"]) == lost["reps"] and report["end_reason"] == "server lost"
    print(f"cluster scenario: {time.monotonic() - started:.1f} s after start-up")
