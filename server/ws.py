"""The WebSocket of a live session: typed events out (``realtime/events.py``), commands in.

Commands from the client: ``{"type": "stop"}`` ends the set (the summary follows, then the server
closes the socket with code 1000); ``{"type": "persona", "persona": "<id>"}`` switches the coach's
voice from the next tip on (answered by a ``status`` event with the new ``persona``, or a notice).
A client that disconnects ends its session. A refused handshake
gets an HTTP answer: 404 unknown session, 401 no token, 403 wrong token, 409 already connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from realtime.manager import SessionManager, UnknownSessionError
from realtime.session import Session, SessionState
from server.services import ManagerDep

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
    if not session.check_token(token):
        await _refuse(websocket, 403, "this token does not belong to the session")
        return
    if session.websocket_attached:
        await _refuse(websocket, 409, "this session already has its WebSocket")
        return
    session.websocket_attached = True
    await websocket.accept()
    sender = asyncio.create_task(_send(websocket, session), name=f"ws-send:{session.id}")
    receiver = asyncio.create_task(_receive(websocket, session, manager), name=f"ws-receive:{session.id}")
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


async def _receive(websocket: WebSocket, session: Session, manager: SessionManager) -> None:
    while True:
        try:
            message = await websocket.receive_text()
        except WebSocketDisconnect:
            return
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
