"""Coach personas as data: one TOML file per voice (tone, phrase banks, emoji policy).

A persona file lives in the personas folder (``scoring/personas/`` ships five; ``Settings.personas_dir``
points elsewhere). Its name without ``.toml`` is the persona's id. Adding a file adds a coach to the
pickers and the API: no code changes. ``load_persona`` checks a file completely (unknown keys,
placeholders, that every tip names its measured value) and raises ``PersonaError`` saying what to
fix; ``PersonaLibrary`` keeps the folder's personas and reloads it when a file changes.

The placeholders each phrase bank may use are in ``PLACEHOLDERS``; see ``scoring/personas/README.md``.
"""

from __future__ import annotations

import logging
import re
import string
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "personas"
"""The personas shipped with the project."""

EmojiPolicy = Literal["never", "sometimes", "always"]

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

_FAULT_FIELDS = {
    "rep", "score", "fault", "message", "value", "reference", "delta", "unit", "value_text",
    "reference_text", "side", "other", "body_part",
}  # fmt: skip
_HOLD_FAULT_FIELDS = (_FAULT_FIELDS - {"rep", "score"}) | {"hold", "seconds"}
_HOLD_SUMMARY_FIELDS = {
    "holds", "total_s", "longest_s", "mean_score", "best_score", "worst_score", "top_fault", "top_fault_count",
}  # fmt: skip
PLACEHOLDERS: dict[str, set[str]] = {
    "fault": _FAULT_FIELDS,
    "safety": _FAULT_FIELDS,
    "faults": _FAULT_FIELDS,
    "hold_fault": _HOLD_FAULT_FIELDS,
    "hold_faults": _HOLD_FAULT_FIELDS,
    "hold_progress": {"hold", "seconds", "target", "mark"},
    "hold_done": {"hold", "seconds", "target", "score", "faults"},
    "summary_holds": _HOLD_SUMMARY_FIELDS,
    "summary_no_holds": {"holds"},
    "praise": {"rep", "score"},
    "improved": {"rep", "score", "fault"},
    "summary": {"reps", "mean_score", "best_score", "worst_score", "trend", "top_fault", "top_fault_count"},
    "summary_clean": {"reps", "mean_score", "best_score", "worst_score", "trend"},
    "summary_no_reps": {"reps"},
}
"""The fields each phrase bank's templates may use."""

_NAMES_VALUE: dict[str, set[str]] = {
    "fault": {"value", "value_text", "message", "delta"},
    "safety": {"value", "value_text", "message", "delta"},
    "faults": {"value", "value_text", "message", "delta"},
    "praise": {"score"},
    "improved": {"score"},
    "summary": {"reps", "mean_score"},
    "summary_clean": {"reps", "mean_score"},
    "summary_no_reps": {"reps"},
    "hold_fault": {"value", "value_text", "message", "delta"},
    "hold_faults": {"value", "value_text", "message", "delta"},
    "hold_progress": {"seconds"},
    "hold_done": {"seconds", "score"},
    "summary_holds": {"total_s", "longest_s", "holds"},
    "summary_no_holds": {"holds"},
}
"""Every template must use one of these: a tip always names the measured value behind it."""

HOLD_DEFAULTS: dict[str, tuple[str, ...]] = {
    "hold_fault": ("{message}: fix it while you hold ({seconds:.0f} s so far).", "Hold {hold}: {message}."),
    "hold_progress": ("{seconds:.0f} s held: {mark}.", "Hold {hold}: {seconds:.0f} s, {mark}."),
    "hold_done": ("Hold {hold}: {seconds:.0f} s, score {score:.0f}.", "{seconds:.0f} s held, score {score:.0f}."),
    "summary_holds": (
        "{holds} holds, {total_s:.0f} s in all, longest {longest_s:.0f} s.",
        "Done: {total_s:.0f} s under tension over {holds} holds.",
    ),
    "summary_no_holds": ("{holds} holds counted: get into position and hold it.", "No hold counted ({holds})."),
}
"""The hold banks' wording for a persona file without them (files written before holds existed)."""

_SAMPLE: dict[str, Any] = {
    "rep": 3, "score": 72.5, "fault": "hips sag", "message": "hips sag 17 deg below the line",
    "value": 17.2, "reference": 3.1, "delta": 14.1, "unit": "deg", "value_text": "17 deg",
    "reference_text": "3 deg", "side": "left", "other": "right", "body_part": "core", "reps": 8,
    "mean_score": 81.2, "best_score": 93.0, "worst_score": 64.0, "trend": "improving",
    "top_fault": "hips sag", "top_fault_count": 3, "hold": 1, "seconds": 20.0, "target": 30.0, "mark": "halfway",
    "faults": 1, "holds": 2, "total_s": 45.0, "longest_s": 30.0,
}  # fmt: skip

_TOP_KEYS = {"name", "description", "tone", "prompt_name", "emoji", "emojis", "max_words", "model", "phrases"}
_BANKS = set(PLACEHOLDERS) - {"faults", "hold_faults"}
_OPTIONAL = {"safety", "improved", *HOLD_DEFAULTS}


