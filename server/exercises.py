"""The exercises the server knows: the shipped references and the custom ones users built.

Two folders (``Settings.references_dir`` and ``Settings.custom_dir``), one namespace: a name means one
exercise whichever folder holds it, case, spaces and punctuation aside ("Squat", "push-up"); a custom
exercise can never take a shipped exercise's name (folder or display name). A custom folder holds what
``scoring.reference.save_reference`` writes plus ``custom.json`` (who built it, when, from which video,
and its switched-off fault rules, kept so they can be switched on again).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.reference import (
    SPEC_FILE,
    ExerciseSpec,
    Reference,
    ReferenceError,
    list_exercises,
    load_reference,
    read_spec,
    resolve_exercise_name,
    save_reference,
    validate_exercise_name,
)

CUSTOM_FILE = "custom.json"
"""Beside a custom exercise's exercise.json: owner, created, source video, switched-off rules."""


class UnknownExerciseError(ReferenceError):
    """No exercise has that name (HTTP 404)."""


class ExerciseConflictError(ReferenceError):
    """A name or display name another exercise already has (HTTP 409)."""


class NotCustomError(ReferenceError):
    """A shipped exercise asked to change as if it were a custom one (HTTP 403)."""


def alias(text: str) -> str:
    """How names compare: lower case, letters and digits only ("Push-up" == "pushup")."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (a temporary file renamed over ``path``)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class ExerciseEntry:
    """One exercise of the catalog."""

    name: str
    """Folder name and API id."""
    spec: ExerciseSpec
    """Its authored (or generated) description."""
    custom: bool
    """Built by a user (in ``custom_dir``), not shipped."""
    meta: dict[str, Any]
    """A custom exercise's ``custom.json`` (empty for a shipped one)."""


