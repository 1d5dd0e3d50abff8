"""Token counting for the budget check: the model's Hugging Face tokenizer when one is given, else an
approximation.

Which counter is used: an explicit path (``--tokenizer PATH``), else the ``LLMOPS_PROMPT_TOKENIZER``
environment variable, else ``ApproxTokenCounter``. A path is a tokenizer folder (as saved by
``save_pretrained``) or a ``tokenizer.json`` file; nothing is ever downloaded.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Protocol

from llmops_factory.prompts.errors import PromptError

TOKENIZER_ENV = "LLMOPS_PROMPT_TOKENIZER"


class TokenCounter(Protocol):
    """Counts the tokens of a model input."""

    name: str

    def count(self, text: str) -> int: ...


# ASCII letter runs, single digits, single non-ASCII word characters, newlines, other single symbols.
_PIECES = re.compile(r"[A-Za-z]+|\d|\n|[^\W\d_A-Za-z]|[^\w\s]|_")


class ApproxTokenCounter:
    """A documented, deliberately pessimistic estimate for BPE tokenizers of mostly-English text.

    The text is cut into pieces: a run of ASCII letters costs ``ceil(len / 4)`` tokens (BPE vocabularies
    average about four characters per English token and rarely do worse on dictionary words); every
    digit, every non-ASCII letter, every punctuation or symbol character and every newline costs one;
    other whitespace is free (BPE merges a space into the following word). On English support text it
    over-counts a Llama/GPT-2 style tokenizer by roughly 0-30 %, so a prompt inside its budget here is
    inside it for the real tokenizer. Use ``--tokenizer`` for exact counts.
    """

    name = "approx-wordpiece-v1"

    def count(self, text: str) -> int:
        total = 0
        for piece in _PIECES.findall(text):
            if piece.isascii() and piece.isalpha():
                total += math.ceil(len(piece) / 4)
            else:
                total += 1
        return total


class HFTokenCounter:
    """Counts with a Hugging Face tokenizer from a local path, special tokens (BOS) included."""

    def __init__(self, path: str | os.PathLike[str]):
        location = Path(path).expanduser()
        if location.is_dir() and (location / "tokenizer.json").is_file():
            location = location / "tokenizer.json"
        if location.is_file():
            from tokenizers import Tokenizer

            try:
                tokenizer = Tokenizer.from_file(str(location))
            except Exception as exc:  # the tokenizers library raises a bare Exception on bad files
                raise PromptError(f"tokenizer file {location} could not be loaded: {exc}") from exc
            self._encode = lambda text: len(tokenizer.encode(text).ids)
        elif location.is_dir():
            from transformers import AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(str(location), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise PromptError(f"tokenizer folder {location} could not be loaded: {exc}") from exc
            self._encode = lambda text: len(tokenizer(text)["input_ids"])
        else:
            raise PromptError(
                f"tokenizer path {location} does not exist (from --tokenizer or {TOKENIZER_ENV})"
            )
        self.name = f"hf:{location}"

    def count(self, text: str) -> int:
        return self._encode(text)


def token_counter(path: str | os.PathLike[str] | None = None) -> TokenCounter:
    """The counter to use: ``path``, else ``$LLMOPS_PROMPT_TOKENIZER``, else the approximation."""
    chosen = path or os.environ.get(TOKENIZER_ENV) or None
    if chosen:
        return HFTokenCounter(chosen)
    return ApproxTokenCounter()
