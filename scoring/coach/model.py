"""Tip text from a local causal language model (Hugging Face transformers), off the caller's thread.

``CausalLM`` loads one model folder offline (``local_files_only``, never ``trust_remote_code``) on the
GPU when there is one, and builds its prompt in one of two formats:

- ``persona``: the seed project's persona fine-tunes (distilgpt2),
  ``<|persona|>{prompt_name}<|input|>{report}<|output|>`` -> the tip, up to the end token;
- ``chat``: an instruct model with a chat template; a system message gives the persona's tone,
  the user message the measured facts.

``auto`` picks ``chat`` when the tokenizer has a chat template, else ``persona``.

``ModelTips`` is the ``TextGenerator`` the tip writers use. One thread, ``tip-writer``, takes requests
from a bounded queue and generates with ``max_time`` set to what is left of the request's budget.
It checks the output (``check_tip``: non-empty, real words, not unsafe, not a repeat, names the
measured value) and answers through a ``Future``. ``submit`` never blocks: a full queue or a passed
deadline answers at once without text, and the writer uses its template.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scoring.coach.persona import Persona
from scoring.coach.select import TipRequest
from scoring.coach.templates import is_emoji
from scoring.coach.writer import Generated

log = logging.getLogger(__name__)

PromptFormat = Literal["auto", "chat", "persona"]

SEED_PROMPT = "<|persona|>{persona}<|input|>{report}<|output|>"
"""The prompt of the seed project's persona fine-tunes."""

UNSAFE = re.compile(
    r"\b(?:through the pain|ignore (?:the )?pain|no pain|pain is|until you (?:faint|puke|vomit|pass out)|"
    r"starv\w*|steroid\w*|purg\w*|kill\w*|die|dead|suicid\w*|hate|stupid|idiot\w*|loser\w*|pathetic|"
    r"worthless|ugly|fat(?:ty)?|weak(?:ling)?|shit\w*|fuck\w*|bitch\w*|damn|crap|hold your breath)\b|"
    r"https?://|www\.|\.com\b|@",
    re.IGNORECASE,
)
"""Text a coach must never say: pushing through pain, diet or drug advice, insults, swearing, links."""


class TextModelError(Exception):
    """A model folder that cannot be loaded; the message says what to put where."""


class CausalLM:
    """One local causal LM and its tokenizer, loaded offline."""

    def __init__(self, folder: Path, device: str = "auto", prompt_format: PromptFormat = "auto") -> None:
        folder = Path(folder).expanduser()
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise TextModelError(
                f"no language model at {folder}: expected a transformers model folder (config.json, "
                "model.safetensors or pytorch_model.bin, tokenizer files), as save_pretrained writes it"
            )
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - both are dependencies
            raise TextModelError(f"the transformers backend needs torch and transformers: {exc}") from exc
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no progress bars in a server's log
        from lifting.lifter import LifterError, resolve_device

        self.folder = folder
        try:
            self.device = resolve_device(device)
        except LifterError as exc:
            raise TextModelError(f"the tip model cannot run there: {exc}") from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
            dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(
                folder, local_files_only=True, trust_remote_code=False, dtype=dtype
            )
        except (OSError, ValueError, KeyError) as exc:
            raise TextModelError(
                f"cannot load the language model in {folder}: {exc} (models that need trust_remote_code are not loaded)"
            ) from exc
        self.model.to(self.device).eval()  # type: ignore[arg-type]
        has_chat = getattr(self.tokenizer, "chat_template", None) is not None
        if prompt_format == "chat" and not has_chat:
            raise TextModelError(f"{folder}: prompt format 'chat' asked for, but the tokenizer has no chat template")
        self.prompt_format: Literal["chat", "persona"] = (
            prompt_format if prompt_format != "auto" else ("chat" if has_chat else "persona")
        )
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 0) or int(
            getattr(self.model.config, "n_positions", 1024)
        )
        self.name = folder.name

    def prompt(self, persona: Persona, request: TipRequest) -> str:
        """The model's input text for one tip."""
        if self.prompt_format == "persona":
            return SEED_PROMPT.format(persona=persona.prompt_name, report=request.report())
        system = (
            f"You are {persona.name}, a fitness coach giving live feedback. Voice: {persona.tone}. "
            f"Answer with one coaching tip of at most {persona.max_words} words that states the measured "
            "number. Never encourage training through pain."
        )
        user = f"Measured: {request.report()}."
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # some templates refuse a system role: fold it into the user's message
            messages = [{"role": "user", "content": f"{system}\n\n{user}"}]
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text)

    def generate(self, prompt: str, max_time: float, max_new_tokens: int, seed: int) -> str:
        """Sampled continuation of ``prompt`` (new text only), stopped after ``max_time`` seconds."""
        import torch

        tok = self.tokenizer
        inputs = tok(prompt, return_tensors="pt", add_special_tokens=self.prompt_format == "chat")
        keep = max(8, self.max_positions - max_new_tokens)
        inputs = {k: v[:, -keep:].to(self.device) for k, v in inputs.items()}
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                min_new_tokens=2,
                do_sample=True,
                temperature=0.8,
                top_p=0.9,
                max_time=max(0.01, max_time),
                pad_token_id=pad,
                eos_token_id=eos,
            )
        new = output[0, inputs["input_ids"].shape[1] :]
        return str(tok.decode(new, skip_special_tokens=True))


def _strip_emoji(text: str) -> str:
    return "".join(ch for ch in text if not is_emoji(ch) and ch != "\ufe0f").strip()


