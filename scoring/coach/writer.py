"""Coaching tips from scoring events, in a persona's voice: ``TipWriter.add(event) -> [Tip]``.

``TipWriter`` ties what to say (``scoring.coach.select.TipSelector``) and how (``TemplateText``) to an
optional ``TextGenerator`` (a local language model, ``scoring.coach.model``). With one, ``add`` only
submits the request and ``poll`` releases the model's tip when it is ready, or the template when the
time budget ran out: the caller never waits. ``TipService`` hands every session and job its writer.

The live loop and batch reports feed the same events and get the same tips (without a model).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from scoring.coach.persona import BUILTIN_DIR, Persona, PersonaLibrary
from scoring.coach.select import Severity, TipKind, TipOptions, TipRequest, TipSelector
from scoring.coach.templates import TemplateText
from scoring.types import CoachEvent


@dataclass(frozen=True)
class Tip:
    """One piece of coaching, tied to what triggered it."""

    text: str
    """What the coach says."""
    kind: TipKind
    """``fault`` (names a measured fault), ``praise`` (a clean or corrected rep, a hold's end), ``progress`` (a
    hold's time so far) or ``summary``."""
    persona: str
    """Id of the persona that wrote it."""
    rep: int | None
    """Number of the rep (or, for a hold exercise, the hold) it is about (None for the set summary)."""
    fault: str | None
    """Fault id for ``fault`` tips; for praise, the fault that was fixed (if that is the praise)."""
    value: float | None
    """The measured value that triggered it (the fault's value, the rep's score, the mean score)."""
    severity: Severity
    """Safety tips come first; praise and summaries are ``info``."""
    source: Literal["template", "model"] = "template"
    """Who wrote the text: the persona's templates or the language model."""
    note: str | None = None
    """Why the template was used although a model was asked (timeout, error, empty, unsafe...)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Generated:
    """A language model's answer to one request."""

    text: str | None
    """The checked tip text, or None when the template must be used."""
    reason: str
    """``ok``, or why there is no text (timeout, error, empty, unsafe...)."""


class TextGenerator(Protocol):
    """Writes tips with a language model off the caller's thread (see ``scoring.coach.model``)."""

    def submit(self, persona: Persona, request: TipRequest, deadline: float, avoid: str | None) -> Future[Generated]:
        """Queue a request; the future resolves with the tip or the reason there is none. Never blocks.
        ``deadline`` is on the ``time.monotonic`` clock; ``avoid`` is the text said just before."""
        ...


@dataclass
class _Pending:
    request: TipRequest
    persona: Persona
    template: str
    future: Future[Generated]
    deadline: float


class TipWriter:
    """Scoring events -> tips in one persona's voice (switchable at any time). Used by one thread."""

    def __init__(
        self,
        persona: Persona,
        options: TipOptions | None = None,
        generator: TextGenerator | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or TipOptions()
        self.selector = TipSelector(self.options)
        self.templates = TemplateText(self.options.seed)
        self.generator = generator
        self._persona = persona
        self._clock = clock
        self._pending: deque[_Pending] = deque()
        self._last_text: str | None = None
        self.notify: Callable[[], None] | None = None
        """Called (from the model's thread) when a pending tip is ready, so the owner polls at once."""

    @property
    def persona(self) -> Persona:
        return self._persona

    def set_persona(self, persona: Persona) -> None:
        """Speak as ``persona`` from the next tip on (safe to call from another thread)."""
        self._persona = persona

    @property
    def pending(self) -> int:
        """Tips waiting for the language model."""
        return len(self._pending)

    def add(self, event: CoachEvent) -> list[Tip]:
        """The next event from ``ScoringCore.add``/``finish``; the tips ready now (often none)."""
        request = self.selector.add(event)
        if request is None:
            return self.poll()
        persona = self._persona
        template = self.templates.write(persona, request)
        if self.generator is None:
            return [self._release(request, persona, template, None)]
        deadline = self._clock() + self.options.time_budget_s
        future = self.generator.submit(persona, request, deadline, self._last_text)
        if self.notify is not None:
            notify = self.notify
            future.add_done_callback(lambda _: notify())
        self._pending.append(_Pending(request, persona, template, future, deadline))
        return self.poll()

    def poll(self) -> list[Tip]:
        """Tips whose model text is ready or whose time budget ran out, in order. Never blocks."""
        if not self._pending:  # the common case, every loop pass of every session
            return []
        tips: list[Tip] = []
        now = self._clock()
        while self._pending:
            head = self._pending[0]
            if head.future.done():
                generated = head.future.result()
            elif now >= head.deadline:
                head.future.cancel()
                generated = Generated(None, f"timeout: no text within {self.options.time_budget_s:g} s")
            else:
                break
            self._pending.popleft()
            tips.append(self._release(head.request, head.persona, head.template, generated))
        return tips

    def drain(self) -> list[Tip]:
        """Every pending tip, waiting for each at most until its deadline (batch mode, end of a set)."""
        tips: list[Tip] = []
        while self._pending:
            head = self._pending.popleft()
            try:
                generated = head.future.result(timeout=max(0.0, head.deadline - self._clock()))
            except FutureTimeout:
                head.future.cancel()
                generated = Generated(None, f"timeout: no text within {self.options.time_budget_s:g} s")
            tips.append(self._release(head.request, head.persona, head.template, generated))
        return tips

    def _release(self, request: TipRequest, persona: Persona, template: str, generated: Generated | None) -> Tip:
        source: Literal["template", "model"] = "template"
        if generated is not None and generated.text and generated.text != self._last_text:
            text, source, note = generated.text, "model", None
        else:
            text = template
            note = None if generated is None else (generated.reason if not generated.text else "repeat")
        self._last_text = text
        fault = request.fault.id if request.fault is not None else request.fixed
        rep = request.rep.index if request.rep is not None else request.hold.index if request.hold is not None else None
        return Tip(text, request.kind, persona.id, rep, fault, request.value, request.severity, source, note)


class TipService:
    """The personas of a folder and how tips are written: one per server, shared by all sessions."""

    def __init__(
        self,
        library: PersonaLibrary,
        options: TipOptions | None = None,
        generator: TextGenerator | None = None,
    ) -> None:
        self.library = library
        self.options = options or TipOptions()
        self.generator = generator

    def personas(self) -> list[Persona]:
        """Every persona a session can pick (re-read when the folder changed)."""
        return self.library.list()

    def persona(self, persona_id: str) -> Persona:
        """A persona by id; ``ValueError`` names the choices for an unknown one."""
        return self.library.get(persona_id)

    def writer(self, persona_id: str) -> TipWriter:
        """A tip writer for one set; ``ValueError`` for an unknown persona."""
        return TipWriter(self.persona(persona_id), self.options, self.generator)


def create_tip_writer(persona: str, directory: Path = BUILTIN_DIR, options: TipOptions | None = None) -> TipWriter:
    """A template tip writer for a persona id of ``directory``; ``ValueError`` names the choices."""
    return TipWriter(PersonaLibrary(directory).get(persona), options)
