"""WebRTC signalling for a live session: validate the browser's offer, answer it with aiortc, and hand
the incoming video track to the session's ingest.

The server only receives video (the answer is ``recvonly``); audio in an offer is refused by aiortc's
answer direction and never read. The VP8 bitrate hint (ENVIRONMENT.md) is applied by the page to the
answer it receives, where Chromium reads it.
"""

from __future__ import annotations

import asyncio
import logging

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from realtime.manager import SessionManager
from realtime.session import Session, SessionState, SessionStateError

log = logging.getLogger(__name__)


class OfferError(ValueError):
    """The offer cannot be answered; the message says why (HTTP 400)."""


def check_offer(sdp: str, kind: str) -> None:
    """Refuse what is not a usable WebRTC offer with one video stream, naming the problem."""
    if kind != "offer":
        raise OfferError(f"expected a description of type 'offer', got {kind!r}")
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("malformed SDP: it must start with the line 'v=0'")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises ValueError/KeyError/IndexError on bad lines
        raise OfferError(f"malformed SDP: {exc}") from exc
    videos = [m for m in parsed.media if m.kind == "video"]
    if not videos:
        raise OfferError("the offer has no video stream: add the camera track before creating the offer")
    for media in videos:
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise OfferError("malformed SDP: the video stream has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
        if media.dtls is None or not media.dtls.fingerprints:
            raise OfferError("malformed SDP: the video stream has no DTLS fingerprint (a=fingerprint)")
        if not media.rtp.codecs:
            raise OfferError("the offer's video stream lists no codec")


async def answer_offer(manager: SessionManager, session: Session, sdp: str, kind: str) -> RTCSessionDescription:
    """Answer ``session``'s offer; its video frames then flow into the session's slot.

    Raises ``OfferError`` for a bad offer (the session stays ready for a good one) and
    ``SessionStateError`` when the session already has a connection or has ended.
    """
    if session.state is not SessionState.CREATED:
        raise SessionStateError(f"session {session.id} is {session.state.value}; it accepts one offer")
    check_offer(sdp, kind)
    pc = RTCPeerConnection()
    early: list[object] = []  # aiortc announces the remote track inside setRemoteDescription
    accepted = asyncio.Event()  # set once this connection belongs to the session

    @pc.on("track")
    def on_track(track: object) -> None:
        if getattr(track, "kind", None) != "video":
            return
        if session.state is SessionState.CREATED:
            early.append(track)
        else:
            manager.attach_track(session, track)  # type: ignore[arg-type]

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState in ("failed", "closed") and accepted.is_set():
            manager.end_soon(session, f"the WebRTC connection {pc.connectionState}")

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:
        await pc.close()
        raise OfferError(f"malformed SDP: {exc}") from exc
    if session.state is not SessionState.CREATED:  # a concurrent offer won
        await pc.close()
        raise SessionStateError(f"session {session.id} is {session.state.value}; it accepts one offer")
    if not early:
        await pc.close()
        raise OfferError("the offer has no video stream the server can receive")
    manager.offer_received(session)
    accepted.set()
    session.closers.append(pc.close)
    for track in early:
        manager.attach_track(session, track)  # type: ignore[arg-type]
    try:
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
    except Exception as exc:
        log.exception("answering the offer of session %s failed", session.id)
        manager.end_soon(session, f"answering the offer failed: {exc}")
        raise OfferError(f"the offer could not be answered: {exc}") from exc
    return pc.localDescription
