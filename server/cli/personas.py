"""``coach personas [--json] [--preview ID]``: the coach personas; checks every persona file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.cli.common import EXIT_BAD_INPUT, EXIT_OK, settings_from

if TYPE_CHECKING:
    from scoring.coach.persona import PersonaLibrary


def add_parser(sub: Any) -> None:
    personas = sub.add_parser("personas", help="list the coach personas and check every persona file")
    personas.add_argument("--json", action="store_true", help="print JSON")
    personas.add_argument("--preview", metavar="ID", help="show what a persona says to every fault of every exercise")
    personas.add_argument("--references-dir", type=Path, help="folder of reference exercises")
    personas.add_argument("--personas-dir", type=Path, help="folder of persona files (.toml)")
    personas.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scoring.coach.persona import PersonaLibrary

    settings = settings_from(args)
    library = PersonaLibrary(settings.personas_dir)
    if args.preview:
        preview(library, settings.references_dir, args.preview)
        return EXIT_OK
    personas = library.list()
    if args.json:
        print(json.dumps({"personas": [p.as_dict() for p in personas], "errors": library.errors}))
    else:
        print(f"{len(personas)} personas in {settings.personas_dir}:")
        for p in personas:
            print(f"  {p.id:<18} {p.name:<18} {p.description}")
        for error in library.errors.values():
            print(f"coach: error: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT if library.errors else EXIT_OK


def preview(library: PersonaLibrary, references_dir: Path, persona_id: str) -> None:
    """What a persona says to every fault of every exercise, to a clean rep and at the end of a set
    (``ValueError`` names the choices for an unknown id)."""
    from scoring.coach.select import TipOptions
    from scoring.coach.writer import TipWriter
    from scoring.reference import example_fault, example_rep, list_exercises, read_spec
    from scoring.score import summarize
    from scoring.types import RepScored, SetFinished

    persona = library.get(persona_id)
    print(f"{persona.name} ({persona.id}): {persona.description}")
    for name in list_exercises(references_dir):
        writer = TipWriter(persona, TipOptions(cooldown_s=0.0))
        reps = [
            example_rep(i, 60.0, (example_fault(rule),))
            for i, rule in enumerate(read_spec(references_dir / name).faults, 1)
        ]
        reps.append(example_rep(len(reps) + 1, 95.0))
        print(f"\n{name}:")
        for result in reps:
            for tip in writer.add(RepScored(result)):
                print(f"  {(tip.fault or 'clean rep'):<14} {tip.text}")
        for tip in writer.add(SetFinished(summarize(reps))):
            print(f"  {'summary':<14} {tip.text}")
