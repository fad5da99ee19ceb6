"""The transformers tip backend on a tiny GPT-2 built by the test: plumbing, prompt formats, time
budget and fallbacks. The model's text is nonsense; what it proves is the path around it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scoring.coach.model import CausalLM, GenerationOptions, ModelTips, TextModelError, check_tip
from scoring.coach.persona import BUILTIN_DIR, PersonaLibrary
from scoring.coach.select import TipOptions, TipRequest
from scoring.coach.writer import TipWriter
from scoring.reference import example_rep
from scoring.types import Fault, RepResult, RepScored, SetFinished, SetSummary
from tests.conftest import TINY_WORDS

LIBRARY = PersonaLibrary(BUILTIN_DIR)
SAG = Fault("hips_sag", "hips sag 17 deg below the line", 17.2, 3.0, "safety", ("core",), "offset", {"delta": 14.2})
SEED_PROMPT = (
    "<|persona|>hype_beast<|input|>rep 1, score 60/100, safety fault: hips sag 17 deg below the line<|output|>"
)


def rep(index: int, faults: tuple[Fault, ...] = (SAG,), score: float = 60.0) -> RepResult:
    return example_rep(index, score, faults)


@pytest.fixture(scope="module")
def model(tiny_lm: Path) -> CausalLM:
    return CausalLM(tiny_lm, "cpu")


@pytest.fixture
def generator(model: CausalLM) -> Iterator[ModelTips]:
    with ModelTips(model, GenerationOptions(max_new_tokens=12)) as tips:
        yield tips


def test_seed_persona_format_end_to_end(model: CausalLM, generator: ModelTips, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (model.prompt_format, model.device) == ("persona", "cpu")
    release = threading.Event()
    generate = model.generate

    def gated(*args: Any, **kwargs: Any) -> str:
        release.wait(10)  # the model answers only when the test lets it
        return generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", gated)
    writer = TipWriter(LIBRARY.get("hype_beast"), TipOptions(time_budget_s=30.0, cooldown_s=0.0), generator)
    # add only queues the request: had it waited for the model, the tip would be here already.
    assert writer.add(RepScored(rep(1))) == [] and writer.pending == 1
    release.set()
    tips = writer.drain()
    assert generator.last_prompt == SEED_PROMPT
    [tip] = tips
    assert (tip.source, tip.note, tip.kind, tip.fault, tip.value, tip.rep) == (
        "model",
        None,
        "fault",
        "hips_sag",
        17.2,
        1,
    )
    generated, appended = tip.text.split(" (hips sag: 17 deg) ")  # the nonsense did not name the value
    assert {w.lower().strip(".!") for w in generated.split()} <= {*TINY_WORDS, ""}  # the model's own words
    assert appended in LIBRARY.get("hype_beast").emojis  # emoji = "always"
    assert generator.stats == {"ok": 1}
    # A summary goes through the same path.
    summary = SetSummary(1, 60.0, 60.0, 60.0, "n/a", 0.0, "hips_sag", 1, {"hips_sag": 1})
    [end] = writer.add(SetFinished(summary)) + writer.drain()
    assert end.kind == "summary" and end.source == "model" and "(1 reps, mean score 60)" in end.text
    assert "set finished: 1 reps, mean score 60" in (generator.last_prompt or "")


def test_chat_template_format(tiny_chat_lm: Path) -> None:
    chat = CausalLM(tiny_chat_lm, "cpu")
    assert chat.prompt_format == "chat"
    persona = LIBRARY.get("mindful_aligner")
    with ModelTips(chat, GenerationOptions(max_new_tokens=12)) as generator:
        writer = TipWriter(persona, TipOptions(time_budget_s=30.0), generator)
        [tip] = writer.add(RepScored(rep(1))) + writer.drain()
    prompt = generator.last_prompt or ""
    assert prompt.startswith("<|input|>system: You are Mindful Aligner") and persona.tone in prompt
    assert "<|input|>user: Measured: rep 1, score 60/100, safety fault: hips sag 17 deg" in prompt
    assert prompt.endswith("<|output|>")
    assert tip.source == "model" and "17" in tip.text
    with pytest.raises(TextModelError, match="no chat template"):
        CausalLM(_plain_copy(tiny_chat_lm), "cpu", "chat")


def _plain_copy(folder: Path) -> Path:
    """The chat model's folder without its chat template."""
    import shutil

    target = folder.parent / "no-template"
    if not target.exists():
        shutil.copytree(folder, target)
        (target / "chat_template.jinja").unlink(missing_ok=True)
        config = json.loads((target / "tokenizer_config.json").read_text())
        config.pop("chat_template", None)
        (target / "tokenizer_config.json").write_text(json.dumps(config))
    return target


