"""What to say: scoring events -> at most one ``TipRequest`` each, before any wording.

``TipSelector`` is pure and synchronous; its clock is the reps' source time. At most one tip per rep;
safety faults first (and past the cooldown), other faults and praise only ``cooldown_s`` of source
time after the last tip; praise for a clean rep or for a fault fixed; always a summary at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
