"""What to say: scoring events -> at most one ``TipRequest`` each, before any wording.

``TipSelector`` is pure and synchronous; its clock is the reps' source time. At most one tip per rep;
safety faults first (and past the cooldown), other faults and praise only ``cooldown_s`` of source
time after the last tip; praise for a clean rep or for a fault fixed; always a summary at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from scoring.types import (
    FAULT_UNITS,
    CoachEvent,
    Fault,
    HoldEnded,
    HoldFault,
    HoldProgress,
    HoldResult,
    RepResult,
    RepScored,
    SetFinished,
    SetSummary,
)

TipKind = Literal["fault", "praise", "summary", "progress"]
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


PROGRESS_EVERY_S = 10
"""A hold's progress tip (when the cooldown allows): every this many seconds, and at half and all of the
exercise's target time."""


@dataclass(frozen=True)
class HoldMoment:
    """Where a hold stands when a tip is about it."""

    index: int
    """Number of the hold."""
    seconds: float
    """Seconds held."""
    target_s: float | None
    """The exercise's target time (None: none)."""
    mark: str = ""
    """For progress tips: "halfway", "target reached" or "keep going"."""
    result: HoldResult | None = None
    """The hold's result, when it ended."""


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
    hold: HoldMoment | None = None
    """For tips about a hold (a fault episode under way, progress, the hold's end)."""

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
        if self.hold is not None:
            return self.hold.result.score if self.hold.result is not None else self.hold.seconds
        return self.rep.score if self.rep is not None else None

    def facts(self) -> dict[str, Any]:
        """The template fields (see ``scoring.persona.PLACEHOLDERS``)."""
        if self.summary is not None and self.summary.kind == "hold":
            s = self.summary
            top = s.most_frequent_fault
            return {
                "holds": s.holds,
                "total_s": s.hold_total_s,
                "longest_s": s.hold_longest_s,
                "mean_score": s.mean_score or 0.0,
                "best_score": s.best_score or 0.0,
                "worst_score": s.worst_score or 0.0,
                "top_fault": top.replace("_", " ") if top else "none",
                "top_fault_count": s.most_frequent_fault_count,
            }
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
        if self.hold is not None:
            h = self.hold
            facts = {"hold": h.index, "seconds": h.seconds, "target": h.target_s or 0.0, "mark": h.mark}
            if h.result is not None:
                facts.update(score=h.result.score, faults=len(h.result.faults))
            return {**facts, **(self._fault_facts() if self.fault is not None else {})}
        assert self.rep is not None
        facts = {"rep": self.rep.index, "score": self.rep.score}
        if self.fixed is not None:
            facts["fault"] = self.fixed.replace("_", " ")
        return {**facts, **self._fault_facts()}

    def _fault_facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
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
        if self.summary is not None and self.summary.kind == "hold":
            return f"{facts['total_s']:.0f}", f"{facts['holds']} holds, {facts['total_s']:.0f} s in all"
        if self.summary is not None:
            return str(facts["reps"]), f"{facts['reps']} reps, mean score {facts['mean_score']:.0f}"
        if self.fault is not None:
            return facts["value_text"].split(" ")[0].rstrip("%"), f"{facts['fault']}: {facts['value_text']}"
        if self.hold is not None and self.hold.result is None:
            return f"{facts['seconds']:.0f}", f"{facts['seconds']:.0f} s held"
        return f"{facts['score']:.0f}", f"score {facts['score']:.0f}"

    def report(self) -> str:
        """One line of plain English for a language model: what happened, with the numbers."""
        if self.summary is not None and self.summary.kind == "hold":
            s = self.facts()
            text = f"set finished: {s['holds']} holds, {s['total_s']:.0f} s in all, longest {s['longest_s']:.0f} s"
            if self.summary.holds:
                text += f", mean score {s['mean_score']:.0f}"
            if self.summary.most_frequent_fault:
                text += f", most frequent fault {s['top_fault']} in {s['top_fault_count']} holds"
            return text
        if self.hold is not None:
            h = self.hold
            target = f" of a {h.target_s:.0f} s target" if h.target_s else ""
            text = f"hold {h.index}, {h.seconds:.0f} s held{target}"
            if self.fault is not None:
                return f"{text}, {self.fault.severity} fault right now: {self.fault.message}"
            if h.result is not None:
                return f"{text}, hold ended, score {h.result.score:.0f}/100, {len(h.result.faults)} fault episodes"
            return f"{text}, {h.mark}"
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
        if isinstance(event, HoldFault | HoldProgress | HoldEnded):
            return self._hold(event)
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

    def _cooled(self, now_ms: float) -> bool:
        return self._last_ms is None or now_ms - self._last_ms >= self.options.cooldown_s * 1000

    def _hold(self, event: HoldFault | HoldProgress | HoldEnded) -> TipRequest | None:
        """A hold's tips: a fault episode as it begins (safety at once, others past the cooldown), progress
        at the milestones (past the cooldown), and always the hold's end with its time and score."""
        request: TipRequest | None = None
        if isinstance(event, HoldFault):
            moment = HoldMoment(event.index, event.seconds, None)
            if event.fault.severity == "safety" or self._cooled(event.timestamp_ms):
                request = TipRequest("fault", None, event.fault, None, None, moment)
            now = event.timestamp_ms
        elif isinstance(event, HoldProgress):
            now = event.timestamp_ms
            target = event.target_s
            mark = ""
            if target and event.seconds == int(target):
                mark = "target reached"
            elif target and event.seconds == int(target / 2) and target >= 2 * PROGRESS_EVERY_S:
                mark = "halfway"
            elif event.seconds % PROGRESS_EVERY_S == 0:
                mark = "keep going"
            if mark and self._cooled(now):
                request = TipRequest(
                    "progress", None, None, None, None, HoldMoment(event.index, event.seconds, target, mark)
                )
        else:
            result = event.result
            now = result.end_ms
            moment = HoldMoment(result.index, result.duration_s, result.target_s, "", result)
            request = TipRequest("praise", None, None, None, None, moment)
        if request is not None:
            self._last_ms = now
        return request

    def _rotate(self, faults: list[Fault]) -> Fault:
        """The first fault, unless it is the one just named and another one waits its turn."""
        if len(faults) > 1 and faults[0].id == self._last_fault:
            return faults[1]
        return faults[0]