class ExerciseCatalog:
    """Shipped and custom exercises under one namespace (see the module docstring)."""

    def __init__(self, shipped: Path, custom: Path | None = None) -> None:
        self.shipped = shipped
        self.custom = custom

    def _folders(self) -> list[Path]:
        return [self.shipped] + ([self.custom] if self.custom is not None else [])

    def names(self) -> list[str]:
        """Every exercise's folder name: the shipped ones, then the custom ones (a custom folder that
        shadows a shipped name is ignored)."""
        shipped = list_exercises(self.shipped)
        custom = [n for n in list_exercises(self.custom) if n not in shipped] if self.custom is not None else []
        return shipped + custom

    def is_custom(self, name: str) -> bool:
        return self.custom is not None and name not in list_exercises(self.shipped) and name in self.names()

    def folder(self, name: str) -> Path:
        """The folder of an exercise given by its exact folder name."""
        if self.is_custom(name):
            assert self.custom is not None
            return self.custom / name
        return self.shipped / name

    def resolve(self, name: str) -> str:
        """The folder name a user means (``scoring.reference.resolve_exercise_name`` over both folders);
        ReferenceError with the closest names and the known ones."""
        for folder in self._folders():
            try:
                found = resolve_exercise_name(folder, name)
            except ReferenceError:
                continue
            if folder == self.shipped or found not in list_exercises(self.shipped):
                return found
        known = self.names()
        typed = name.strip().lower() if isinstance(name, str) else ""
        close = difflib.get_close_matches(typed, known, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownExerciseError(f"unknown exercise {name!r}{hint} (known: {', '.join(known) or 'none'})")

    def load(self, name: str) -> Reference:
        """The calibrated reference of the exercise ``name`` names."""
        found = self.resolve(name)
        return load_reference(self.folder(found).parent, found)

    def entries(self) -> list[ExerciseEntry]:
        """Every exercise whose spec reads (a broken folder is reported when somebody picks it)."""
        out = []
        for name in self.names():
            try:
                spec = read_spec(self.folder(name))
            except ReferenceError:
                continue
            custom = self.is_custom(name)
            out.append(ExerciseEntry(name, spec, custom, self.meta(name) if custom else {}))
        return out

    def meta(self, name: str) -> dict[str, Any]:
        """A custom exercise's ``custom.json`` (empty when missing or unreadable)."""
        try:
            data = json.loads((self.folder(name) / CUSTOM_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    # -- custom exercises ------------------------------------------------------------------------

    def check_free(self, name: str, display_name: str, keep: str | None = None) -> None:
        """ExerciseConflictError when ``name`` or ``display_name`` would mean an exercise that exists
        (other than ``keep``, the one being renamed)."""
        validate_exercise_name(name)
        if not display_name.strip() or len(display_name) > 60:
            raise ReferenceError("the display name must be 1-60 characters")
        wanted = {alias(name), alias(display_name)} - {""}
        if not wanted:
            raise ReferenceError(f"the display name {display_name!r} needs a letter or a digit")
        for entry in self.entries():
            if entry.name == keep:
                continue
            taken = {alias(entry.name), alias(entry.spec.display_name)}
            if wanted & taken:
                kind = "a custom exercise" if entry.custom else "a shipped exercise"
                raise ExerciseConflictError(
                    f"{entry.spec.display_name!r} ({entry.name}) is {kind} already: choose another name"
                )

    def custom_name(self, name: str) -> str:
        """The folder name of a custom exercise a user means; NotCustomError for a shipped one."""
        found = self.resolve(name)
        if not self.is_custom(found):
            raise NotCustomError(f"{found} is a shipped exercise: only custom exercises can be changed or deleted")
        return found

    def add(self, reference: Reference, meta: dict[str, Any]) -> str:
        """Save a new custom exercise (its name and display name checked free); its folder name."""
        if self.custom is None:
            raise ReferenceError("no folder for custom exercises is configured")
        spec = reference.spec
        self.check_free(spec.name, spec.display_name)
        self.custom.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.custom, prefix=f".{spec.name}."))
        try:
            save_reference(reference, staging)
            write_json(staging / CUSTOM_FILE, {"created": time.time(), "disabled_faults": [], **meta})
            staging.rename(self.custom / spec.name)  # whole or nothing: never a half-written exercise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return spec.name

    def rename(self, name: str, display_name: str) -> None:
        """Give a custom exercise another display name (its folder name, the API id, stays)."""
        found = self.custom_name(name)
        self.check_free(found, display_name.strip(), keep=found)
        path = self.folder(found) / SPEC_FILE
        data = json.loads(path.read_text())
        data["display_name"] = display_name.strip()
        ExerciseSpec.from_dict(data)
        write_json(path, data)

    def delete(self, name: str) -> str:
        """Remove a custom exercise; its folder name."""
        found = self.custom_name(name)
        shutil.rmtree(self.folder(found))
        return found

    def faults(self, name: str) -> list[dict[str, Any]]:
        """A custom exercise's fault rules, switched on and off, each with ``enabled`` and the
        ``threshold`` in force (the calibrated one when calibration widened it)."""
        found = self.custom_name(name)
        data = json.loads((self.folder(found) / SPEC_FILE).read_text())
        widened = data.get("calibration", {}).get("tolerances", {}).get("faults", {})
        out = []
        for rule in data.get("faults", []):
            out.append({**rule, **widened.get(rule["id"], {}), "enabled": True})
        for rule in self.meta(found).get("disabled_faults", []):
            out.append({**rule, "enabled": False})
        return out

    def edit_faults(self, name: str, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply ``changes`` (each ``{"id", "enabled"?, "threshold"?, "min_s"?, "max_s"?}``) to a
        custom exercise's rules. A value set by hand replaces the calibrated one. ReferenceError
        naming an unknown id or a bad value; nothing is written unless every change is valid."""
        found = self.custom_name(name)
        folder = self.folder(found)
        data = json.loads((folder / SPEC_FILE).read_text())
        meta = self.meta(found)
        enabled = {r["id"]: r for r in data.get("faults", [])}
        disabled = {r["id"]: r for r in meta.get("disabled_faults", [])}
        widened = data.setdefault("calibration", {}).setdefault("tolerances", {}).setdefault("faults", {})
        for change in changes:
            rule_id = change.get("id")
            if rule_id not in enabled and rule_id not in disabled:
                known = ", ".join([*enabled, *disabled])
                raise ReferenceError(f"{found} has no fault rule {rule_id!r} (its rules: {known})")
            was_on = rule_id in enabled
            on = change.get("enabled", was_on)
            if not isinstance(on, bool):
                raise ReferenceError(f"{rule_id}: enabled must be true or false, got {on!r}")
            rule = enabled.pop(rule_id) if was_on else disabled.pop(rule_id)
            for key in ("threshold", "min_s", "max_s"):
                if change.get(key) is not None:
                    value = change[key]
                    if not isinstance(value, int | float) or value < 0 or value != value or value > 1e4:
                        raise ReferenceError(f"{rule_id}: {key} must be a number from 0 to 10000, got {value!r}")
                    rule[key] = float(value)
                    widened.get(rule_id, {}).pop(key, None)
            if not widened.get(rule_id, True):
                widened.pop(rule_id)
            (enabled if on else disabled)[rule_id] = rule
        # keep the authored order, switched-on rules first
        order = [r["id"] for r in data.get("faults", [])] + [r["id"] for r in meta.get("disabled_faults", [])]
        data["faults"] = [enabled[i] for i in order if i in enabled]
        meta["disabled_faults"] = [disabled[i] for i in order if i in disabled]
        ExerciseSpec.from_dict(data)  # every rule still valid
        write_json(folder / SPEC_FILE, data)
        write_json(folder / CUSTOM_FILE, meta)
        return self.faults(found)
