"""Tip writing speed: the template backend, and a language model of the seed's persona-model size.

    .venv/bin/python -m benchmarks.bench_tips [--model FOLDER] [--device auto] [--tips 30] [--append]

Templates: every persona writes a tip for every fault of the shipped exercises (``TipWriter.add``,
selection and wording), timed per tip.

Model: ``--model`` names a local causal LM folder. Without one, the script builds a distilgpt2-shaped
GPT-2 from its config (6 layers, width 768, 12 heads, random weights; the seed's fine-tunes are not
downloadable here) with a small word-level tokenizer. It times ``ModelTips`` end to end, from submit
to the checked tip, with a 40-token cap and no time budget. The p95 is what the tip budget
(``--tips-budget``, 1.5 s by default) has to cover.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._env import commit, machine, report
from scoring.coach.model import CausalLM, GenerationOptions, ModelTips
from scoring.coach.persona import BUILTIN_DIR, PersonaLibrary
from scoring.coach.select import TipOptions
from scoring.coach.writer import TipWriter
from scoring.reference import example_fault, example_rep, list_exercises, read_spec
from scoring.types import Fault, RepScored
from tests.support.lm import build_random_lm

ROOT = Path(__file__).resolve().parents[1]


def faults() -> list[Fault]:
    return [
        example_fault(rule)
        for name in list_exercises(ROOT / "references")
        for rule in read_spec(ROOT / "references" / name).faults
    ]


def distilgpt2_shaped(folder: Path) -> Path:
    return build_random_lm(folder, ["keep", "going"], layers=6, width=768, heads=12, vocab_size=50257)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a causal LM folder (default: a distilgpt2-shaped random model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tips", type=int, default=30, help="model tips to time")
    parser.add_argument("--append", action="store_true", help="add rows to benchmarks/RESULTS.md")
    args = parser.parse_args()

    library = PersonaLibrary(BUILTIN_DIR)
    all_faults = faults()
    times = []
    for _ in range(20):
        for persona in library.list():
            writer = TipWriter(persona, TipOptions(cooldown_s=0.0))
            for i, fault in enumerate(all_faults, start=1):
                started = time.perf_counter()
                writer.add(RepScored(example_rep(i, 60.0, (fault,))))
                times.append((time.perf_counter() - started) * 1000)
    template = {"tips": len(times), "p50_ms": round(statistics.median(times), 4),
                "p95_ms": round(statistics.quantiles(times, n=20)[18], 4)}  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or distilgpt2_shaped(Path(tmp) / "distilgpt2-shaped")
        model = CausalLM(folder, args.device)
        label = "distilgpt2-shaped GPT-2 (random weights, 82M params)" if args.model is None else folder.name
        latencies, sources = [], []
        with ModelTips(model, GenerationOptions(max_new_tokens=40, device=args.device)) as generator:
            generator.warm_up()
            persona = library.get("hype_beast")
            writer = TipWriter(persona, TipOptions(cooldown_s=0.0, time_budget_s=120.0), generator)
            for i in range(args.tips):
                started = time.perf_counter()
                writer.add(RepScored(example_rep(i + 1, 60.0, (all_faults[i % len(all_faults)],))))
                [tip] = writer.drain()
                latencies.append((time.perf_counter() - started) * 1000)
                sources.append(tip.note or tip.source)
    generated = {
        "model": label, "device": model.device, "tips": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(statistics.quantiles(latencies, n=20)[18], 1),
        "outcomes": {s: sources.count(s) for s in set(sources)},
    }  # fmt: skip
    base = {"date": time.strftime("%Y-%m-%d"), "commit": commit(), "machine": machine()}
    what = f"tip text, template backend, 5 personas x {len(all_faults)} faults"
    row = f"{what} | **p50 {template['p50_ms']} / p95 {template['p95_ms']} ms per tip**"
    report({**base, "template": template}, row if args.append else None)
    what = f"tip text, transformers backend, {label} on {model.device}, <= 40 new tokens, {len(latencies)} tips"
    row = f"{what} | **p50 {generated['p50_ms']} / p95 {generated['p95_ms']} ms per tip** (submit -> checked tip)"
    report({**base, "model": generated}, row if args.append else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