def test_the_time_budget_falls_back_to_the_template_without_blocking(
    model: CausalLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]  # one injected clock for the writer and the model thread

    def clock() -> float:
        return now[0]

    busy, release = threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> str:
        busy.set()
        release.wait(10)  # a model far slower than the budget
        return "keep your core tight"

    monkeypatch.setattr(model, "generate", slow)
    with ModelTips(model, clock=clock) as generator:
        options = TipOptions(time_budget_s=0.3, cooldown_s=0.0)
        writer = TipWriter(LIBRARY.get("plain"), options, generator, clock=clock)
        assert writer.add(RepScored(rep(1))) == []
        assert writer.add(RepScored(rep(2))) == []  # queued behind the slow one
        assert writer.poll() == [] and writer.pending == 2
        assert busy.wait(10) and not release.is_set()  # the model works on rep 1: add and poll did not wait
        now[0] += 0.29
        assert writer.poll() == []  # still inside the budget
        now[0] += 0.02
        late = writer.poll()
        assert [(t.rep, t.source) for t in late] == [(1, "template"), (2, "template")]
        assert all(t.note and t.note.startswith("timeout") for t in late)
        assert late[0].text.startswith("Rep 1") and "17 deg" in late[0].text
        release.set()
        for _ in range(1000):  # let the thread answer both (bounded)
            if sum(generator.stats.values()) == 2:
                break
            threading.Event().wait(0.01)
    # Rep 1's text came after the budget; rep 2's request expired in the queue: both are timeouts.
    assert generator.stats == {"timeout": 2}


@pytest.mark.parametrize(
    ("output", "note"),
    [
        (RuntimeError("CUDA out of memory"), "error: CUDA out of memory"),
        ("", "empty"),
        ("   \n keep going", "empty"),
        ("push through the pain, champ", "unsafe: 'through the pain'"),
        ("you look fat doing that", "unsafe: 'fat'"),
        ("visit www.example.org now", "unsafe: 'www.'"),
        ("%%% 123 ### 456 !!", "not text"),
        (" ".join(["deeper"] * 60), "too long: over 28 words without a sentence end"),
    ],
)
def test_bad_model_output_falls_back_to_the_template(
    model: CausalLM, monkeypatch: pytest.MonkeyPatch, output: Any, note: str
) -> None:
    def fake(*args: Any, **kwargs: Any) -> str:
        if isinstance(output, Exception):
            raise output
        return str(output)

    monkeypatch.setattr(model, "generate", fake)
    with ModelTips(model) as generator:
        writer = TipWriter(LIBRARY.get("mindful_aligner"), TipOptions(time_budget_s=5.0), generator)
        [tip] = writer.add(RepScored(rep(1))) + writer.drain()
    assert (tip.source, tip.note) == ("template", note)
    assert "17 deg" in tip.text and tip.persona == "mindful_aligner"


def test_a_repeated_model_text_is_not_said_twice(model: CausalLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "generate", lambda *a, **k: "Brace your core now, 17 deg is too low.")
    with ModelTips(model) as generator:
        writer = TipWriter(LIBRARY.get("no_nonsense_pro"), TipOptions(time_budget_s=5.0, cooldown_s=0.0), generator)
        first = writer.add(RepScored(rep(1))) + writer.drain()
        second = writer.add(RepScored(rep(2))) + writer.drain()
    assert first[0].source == "model" and first[0].text == "Brace your core now, 17 deg is too low."
    assert (second[0].source, second[0].note) == ("template", "repeat")


def test_check_tip_names_the_value_and_keeps_the_emoji_policy() -> None:
    request = TipRequest("fault", rep(1), SAG, None, None)
    hype, pro = LIBRARY.get("hype_beast"), LIBRARY.get("no_nonsense_pro")
    assert check_tip("Hips UP, 17 deg is way too low", hype, request, None) == (
        "Hips UP, 17 deg is way too low 🔥",
        "ok",
    )
    assert check_tip("Hips up 🔥🔥", pro, request, None) == ("Hips up (hips sag: 17 deg)", "ok")
    assert check_tip('"Hips up, 17 deg."\nUser: more', pro, request, None) == ("Hips up, 17 deg.", "ok")
    words = "Lift the hips now. " + "really " * 20
    assert check_tip(words, pro, request, None)[0] == "Lift the hips now. (hips sag: 17 deg)"
    assert check_tip("Hold your breath and push", pro, request, None) == (None, "unsafe: 'Hold your breath'")
    assert check_tip("Rep 170 was fine", pro, request, None)[0] == "Rep 170 was fine (hips sag: 17 deg)"


def test_only_real_local_model_folders_load(tmp_path: Path) -> None:
    with pytest.raises(TextModelError, match=r"no language model at .*nowhere: expected a transformers model folder"):
        CausalLM(tmp_path / "nowhere")
    custom = tmp_path / "custom"
    custom.mkdir()
    marker = tmp_path / "remote-code-ran"
    (custom / "config.json").write_text(
        json.dumps({"model_type": "my_coach_lm", "auto_map": {"AutoConfig": "modeling.Config",
                    "AutoModelForCausalLM": "modeling.Model"}})
    )  # fmt: skip
    (custom / "modeling.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(TextModelError, match="trust_remote_code"):
        CausalLM(custom, "cpu")
    assert not marker.exists()  # the folder's code was never imported
