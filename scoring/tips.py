"""Coaching tips from scoring events, in a persona's voice: ``TipWriter.add(event) -> [Tip]``.

Three parts, each pure and synchronous like the rest of scoring/:

- ``TipSelector`` decides *what* to say: at most one tip per rep, safety faults first (and past the
  cooldown), other faults and praise only after ``cooldown_s`` of source time since the last tip,
  praise for a clean rep or for a fault fixed, always a summary at the end.
- ``TemplateText`` decides *how*: a template from the persona's phrase banks (never the phrasing
  used just before), the persona's emoji policy; deterministic for a given seed.
- ``TipWriter`` ties them to an optional ``TextGenerator`` (a local language model, see
  ``scoring/textgen.py``). With one, ``add`` only submits the request and ``poll`` releases the
  model's tip when it is ready, or the template when the time budget ran out: the caller never waits.

The live loop and batch reports feed the same events and get the same tips (without a model).
"""

from __future__ import annotations

import random
import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from scoring.persona import BUILTIN_DIR, Persona, PersonaLibrary
from scoring.types import FAULT_UNITS, CoachEvent, Fault, RepResult, RepScored, SetFinished, SetSummary

TipKind = Literal["fault", "praise", "summary"]
Severity = Literal["safety", "form", "info"]


@dataclass(frozen=True)
class TipOptions:
    """How often and when to speak."""

    cooldown_s: float = 5.0
    """Least source time between two tips; safety faults and the summary skip it."""
    praise_score: float = 85.0
    """A rep without faults scoring at least this earns praise."""
    seed: int = 0
    """Seed of the template choice (same seed, same events: same tips)."""
    time_budget_s: float = 1.5
    """Longest wait for a language model's tip before the template is used."""

    def __post_init__(self) -> None:
        if self.cooldown_s < 0 or self.time_budget_s <= 0:
            raise ValueError(
                f"cooldown_s must be >= 0 and time_budget_s > 0, got {self.cooldown_s} and {self.time_budget_s}"
            )


@dataclass(frozen=True)
class Tip:
    """One piece of coaching, tied to what triggered it."""

    text: str
    """What the coach says."""
    kind: TipKind
    """``fault`` (names a measured fault), ``praise`` (a clean or corrected rep) or ``summary``."""
    persona: str
    """Id of the persona that wrote it."""
    rep: int | None
    """Number of the rep it is about (None for the set summary)."""
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


def _value_text(value: float, unit: str, precise: bool = False) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    if unit == "s":
        return f"{value:.2f} s" if precise else f"{value:.1f} s"
    return f"{value:.0f} {unit}"


@dataclass(frozen=True)
class TipRequest:
    """What the selector decided to say, before any wording."""

    kind: TipKind
    """Kind of tip."""
    rep: RepResult | None
    """The rep it is about (None for the summary)."""
    fault: Fault | None
    """The fault to name (``fault`` tips)."""
    fixed: str | None
    """For praise: the fault id the previous tip was about, now gone."""
    summary: SetSummary | None
    """For the summary."""

    @property
    def severity(self) -> Severity:
        return self.fault.severity if self.fault is not None else "info"

    @property
    def value(self) -> float | None:
        """The measured value behind the tip."""
        if self.fault is not None:
            return self.fault.value
        if self.summary is not None:
            return self.summary.mean_score
        return self.rep.score if self.rep is not None else None

    def facts(self) -> dict[str, Any]:
        """The template fields (see ``scoring.persona.PLACEHOLDERS``)."""
        if self.summary is not None:
            s = self.summary
            top = s.most_frequent_fault
            return {
                "reps": s.reps,
                "mean_score": s.mean_score or 0.0,
                "best_score": s.best_score or 0.0,
                "worst_score": s.worst_score or 0.0,
                "trend": s.trend,
                "top_fault": top.replace("_", " ") if top else "none",
                "top_fault_count": s.most_frequent_fault_count,
            }
        assert self.rep is not None
        facts: dict[str, Any] = {"rep": self.rep.index, "score": self.rep.score}
        if self.fixed is not None:
            facts["fault"] = self.fixed.replace("_", " ")
        if self.fault is not None:
            f = self.fault
            unit = FAULT_UNITS.get(f.kind, "")
            facts.update(
                fault=f.id.replace("_", " "),
                message=f.message,
                value=f.value,
                reference=f.reference,
                delta=float(f.details.get("delta", abs(f.value - f.reference))),
                unit=unit,
                value_text=_value_text(f.value, unit, f.kind == "lag"),
                reference_text=_value_text(f.reference, unit, f.kind == "lag"),
                side=str(f.details.get("side", "one")),
                other=str(f.details.get("other", "other")),
                body_part=f.body_parts[0].replace("_", " ") if f.body_parts else "body",
            )
        return facts

    def fact(self) -> tuple[str, str]:
        """(the number a tip must show, a short phrase naming it) - e.g. ("17", "hips sag: 17 deg")."""
        facts = self.facts()
        if self.summary is not None:
            return str(facts["reps"]), f"{facts['reps']} reps, mean score {facts['mean_score']:.0f}"
        if self.fault is not None:
            return facts["value_text"].split(" ")[0].rstrip("%"), f"{facts['fault']}: {facts['value_text']}"
        return f"{facts['score']:.0f}", f"score {facts['score']:.0f}"

    def report(self) -> str:
        """One line of plain English for a language model: what happened, with the numbers."""
        if self.summary is not None:
            s = self.facts()
            text = (
                f"set finished: {s['reps']} reps, mean score {s['mean_score']:.0f}, best {s['best_score']:.0f}, "
                f"worst {s['worst_score']:.0f}, trend {s['trend']}"
            )
            if self.summary.most_frequent_fault:
                text += f", most frequent fault {s['top_fault']} in {s['top_fault_count']} reps"
            return text
        assert self.rep is not None
        text = f"rep {self.rep.index}, score {self.rep.score:.0f}/100"
        if self.fault is not None:
            return f"{text}, {self.fault.severity} fault: {self.fault.message}"
        if self.fixed is not None:
            return f"{text}, no faults, {self.fixed.replace('_', ' ')} corrected"
        return f"{text}, no faults"