class PersonaError(ValueError):
    """A persona file that cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True)
class Phrases:
    """A persona's phrase banks: ``str.format`` templates, one picked per tip."""

    fault: tuple[str, ...]
    """Any fault without a bank of its own (at least 2 templates)."""
    safety: tuple[str, ...]
    """Safety faults without a bank of their own (defaults to ``fault``)."""
    faults: dict[str, tuple[str, ...]]
    """Banks for specific fault ids (``hips_sag``...)."""
    praise: tuple[str, ...]
    """A clean rep."""
    improved: tuple[str, ...]
    """A rep without the fault the last tip was about."""
    summary: tuple[str, ...]
    """The end of a set with reps and a most frequent fault."""
    summary_clean: tuple[str, ...]
    """The end of a set with reps and no fault at all."""
    summary_no_reps: tuple[str, ...]
    """The end of a set without a counted rep."""
    hold_fault: tuple[str, ...] = HOLD_DEFAULTS["hold_fault"]
    """A fault episode in a hold under way (``hold``, ``seconds`` and the fault's fields)."""
    hold_faults: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Banks for specific fault ids in a hold."""
    hold_progress: tuple[str, ...] = HOLD_DEFAULTS["hold_progress"]
    """A hold's time so far (``seconds``, ``target``, ``mark``: halfway, target reached, keep going)."""
    hold_done: tuple[str, ...] = HOLD_DEFAULTS["hold_done"]
    """A hold ended (``seconds``, ``score``, ``faults``: its fault episodes)."""
    summary_holds: tuple[str, ...] = HOLD_DEFAULTS["summary_holds"]
    """The end of a hold exercise's set (``holds``, ``total_s``, ``longest_s``, scores, ``top_fault``)."""
    summary_no_holds: tuple[str, ...] = HOLD_DEFAULTS["summary_no_holds"]
    """The end of a hold exercise's set without a counted hold."""

    def bank(self, name: str) -> tuple[str, ...]:
        """A bank by name: ``fault``, ``safety``..., ``faults.<id>``, ``hold_faults.<id>`` (empty: it has none)."""
        if name.startswith("faults."):
            return self.faults.get(name[7:], ())
        if name.startswith("hold_faults."):
            return self.hold_faults.get(name[12:], ())
        value: tuple[str, ...] = getattr(self, name)
        return value


@dataclass(frozen=True)
class Persona:
    """A coaching voice, loaded from its file."""

    id: str
    """The file name without ``.toml``; used in requests."""
    name: str
    """Display name (pickers)."""
    description: str
    """One line on how it speaks (pickers, API)."""
    tone: str
    """How it speaks, for a language model's instructions."""
    prompt_name: str
    """The persona as named in the persona fine-tunes' prompt ``<|persona|>{prompt_name}<|input|>...``."""
    emoji: EmojiPolicy
    """Whether tips end with an emoji from ``emojis``."""
    emojis: tuple[str, ...]
    """Emojis to pick from."""
    max_words: int
    """Longest tip a language model may write, words."""
    model: str | None
    """Optional folder of this persona's own causal LM (relative to the checkpoints folder)."""
    phrases: Phrases = field(repr=False)
    """Template banks."""
    path: Path | None = field(default=None, compare=False, repr=False)
    """The file it came from."""

    def as_dict(self) -> dict[str, Any]:
        """What the API shows of it."""
        return {"id": self.id, "name": self.name, "description": self.description, "emoji": self.emoji}


