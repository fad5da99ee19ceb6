"""Coaching tips from scoring events: ``TipWriter.add(event) -> [Tip]``.

Pure and synchronous like the rest of scoring/: the live loop and batch reports feed it the core's
events in order and get the same tips. A writer speaks in one persona's voice; ``PlainTips`` is the
neutral voice (one tip per fault, praise for a clean rep, a summary at the end). Persona voices plug
in behind the same interface.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scoring.types import CoachEvent, RepResult, RepScored, SetFinished, SetSummary

TipKind = Literal["fault", "praise", "summary"]


@dataclass(frozen=True)
class Persona:
    """A coaching voice as the pickers and the API show it."""

    id: str
    """Stable id used in requests (``plain``)."""
    name: str
    """Display name."""
    description: str
    """One line on how it speaks."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Tip:
    """One piece of coaching, tied to what triggered it."""

    text: str
    """What the coach says."""
    kind: TipKind
    """``fault`` (names a measured fault), ``praise`` (a clean rep) or ``summary`` (end of the set)."""
    persona: str
    """Id of the persona that wrote it."""
    rep: int | None
    """Number of the rep it is about (None for the set summary)."""
    fault: str | None
    """Fault id for ``fault`` tips."""
    value: float | None
    """The measured value that triggered it (the fault's value, or the rep's score for praise)."""
    severity: Literal["safety", "form", "info"]
    """Safety tips come first; praise and summaries are ``info``."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class TipWriter(abc.ABC):
    """Turns the scoring core's events into tips in one voice."""

    persona: Persona

    @abc.abstractmethod
    def add(self, event: CoachEvent) -> list[Tip]:
        """The next event from ``ScoringCore.add``/``finish``; the tips it calls for (often none)."""


PLAIN = Persona("plain", "Plain", "Neutral and factual: one tip per fault with the measured value.")


class PlainTips(TipWriter):
    """The neutral voice: every fault of a rep (safety first), praise for a clean rep, and a summary."""

    persona = PLAIN

    def __init__(self, praise_score: float = 85.0) -> None:
        self.praise_score = praise_score

    def add(self, event: CoachEvent) -> list[Tip]:
        if isinstance(event, RepScored):
            return self._rep(event.result)
        if isinstance(event, SetFinished):
            return [self._summary(event.summary)]
        return []

    def _rep(self, rep: RepResult) -> list[Tip]:
        n = rep.index
        tips = [
            Tip(f"Rep {n}: {fault.message}.", "fault", PLAIN.id, n, fault.id, fault.value, fault.severity)
            for fault in rep.faults  # already ordered safety first
        ]
        if not tips and rep.score >= self.praise_score:
            text = f"Rep {n}: clean rep, score {rep.score:.0f}."
            tips.append(Tip(text, "praise", PLAIN.id, n, None, rep.score, "info"))
        return tips

    def _summary(self, summary: SetSummary) -> Tip:
        if summary.reps == 0:
            text = "No complete reps were counted in this set."
        else:
            text = f"{summary.reps} reps, mean score {summary.mean_score:.0f} (best {summary.best_score:.0f})"
            if summary.most_frequent_fault:
                text += f"; most frequent fault: {summary.most_frequent_fault.replace('_', ' ')} "
                text += f"in {summary.most_frequent_fault_count} of {summary.reps} reps"
            text += "."
        return Tip(text, "summary", PLAIN.id, None, None, summary.mean_score, "info")


PERSONAS: dict[str, type[TipWriter]] = {PLAIN.id: PlainTips}
"""The available voices by id."""


def list_personas() -> list[Persona]:
    """Every persona a session can pick."""
    return [writer.persona for writer in PERSONAS.values()]


def create_tip_writer(persona: str) -> TipWriter:
    """The writer for a persona id; ``ValueError`` names the choices for an unknown one."""
    if persona not in PERSONAS:
        raise ValueError(f"unknown persona {persona!r}; choose one of {sorted(PERSONAS)}")
    return PERSONAS[persona]()
