"""The WebSocket of a live session: typed events out (``realtime/events.py``), commands in.

Commands from the client: ``{"type": "stop"}`` ends the set (the summary follows, then the server
closes the socket with code 1000); ``{"type": "persona", "persona": "<id>"}`` switches the coach's
voice from the next tip on (answered by a ``status`` event with the new ``persona``, or a notice).
A client that disconnects ends its session. A refused handshake
gets an HTTP answer: 404 unknown session (or not this token's), 401 no token, 409 already connected.

Hostile messages keep the session: a binary frame, a text over ``max_ws_message_bytes``, or JSON nested
deeper than ``MAX_DEPTH`` is answered with a notice saying why and logged; frames over uvicorn's
``ws_max_size`` (set by ``coach serve``) close the socket with 1009 (message too big).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from realtime.manager import SessionManager, UnknownSessionError
from realtime.session import Session, SessionState
from server.services import ManagerDep, services_of

log = logging.getLogger("coach.ws")

router = APIRouter()


async def _refuse(websocket: WebSocket, status_code: int, detail: str) -> None:
    await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=status_code))


@router.websocket("/ws/sessions/{session_id}")
async def session_events(websocket: WebSocket, session_id: str, manager: ManagerDep, token: str | None = None) -> None:
    try:
        session = manager.get(session_id)
    except UnknownSessionError:
        await _refuse(websocket, 404, f"no session {session_id!r} (it never existed or it ended)")
        return
    if not token:
        await _refuse(websocket, 401, "add the session's token as ?token=<token>")
        return
    if not session.check_token(token):  # as for an unknown session: nothing revealed
        await _refuse(websocket, 404, f"no session {session_id!r} (it never existed or it ended)")
        return
    if session.websocket_attached:
        await _refuse(websocket, 409, "this session already has its WebSocket")
        return
    session.websocket_attached = True
    await websocket.accept()
    sender = asyncio.create_task(_send(websocket, session), name=f"ws-send:{session.id}")
    limit = services_of(websocket.app).settings.max_ws_message_bytes
    receiver = asyncio.create_task(_receive(websocket, session, manager, limit), name=f"ws-receive:{session.id}")
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not receiver.done() and sender.done():  # all events sent: the session is over
            with contextlib.suppress(Exception):
                await websocket.close(code=1000, reason=session.end_reason or "session ended")
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
    if session.state not in (SessionState.ENDING, SessionState.CLOSED):
        manager.end_soon(session, "the client disconnected")


async def _send(websocket: WebSocket, session: Session) -> None:
    while True:
        item = await session.outbox.get()
        if item is None:
            return
        await websocket.send_text(json.dumps(item.event.as_json(), separators=(",", ":")))
        if item.since is not None and item.metric is not None:
            session.stats.record(item.metric, item.since, time.monotonic())


MAX_DEPTH = 4
"""Deepest JSON nesting a command may have (the real ones are flat objects)."""


def _depth(text: str) -> int:
    """Deepest nesting of brackets in ``text`` (counted before parsing, so no parser recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


async def _receive(websocket: WebSocket, session: Session, manager: SessionManager, limit: int) -> None:
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        message = frame.get("text")
        if message is None:
            log.warning("session %s: a binary WebSocket frame was ignored", session.id)
            manager.notice(session, 'binary messages are not accepted: send JSON text, e.g. {"type": "stop"}')
            continue
        if len(message.encode()) > limit:
            log.warning("session %s: a %d-byte WebSocket command was ignored", session.id, len(message.encode()))
            manager.notice(session, f"that command was {len(message.encode())} bytes; commands are at most {limit}")
            continue
        if _depth(message) > MAX_DEPTH:
            log.warning("session %s: a WebSocket command nested too deep was ignored", session.id)
            manager.notice(session, f"that command is nested more than {MAX_DEPTH} levels deep; commands are flat")
            continue
        try:
            command = json.loads(message)
        except json.JSONDecodeError:
            command = None
        kind = command.get("type") if isinstance(command, dict) else None
        if kind == "stop":
            manager.end_soon(session, "stopped by the client")
        elif kind == "persona":
            assert isinstance(command, dict)
            try:
                manager.set_persona(session, str(command.get("persona")))  # confirmed by a status event
            except ValueError as exc:
                manager.notice(session, str(exc))
        elif kind != "ping":
            manager.notice(
                session,
                f'unknown command {message[:80]!r}; send {{"type": "stop"}} to end the set '
                'or {"type": "persona", "persona": "<id>"} to change the coach',
            )