def check_tip(raw: str, persona: Persona, request: TipRequest, avoid: str | None) -> tuple[str | None, str]:
    """A model's raw continuation -> (the tip, "ok") or (None, why it cannot be used)."""
    text = re.split(r"\n|<\|", raw, maxsplit=1)[0].strip().strip("\"'").strip()
    if not text:
        return None, "empty"
    unsafe = UNSAFE.search(text)
    if unsafe:
        return None, f"unsafe: {unsafe.group(0)!r}"
    visible = [ch for ch in text if not ch.isspace() and not is_emoji(ch)]
    if not visible or sum(ch.isalpha() for ch in visible) < 0.6 * len(visible):
        return None, "not text"
    words = text.split()
    if len(words) > persona.max_words:
        cut = " ".join(words[: persona.max_words])
        ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", cut)]
        if not ends:
            return None, f"too long: over {persona.max_words} words without a sentence end"
        text = cut[: ends[-1]]
    if persona.emoji == "never":
        text = _strip_emoji(text)
    number, phrase = request.fact()
    if not re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", text):
        text = f"{text.rstrip()} ({phrase})"
    if persona.emoji == "always" and persona.emojis and not any(is_emoji(ch) for ch in text):
        text = f"{text} {persona.emojis[0]}"
    if avoid is not None and text == avoid:
        return None, "repeat"
    return text, "ok"


@dataclass(frozen=True)
class GenerationOptions:
    """How the tip model runs."""

    device: str = "auto"
    """Torch device: auto, cpu, cuda, cuda:N."""
    prompt_format: PromptFormat = "auto"
    """Prompt format for every model (auto: chat when the tokenizer has a chat template)."""
    max_new_tokens: int = 40
    """Longest continuation, tokens."""
    seed: int = 0
    """Seed of the sampling (request n uses seed + n)."""
    queue_size: int = 32
    """Requests waiting at most; more get the template at once."""


@dataclass
class _Job:
    persona: Persona
    request: TipRequest
    deadline: float
    avoid: str | None
    future: Future[Generated]


class ModelTips:
    """The ``tip-writer`` thread: language-model tips for every session. ``start()``, then ``close()``."""

    def __init__(
        self,
        default: CausalLM | None,
        options: GenerationOptions | None = None,
        persona_model: Callable[[Persona], Path | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or GenerationOptions()
        self.default = default
        self._persona_model = persona_model or (lambda persona: None)
        self._models: dict[Path, CausalLM | TextModelError] = {}
        if default is not None:
            self._models[default.folder.resolve()] = default
        self._clock = clock
        self._queue: queue.Queue[_Job | None] = queue.Queue(self.options.queue_size)
        self._thread = threading.Thread(target=self._run, name="tip-writer", daemon=True)
        self._count = 0
        self.stats: dict[str, int] = {}
        """Outcomes by reason (``ok``, ``timeout``...)."""
        self.last_prompt: str | None = None
        """The most recent prompt (for tests and debugging)."""

    def start(self) -> ModelTips:
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the current request; waiting ones are answered without text."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.future.set_running_or_notify_cancel():  # not already given up
                job.future.set_result(Generated(None, "the server is stopping"))
        self._queue.put(None)
        self._thread.join(timeout)

    def __enter__(self) -> ModelTips:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, folder: Path) -> CausalLM:
        """The model of a folder, loaded once (``TextModelError`` if it cannot be)."""
        key = folder.resolve()
        model = self._models.get(key)
        if model is None:
            try:
                model = CausalLM(folder, self.options.device, self.options.prompt_format)
            except TextModelError as exc:
                model = exc
            self._models[key] = model
        if isinstance(model, TextModelError):
            raise model
        return model

    def model_for(self, persona: Persona) -> CausalLM | None:
        folder = self._persona_model(persona)
        return self.load(folder) if folder is not None else self.default

    def submit(self, persona: Persona, request: TipRequest, deadline: float, avoid: str | None) -> Future[Generated]:
        future: Future[Generated] = Future()
        try:
            self._queue.put_nowait(_Job(persona, request, deadline, avoid, future))
        except queue.Full:
            self._note("busy")
            future.set_result(Generated(None, "busy: too many tips waiting for the model"))
        return future

    def warm_up(self) -> None:
        """One short generation per loaded model, so the first user's tip is not the slow one."""
        for model in self._models.values():
            if isinstance(model, CausalLM):
                model.generate(model.tokenizer.eos_token or "Hi", 30.0, 2, self.options.seed)

    def _note(self, reason: str) -> None:
        key = reason.split(":")[0]
        self.stats[key] = self.stats.get(key, 0) + 1

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                self._note("timeout")
                continue
            result = self._answer(job)
            self._note(result.reason)
            job.future.set_result(result)

    def _answer(self, job: _Job) -> Generated:
        left = job.deadline - self._clock()
        if left <= 0:
            return Generated(None, "timeout: the budget ran out before the model was free")
        try:
            model = self.model_for(job.persona)
            if model is None:
                return Generated(None, "no model for this persona")
            prompt = model.prompt(job.persona, job.request)
            self.last_prompt = prompt
            self._count += 1
            raw = model.generate(prompt, left, self.options.max_new_tokens, self.options.seed + self._count)
        except Exception as exc:  # a model failure is a fallback, never a lost tip
            log.warning("tip model failed: %s", exc)
            return Generated(None, f"error: {exc}")
        if self._clock() > job.deadline:
            return Generated(None, "timeout: the model answered after the budget")
        text, reason = check_tip(raw, job.persona, job.request, job.avoid)
        return Generated(text, reason)


def describe(model: CausalLM | None) -> dict[str, Any]:
    """What /api/health shows of the tip model."""
    if model is None:
        return {"backend": "templates"}
    return {"backend": "transformers", "model": model.name, "prompt": model.prompt_format, "device": model.device}
