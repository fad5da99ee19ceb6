"""Persona files, tip selection and wording (templates), fed hand-built scoring events."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from scoring.coach.persona import BUILTIN_DIR, PersonaError, PersonaLibrary, load_persona
from scoring.coach.select import TipOptions
from scoring.coach.writer import TipWriter, create_tip_writer
from scoring.reference import example_fault, example_rep, list_exercises, read_spec
from scoring.types import FAULT_UNITS, Fault, RepResult, RepScored, SetFinished, SetSummary
from tests.conftest import DRILL_SERGEANT

PERSONAS = ["plain", "data_scientist", "hype_beast", "mindful_aligner", "no_nonsense_pro"]


def rep(index: int, score: float = 70.0, faults: tuple[Fault, ...] = (), end_ms: float | None = None) -> RepResult:
    return example_rep(index, score, faults, end_ms)


def shipped_faults(references_dir: Path) -> list[tuple[str, Fault]]:
    out = []
    for name in list_exercises(references_dir):
        out.extend((name, example_fault(rule)) for rule in read_spec(references_dir / name).faults)
    return out


def test_the_shipped_personas_load() -> None:
    library = PersonaLibrary(BUILTIN_DIR)
    assert library.errors == {}
    assert [p.id for p in library.list()] == PERSONAS
    hype = library.get("hype_beast")
    assert (hype.name, hype.emoji) == ("Hype Beast", "always")
    with pytest.raises(ValueError, match=r"unknown persona 'yoda'; choose one of \['data_scientist'"):
        library.get("yoda")


def test_every_persona_gives_distinct_tips_naming_the_value_for_every_shipped_fault(references_dir: Path) -> None:
    faults = shipped_faults(references_dir)
    assert len(faults) >= 10 and {f.kind for _, f in faults} == set(FAULT_UNITS)
    for exercise, fault in faults:
        texts = {}
        for persona in PERSONAS:
            [tip] = create_tip_writer(persona).add(RepScored(rep(1, 60.0, (fault,))))
            assert (tip.kind, tip.fault, tip.value, tip.rep, tip.persona) == (
                "fault",
                fault.id,
                fault.value,
                1,
                persona,
            )
            assert tip.severity == fault.severity and tip.source == "template"
            unit, v = FAULT_UNITS[fault.kind], fault.value
            number = {"%": f"{v:.0f}", "s": f"{v:.2f}" if fault.kind == "lag" else f"{v:.1f}", "deg": ""}[unit]
            shown = re.findall(r"\d+(?:\.\d+)?", tip.text)
            assert tip.text.strip() and (number in tip.text if number else len(shown) >= 2), (persona, tip.text)
            assert "{" not in tip.text and "None" not in tip.text
            texts[persona] = tip.text
        assert len(set(texts.values())) == len(PERSONAS), (exercise, fault.id, texts)


def test_personas_speak_in_their_own_voice(references_dir: Path) -> None:
    fault = dict(shipped_faults(references_dir))["pushup"]  # the last push-up fault
    hype, pro, scientist, plain = (
        [create_tip_writer(p).add(RepScored(rep(i, 60.0, (fault,), i * 10_000.0)))[0].text for i in range(1, 9)]
        for p in ("hype_beast", "no_nonsense_pro", "data_scientist", "plain")
    )
    emoji = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]")
    assert all(emoji.search(t) for t in hype)  # emoji = "always"
    assert not any(emoji.search(t) for t in pro + scientist + plain)  # emoji = "never"
    assert max(len(t.split()) for t in pro) < min(len(t.split()) for t in scientist)  # short vs structured


def test_safety_first_one_tip_per_rep_and_a_cooldown() -> None:
    writer = create_tip_writer("plain", options=TipOptions(cooldown_s=5.0))
    sag = Fault("hips_sag", "hips sag 17 deg", 17.0, 3.0, "safety", ("core",), "offset", {"delta": 14.0})
    shallow = Fault("shallow", "depth 71% of reference", 71.0, 100.0, "form", ("left_arm",), "rom", {"delta": 29.0})
    # A rep with both: one tip, the safety one.
    [tip] = writer.add(RepScored(rep(1, 55.0, (shallow, sag), end_ms=2_000)))
    assert (tip.fault, tip.severity) == ("hips_sag", "safety")
    # 2 s later, a form fault: within the cooldown, nothing.
    assert writer.add(RepScored(rep(2, 70.0, (shallow,), end_ms=4_000))) == []
    # A safety fault ignores the cooldown.
    [tip] = writer.add(RepScored(rep(3, 60.0, (sag,), end_ms=5_000)))
    assert tip.fault == "hips_sag"
    # After the cooldown, the form fault is said; rep 4 has both faults, hips_sag was just said but
    # safety still comes first.
    [tip] = writer.add(RepScored(rep(4, 60.0, (sag, shallow), end_ms=11_000)))
    assert tip.fault == "hips_sag"
    [tip] = writer.add(RepScored(rep(5, 70.0, (shallow,), end_ms=17_000)))
    assert (tip.fault, tip.value, tip.rep) == ("shallow", 71.0, 5)
    # The shallow fault is gone on rep 6 (past the cooldown): praise for the fix, naming the score.
    [tip] = writer.add(RepScored(rep(6, 78.0, (), end_ms=23_000)))
    assert (tip.kind, tip.fault, tip.value) == ("praise", "shallow", 78.0)
    assert "78" in tip.text and "shallow" in tip.text
    # A clean rep below the praise score says nothing; a clean rep above it earns praise.
    assert writer.add(RepScored(rep(7, 80.0, (), end_ms=30_000))) == []
    [tip] = writer.add(RepScored(rep(8, 93.0, (), end_ms=36_000)))
    assert (tip.kind, tip.value) == ("praise", 93.0) and "93" in tip.text
    # The summary always comes, naming the count and the mean.
    summary = SetSummary(8, 68.0, 93.0, 55.0, "improving", 3.0, "hips_sag", 3, {"hips_sag": 3, "shallow": 3})
    [tip] = writer.add(SetFinished(summary))
    assert tip.kind == "summary" and "8 reps" in tip.text and "68" in tip.text and "hips sag" in tip.text


def test_form_faults_take_turns_when_two_persist() -> None:
    writer = create_tip_writer("plain", options=TipOptions(cooldown_s=0.0))
    a = Fault("shallow", "depth 71%", 71.0, 100.0, "form", (), "rom", {})
    b = Fault("too_fast", "rep took 0.9 s", 0.9, 2.0, "form", (), "tempo", {})
    said = [writer.add(RepScored(rep(i, 60.0, (a, b))))[0].fault for i in range(1, 5)]
    assert said == ["shallow", "too_fast", "shallow", "too_fast"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_phrasing_is_repeated_back_to_back(persona: str) -> None:
    writer = create_tip_writer(persona, options=TipOptions(cooldown_s=0.0))
    sag = Fault("hips_sag", "hips sag 17 deg", 17.0, 3.0, "safety", ("core",), "offset", {"delta": 14.0})
    texts = [writer.add(RepScored(rep(i, 60.0 if i % 3 else 95.0, (sag,) if i % 3 else ())))[0].text
             for i in range(1, 31)]  # fmt: skip
    stripped = [re.sub(r"\d+", "#", t) for t in texts]  # the phrasing, without the rep number
    assert all(a != b for a, b in itertools.pairwise(stripped)), stripped


def test_the_wording_is_deterministic_for_a_seed() -> None:
    sag = Fault("hips_sag", "hips sag 17 deg", 17.0, 3.0, "safety", ("core",), "offset", {"delta": 14.0})

    def run(seed: int) -> list[str]:
        writer = create_tip_writer("hype_beast", options=TipOptions(cooldown_s=0.0, seed=seed))
        return [writer.add(RepScored(rep(i, 60.0, (sag,))))[0].text for i in range(1, 21)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_the_persona_can_change_mid_set() -> None:
    library = PersonaLibrary(BUILTIN_DIR)
    writer = TipWriter(library.get("plain"), TipOptions(cooldown_s=0.0))
    assert writer.add(RepScored(rep(1, 95.0)))[0].persona == "plain"
    writer.set_persona(library.get("no_nonsense_pro"))
    [tip] = writer.add(RepScored(rep(2, 96.0)))
    assert tip.persona == "no_nonsense_pro" and "96" in tip.text
    summary = SetSummary(2, 95.5, 96.0, 95.0, "n/a", 0.0, None, 0, {})
    [end] = writer.add(SetFinished(summary))
    assert end.persona == "no_nonsense_pro" and "No faults" in end.text  # the fault-free summary bank


def test_a_set_without_reps_gets_its_own_summary() -> None:
    for persona in PERSONAS:
        [tip] = create_tip_writer(persona).add(SetFinished(SetSummary(0, None, None, None, "n/a", 0.0, None, 0, {})))
        assert tip.kind == "summary" and "0" in tip.text and "None" not in tip.text


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_summary_fits_its_numbers(persona: str) -> None:
    """One rep or one hold is singular; equal best and worst and a trend that cannot be told (under
    three reps) are not spelled out ("1 reps ... (best 100, worst 100), trend n/a" was sent)."""
    from scoring.hold import summarize_holds
    from scoring.score import summarize
    from scoring.types import HoldResult

    hold = HoldResult(1, 0.0, 31000.0, 0, 930, 31.0, 1.0, None, 100.0, {}, {}, 0.0)
    summaries = [summarize([rep(1, 100.0)]), summarize([rep(1, 90.0), rep(2, 90.0)]), summarize_holds([hold])]
    for seed, summary in itertools.product(range(6), summaries):
        [tip] = create_tip_writer(persona, options=TipOptions(seed=seed)).add(SetFinished(summary))
        assert not re.search(r"(?<![\d.])1 (reps|holds)\b", tip.text), tip.text
        assert "n/a" not in tip.text and not re.search(r"best (\d+), worst \1\b", tip.text), tip.text
    three = summarize([rep(1, 60.0), rep(2, 80.0), rep(3, 95.0)])
    writers = [create_tip_writer(persona, options=TipOptions(seed=seed)) for seed in range(12)]
    texts = {writer.add(SetFinished(three))[0].text for writer in writers}
    assert all(re.search(r"\b3 (clean )?reps\b|n=3", t) for t in texts), texts  # a plural stays plural


# -- persona files -----------------------------------------------------------------------------------


def write_persona(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_persona_file_is_all_it_takes(tmp_path: Path) -> None:
    path = write_persona(tmp_path, "drill_sergeant", DRILL_SERGEANT)
    persona = load_persona(path)
    assert (persona.id, persona.name, persona.phrases.safety) == (
        "drill_sergeant",
        "Drill Sergeant",
        persona.phrases.fault,
    )
    writer = TipWriter(persona)
    sag = Fault("hips_sag", "hips sag 17 deg", 17.0, 3.0, "safety", ("core",), "offset", {"delta": 14.0})
    [tip] = writer.add(RepScored(rep(1, 60.0, (sag,))))
    assert "hips sag 17 deg" in tip.text.lower() and tip.persona == "drill_sergeant"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('name = "Drill Sergeant"', ""), "name must be a non-empty string"),
        (lambda t: 'colour = "red"\n' + t, r"unknown keys \['colour'\]"),
        (lambda t: t.replace('AGAIN!",', '{reps}",'), r"uses \['reps'\]; this bank knows"),
        (lambda t: t.replace('AGAIN!",', '{score.__class__}",'), r"uses \['score.__class__'\]"),
        (lambda t: t.replace("REP {rep}! {message}! AGAIN!", "REP {rep}! AGAIN!"), "must name the measured value"),
        (lambda t: t.replace('"{score:.0f} on rep {rep}. CARRY ON."', '"{score:.0q}"'), "does not format"),
        (lambda t: t.replace(', "{message}, rep {rep}! MOVE!"', ""), "needs at least 2 templates"),
        (lambda t: t.replace("summary_clean = ", "x = "), r"unknown phrase banks \['x'\]"),
        (lambda t: t.replace('emoji = "never"', 'emoji = "always"'), "needs a list of emojis"),
        (lambda t: t.replace("[phrases]", "[phrases"), "not valid TOML"),
    ],
)
def test_a_bad_persona_file_says_what_to_fix(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    path = write_persona(tmp_path, "drill_sergeant", change(DRILL_SERGEANT))
    with pytest.raises(PersonaError, match=message) as info:
        load_persona(path)
    assert str(path) in str(info.value)


def test_the_library_picks_up_added_changed_and_broken_files(tmp_path: Path) -> None:
    folder = tmp_path / "personas"
    shutil.copytree(BUILTIN_DIR, folder)
    library = PersonaLibrary(folder)
    assert "drill_sergeant" not in [p.id for p in library.list()]
    write_persona(folder, "drill_sergeant", DRILL_SERGEANT)
    assert "drill_sergeant" in [p.id for p in library.list()]
    assert library.get("drill_sergeant").description == "Loud and strict."
    path = write_persona(folder, "drill_sergeant", DRILL_SERGEANT.replace("Loud and strict.", "Louder."))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
    assert library.get("drill_sergeant").description == "Louder."
    write_persona(folder, "Bad Name", DRILL_SERGEANT)
    write_persona(folder, "broken", "name = ")
    ids = [p.id for p in library.list()]
    assert "drill_sergeant" in ids and "broken" not in ids and len(ids) == 6  # the others still load
    assert set(library.errors) == {"Bad Name.toml", "broken.toml"}
    assert "lowercase id" in library.errors["Bad Name.toml"] and "not valid TOML" in library.errors["broken.toml"]
    with pytest.raises(PersonaError, match="does not exist"):
        PersonaLibrary(tmp_path / "nowhere")
