"""Events on their way to a session's WebSocket: the ``Outgoing`` message and the bounded ``Outbox``.

The inference thread makes ``Outgoing`` items; ``Session.emit`` hands them to the event loop, where
the outbox holds them until the WebSocket's sender task takes them (``server/ws.py``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Literal

from realtime.events import Pose3DEvent, PoseEvent, ServerEvent

Metric = Literal["pose", "rep"]

_SHED = (PoseEvent, Pose3DEvent)
"""Events that make room when the outbox is full: a newer one of each soon replaces them."""


@dataclass(frozen=True)
class Outgoing:
    """One event on its way to the session's WebSocket."""

    event: ServerEvent
    """The typed event (``realtime.events``)."""
    since: float | None = None
    """``time.monotonic()`` the latency of this event is measured from (frame arrival), if any."""
    metric: Metric | None = None
    """Which latency series the send time goes to."""


class Outbox:
    """Events waiting for the WebSocket (event-loop side only).

    Bounded: when full, the oldest ``pose`` or ``pose3d`` event makes room (a stale overlay is worthless); reps,
    tips, statuses and the summary are kept unless ``hard_limit`` is reached. ``None`` from ``get``
    means closed and drained.
    """

    def __init__(self, capacity: int = 120, hard_limit: int = 2000) -> None:
        self.capacity = capacity
        self.hard_limit = hard_limit
        self._items: deque[Outgoing] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        """Events thrown away because nobody read them in time."""

    def put(self, item: Outgoing) -> None:
        if self._closed:
            return
        if len(self._items) >= self.capacity:
            for i, queued in enumerate(self._items):
                if isinstance(queued.event, _SHED):
                    del self._items[i]
                    self.dropped += 1
                    break
            else:
                if isinstance(item.event, _SHED):
                    self.dropped += 1
                    return
                if len(self._items) >= self.hard_limit:
                    self._items.popleft()
                    self.dropped += 1
        self._items.append(item)
        self._ready.set()

    async def get(self) -> Outgoing | None:
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def close(self) -> None:
        """No more events; ``get`` drains what is queued, then returns None."""
        self._closed = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)
