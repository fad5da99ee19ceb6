"""A tiny causal language model for tests and speed benchmarks (random weights, a word-level tokenizer)."""

from __future__ import annotations

from pathlib import Path


def build_random_lm(
    folder: Path,
    words: list[str],
    *,
    layers: int = 2,
    width: int = 32,
    heads: int = 2,
    vocab_size: int | None = None,
    chat_template: str | None = None,
) -> Path:
    """Write a GPT-2 with random weights, built from a config, and a word-level tokenizer of ``words``
    (plus the seed prompt's markers, ``.`` and ``!``) to ``folder``, as ``save_pretrained`` writes any
    model. For tests (the text is nonsense) and speed benchmarks (``vocab_size``, ``layers``,
    ``width``, ``heads`` set the size; ids past the tokenizer's words decode to nothing)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    special = ["<|endoftext|>", "<|persona|>", "<|input|>", "<|output|>", "[UNK]"]
    vocab = {word: i for i, word in enumerate(dict.fromkeys([*special, *words, ".", "!"]))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", unk_token="[UNK]", additional_special_tokens=special[1:4]
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=vocab_size or len(vocab), n_positions=1024 if vocab_size else 256, n_embd=width,
        n_layer=layers, n_head=heads, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
