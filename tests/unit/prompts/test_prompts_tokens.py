"""Token counting: a real Hugging Face tokenizer when given, the documented approximation otherwise."""

from __future__ import annotations

import pytest

from llmops_factory.prompts import PromptError, validate_prompts
from llmops_factory.prompts.tokens import TOKENIZER_ENV, ApproxTokenCounter, HFTokenCounter, token_counter

from .helpers import GOOD, write_prompt


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    """A small word-level tokenizer trained here (no download), saved as tokenizer.json with a BOS."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>"])
    tokenizer.train_from_iterator(["You answer questions. Q: Why? A:"], trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def test_approximation_rules():
    counter = ApproxTokenCounter()
    assert counter.count("") == 0
    assert counter.count("the") == 1
    assert counter.count("subscription") == 3  # 12 letters / 4
    assert counter.count("12.99 EUR") == 2 + 1 + 2 + 1  # digits, '.', digits, EUR
    assert counter.count("a\nb") == 3
    assert counter.count("café") == 2  # 'caf' + non-ASCII 'é'


def test_hf_counter_counts_real_tokens_with_bos(tokenizer_file):
    counter = HFTokenCounter(tokenizer_file)
    assert counter.count("Why ?") == 3  # <s> Why ?
    assert HFTokenCounter(tokenizer_file.parent).count("Why ?") == 3  # a folder holding tokenizer.json


def test_counter_selection(tokenizer_file, monkeypatch):
    monkeypatch.delenv(TOKENIZER_ENV, raising=False)
    assert isinstance(token_counter(), ApproxTokenCounter)
    monkeypatch.setenv(TOKENIZER_ENV, str(tokenizer_file))
    assert isinstance(token_counter(), HFTokenCounter)
    with pytest.raises(PromptError, match="does not exist"):
        token_counter("/no/such/tokenizer")


def test_budget_checked_with_the_tokenizer(tmp_path, tokenizer_file):
    write_prompt(tmp_path, GOOD.replace("max_prompt_tokens: 64", "max_prompt_tokens: 8"))
    report = validate_prompts(tmp_path, counter=HFTokenCounter(tokenizer_file))
    [issue] = report.issues
    # "<s> You answer questions . Q : Why ? A :" = 11 tokens with this tokenizer
    assert "renders to 11 tokens (hf:" in issue.message and "over the budget of 8" in issue.message