class TipSelector:
    """Scoring events -> at most one ``TipRequest`` each. Pure; the clock is the reps' source time."""

    def __init__(self, options: TipOptions | None = None) -> None:
        self.options = options or TipOptions()
        self._last_ms: float | None = None
        self._last_fault: str | None = None  # fault id of the last tip, until a rep without it

    def add(self, event: CoachEvent) -> TipRequest | None:
        if isinstance(event, SetFinished):
            return TipRequest("summary", None, None, None, event.summary)
        if not isinstance(event, RepScored):
            return None
        rep = event.result
        cooled = self._last_ms is None or rep.end_ms - self._last_ms >= self.options.cooldown_s * 1000
        request = self._choose(rep, cooled)
        if rep.faults and self._last_fault not in {f.id for f in rep.faults}:
            self._last_fault = None  # fixed, but another fault took the floor: no praise for it later
        if request is not None:
            self._last_ms = rep.end_ms
            self._last_fault = request.fault.id if request.fault is not None else None
        return request

    def _choose(self, rep: RepResult, cooled: bool) -> TipRequest | None:
        if rep.faults:
            safety = [f for f in rep.faults if f.severity == "safety"]
            if safety:
                return TipRequest("fault", rep, self._rotate(safety), None, None)
            return TipRequest("fault", rep, self._rotate(list(rep.faults)), None, None) if cooled else None
        if not cooled:
            return None
        if self._last_fault is not None:  # the fault the last tip named is gone
            return TipRequest("praise", rep, None, self._last_fault, None)
        if rep.score >= self.options.praise_score:
            return TipRequest("praise", rep, None, None, None)
        return None

    def _rotate(self, faults: list[Fault]) -> Fault:
        """The first fault, unless it is the one just named and another one waits its turn."""
        if len(faults) > 1 and faults[0].id == self._last_fault:
            return faults[1]
        return faults[0]


_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?] ))[a-z]")


def is_emoji(ch: str) -> bool:
    """A pictograph (Unicode "other symbol": emojis, dingbats)."""
    return unicodedata.category(ch) == "So"


class TemplateText:
    """Words for a request from the persona's phrase banks; deterministic for a seed."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._last: str | None = None
        self._last_by_bank: dict[str, str] = {}
        self._last_emoji: str | None = None

    def write(self, persona: Persona, request: TipRequest) -> str:
        name, template = self._pick(persona, request)
        self._last, self._last_by_bank[name] = template, template
        text = _SENTENCE_START.sub(lambda m: m.group(0).upper(), template.format(**request.facts()))
        return self._emoji(persona, text)

    @staticmethod
    def banks(request: TipRequest) -> list[str]:
        """Phrase banks to draw from, most specific first."""
        if request.summary is not None:
            if request.summary.reps == 0:
                return ["summary_no_reps"]
            return ["summary"] if request.summary.most_frequent_fault else ["summary_clean"]
        if request.fault is not None:
            generic = ["safety", "fault"] if request.fault.severity == "safety" else ["fault"]
            return [f"faults.{request.fault.id}", *generic]
        return ["improved", "praise"] if request.fixed is not None else ["praise"]

    def _pick(self, persona: Persona, request: TipRequest) -> tuple[str, str]:
        # The last bank of the list is a required one with >= 2 templates, so one always differs.
        for name in self.banks(request):
            bank = persona.phrases.bank(name)
            fresh = [t for t in bank if t != self._last and t != self._last_by_bank.get(name)]
            fresh = fresh or [t for t in bank if t != self._last]
            if fresh:
                break
        return name, self._rng.choice(fresh)

    def _emoji(self, persona: Persona, text: str) -> str:
        if persona.emoji == "never" or any(is_emoji(ch) for ch in text):
            return text
        if persona.emoji == "sometimes" and self._rng.random() < 0.5:
            return text
        choices = [e for e in persona.emojis if e != self._last_emoji] or list(persona.emojis)
        self._last_emoji = self._rng.choice(choices)
        return f"{text} {self._last_emoji}"


@dataclass(frozen=True)
class Generated:
    """A language model's answer to one request."""

    text: str | None
    """The checked tip text, or None when the template must be used."""
    reason: str
    """``ok``, or why there is no text (timeout, error, empty, unsafe...)."""


class TextGenerator(Protocol):
    """Writes tips with a language model off the caller's thread (see ``scoring.textgen``)."""

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
        rep = request.rep.index if request.rep is not None else None
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