def _strings(value: Any, where: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PersonaError(f"{path}: {where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _check_templates(templates: tuple[str, ...], bank: str, where: str, path: Path) -> None:
    allowed, naming = PLACEHOLDERS[bank], _NAMES_VALUE[bank]
    for template in templates:
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise PersonaError(f"{path}: {where}: {template!r}: {exc} (write {{{{ and }}}} for braces)") from None
        unknown = {f for f in used if f not in allowed}  # also refuses attribute or index access
        if unknown or "" in used:
            raise PersonaError(
                f"{path}: {where}: {template!r} uses {sorted(unknown) or ['{}']}; "
                f"this bank knows {{{'}, {'.join(sorted(allowed))}}}"
            )
        if not used & naming:
            raise PersonaError(
                f"{path}: {where}: {template!r} must name the measured value: use one of "
                f"{{{'}, {'.join(sorted(naming))}}}"
            )
        try:
            template.format(**_SAMPLE)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise PersonaError(f"{path}: {where}: {template!r} does not format: {exc}") from None


def load_persona(path: Path) -> Persona:
    """Read and check one persona file; ``PersonaError`` says what is wrong and where."""
    path = Path(path)
    persona_id = path.stem
    if not _ID.match(persona_id):
        raise PersonaError(
            f"{path}: the file name must be a lowercase id (letters, digits, _ or -), e.g. hype_beast.toml"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PersonaError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PersonaError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PersonaError(f"{path}: unknown keys {sorted(unknown)}; a persona file has {sorted(_TOP_KEYS)}")
    for key in ("name", "description", "tone"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise PersonaError(f"{path}: {key} must be a non-empty string")
    emoji = data.get("emoji", "never")
    if emoji not in ("never", "sometimes", "always"):
        raise PersonaError(f"{path}: emoji must be never, sometimes or always, got {emoji!r}")
    emojis = _strings(data.get("emojis", []), "emojis", path) if data.get("emojis") else ()
    if emoji != "never" and not emojis:
        raise PersonaError(f"{path}: emoji = {emoji!r} needs a list of emojis")
    max_words = data.get("max_words", 25)
    if not isinstance(max_words, int) or not 3 <= max_words <= 80:
        raise PersonaError(f"{path}: max_words must be a whole number from 3 to 80, got {max_words!r}")
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise PersonaError(f"{path}: model must be a folder name (under the checkpoints folder)")
    phrases = data.get("phrases")
    if not isinstance(phrases, dict):
        raise PersonaError(f"{path}: missing the [phrases] table (fault, praise, summary... banks)")
    unknown = set(phrases) - _BANKS - {"faults", "hold_faults"}
    if unknown:
        known = sorted(_BANKS | {"faults", "hold_faults"})
        raise PersonaError(f"{path}: unknown phrase banks {sorted(unknown)}; known: {known}")
    banks: dict[str, tuple[str, ...]] = {}
    for bank in sorted(_BANKS):
        if bank not in phrases:
            if bank in _OPTIONAL:
                continue
            raise PersonaError(f"{path}: [phrases] needs a {bank} bank (at least 2 templates)")
        banks[bank] = _strings(phrases[bank], f"phrases.{bank}", path)
        if len(banks[bank]) < 2:
            raise PersonaError(f"{path}: phrases.{bank} needs at least 2 templates, so no tip repeats back to back")
        _check_templates(banks[bank], bank, f"phrases.{bank}", path)
    tables: dict[str, dict[str, tuple[str, ...]]] = {}
    for table in ("faults", "hold_faults"):
        per_fault = phrases.get(table, {})
        if not isinstance(per_fault, dict):
            raise PersonaError(f"{path}: phrases.{table} must be a table of fault id = [templates]")
        tables[table] = {}
        for fault_id, templates in per_fault.items():
            tables[table][fault_id] = _strings(templates, f"phrases.{table}.{fault_id}", path)
            _check_templates(tables[table][fault_id], table, f"phrases.{table}.{fault_id}", path)
    faults = tables["faults"]
    return Persona(
        id=persona_id,
        name=data["name"].strip(),
        description=data["description"].strip(),
        tone=data["tone"].strip(),
        prompt_name=str(data.get("prompt_name", persona_id)).strip() or persona_id,
        emoji=emoji,
        emojis=emojis,
        max_words=max_words,
        model=model.strip() if model else None,
        phrases=Phrases(
            fault=banks["fault"],
            safety=banks.get("safety", banks["fault"]),
            faults=faults,
            praise=banks["praise"],
            improved=banks.get("improved", banks["praise"]),
            summary=banks["summary"],
            summary_clean=banks["summary_clean"],
            summary_no_reps=banks["summary_no_reps"],
            hold_faults=tables["hold_faults"],
            **{bank: banks.get(bank, default) for bank, default in HOLD_DEFAULTS.items()},
        ),
        path=path,
    )


class PersonaLibrary:
    """The personas of one folder, reloaded when a file is added, changed or removed.

    A file that does not load is left out (and kept in ``errors`` with the reason), so one bad file
    never takes the others down. Thread-safe.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise PersonaError(f"the personas folder {self.directory} does not exist")
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._personas: dict[str, Persona] = {}
        self.errors: dict[str, str] = {}
        """File name -> why it was left out."""
        self.refresh()

    def refresh(self) -> None:
        """Reload if the folder changed since the last look (cheap when it did not)."""
        files = sorted(self.directory.glob("*.toml"))
        try:
            signature = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        except OSError:  # a file vanished while we looked: next time
            return
        with self._lock:
            if signature == self._signature:
                return
            personas: dict[str, Persona] = {}
            errors: dict[str, str] = {}
            for file in files:
                try:
                    persona = load_persona(file)
                except PersonaError as exc:
                    errors[file.name] = str(exc)
                    log.warning("persona left out: %s", exc)
                    continue
                personas[persona.id] = persona
            self._personas, self.errors, self._signature = personas, errors, signature

    def list(self) -> list[Persona]:
        """Every usable persona, ``plain`` first, then by name."""
        self.refresh()
        with self._lock:
            return sorted(self._personas.values(), key=lambda p: (p.id != "plain", p.name.lower()))

    def get(self, persona_id: str) -> Persona:
        """A persona by id; ``ValueError`` names the choices for an unknown one."""
        self.refresh()
        with self._lock:
            persona = self._personas.get(persona_id)
            if persona is None:
                raise ValueError(f"unknown persona {persona_id!r}; choose one of {sorted(self._personas)}")
            return persona
