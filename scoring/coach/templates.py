"""How to say it: the words of a ``TipRequest`` from a persona's phrase banks.

``TemplateText`` never reuses the phrasing it used just before and applies the persona's emoji policy;
it is deterministic for a given seed.
"""

from __future__ import annotations

import random
import re
import unicodedata

from scoring.coach.persona import Persona
from scoring.coach.select import TipRequest

_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?] ))[a-z]")

# Templates are written for many reps; these keep the words right for the numbers they got.
_ONE_PLURAL = re.compile(r"(?<![\d.,])\b1 (rep|hold|second|fault)s\b")
"""'1 reps' -> '1 rep' (and holds, seconds, faults)."""
_SAME_BEST_WORST = re.compile(r" \(best (\d+(?:\.\d+)?), worst \1\)|, best (\d+(?:\.\d+)?), worst \2\b")
"""' (best 100, worst 100)' or ', best 90, worst 90' (every rep scored the mean) -> nothing."""
_NO_TREND = re.compile(r"[,;]? trend n/a\b")
"""'trend n/a' (fewer than three reps to tell) -> nothing."""


def tidy(text: str) -> str:
    """A filled-in template with its grammar fitted to its numbers (singulars, equal best and worst, no
    trend to tell)."""
    text = _ONE_PLURAL.sub(r"1 \1", text)
    text = _SAME_BEST_WORST.sub("", text)
    return _NO_TREND.sub("", text)


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
        text = _SENTENCE_START.sub(lambda m: m.group(0).upper(), tidy(template.format(**request.facts())))
        return self._emoji(persona, text)

    @staticmethod
    def banks(request: TipRequest) -> list[str]:
        """Phrase banks to draw from, most specific first."""
        if request.summary is not None and request.summary.kind == "hold":
            return ["summary_holds"] if request.summary.holds else ["summary_no_holds"]
        if request.hold is not None:
            if request.fault is not None:
                return [f"hold_faults.{request.fault.id}", "hold_fault"]
            return ["hold_progress"] if request.hold.result is None else ["hold_done"]
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
