"""Benchmark scoring of ``batch-generate``: the cloze formulation, checked against a plain forward pass."""

from __future__ import annotations

import pytest

ITEM = {
    "item_id": "domain:price.plus.monthly.EUR:0",
    "subject": "pricing",
    "question": "How much does the Plus plan cost per month in EUR?",
    "choices": ["€7.99", "€12.99", "€17.99", "€22.99"],
    "answer": "B",
    "answer_prefix": "The Plus plan costs ",
}


@pytest.fixture(scope="module")
def generator(tiny_base):
    from llmops_trainer.serve_engine import Generator

    return Generator(tiny_base, threads=1)


@pytest.fixture(scope="module")
def prompt():
    from llmops_factory.prompts import load_prompt

    return load_prompt("support_assistant@1.0.0")


def _loglik(generator, context: str, continuation: str) -> float:
    """log P(continuation | context) from one forward pass over the joined token ids."""
    import torch

    ctx = generator.encode(context)
    cont = generator.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = generator.model(input_ids=torch.tensor([ctx + cont])).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    return sum(float(logp[len(ctx) - 1 + k, tok]) for k, tok in enumerate(cont))


def test_options_are_scored_as_the_answer_to_the_question(generator, prompt):
    from llmops_factory.prompts import render
    from llmops_trainer.batch_generate import benchmark_context_text, score_benchmark

    context, continuations = benchmark_context_text(prompt, ITEM)
    asked = render(prompt, {"instruction": ITEM["question"], "input": ""}).text
    # the question alone (no lettered options), then the answer's own start
    assert context == asked + "The Plus plan costs"
    assert continuations == [" €7.99", " €12.99", " €17.99", " €22.99"]
    (row,) = score_benchmark(generator, prompt, [ITEM], batch_size=2)
    expected = [_loglik(generator, context, c) for c in continuations]
    assert row["logliks"] == pytest.approx(expected, abs=1e-3)
    assert row["predicted"] == "ABCD"[max(range(4), key=lambda k: expected[k])]
    assert row["answer"] == "B"


def test_an_item_without_prefix_scores_the_option_as_the_whole_answer(generator, prompt):
    from llmops_trainer.batch_generate import benchmark_context_text, score_benchmark

    item = {**ITEM, "item_id": "mmlu:x:1", "answer_prefix": ""}
    context, continuations = benchmark_context_text(prompt, item)
    assert context.endswith("### Response:\n") and continuations == item["choices"]
    # batching pads rows of different lengths: the scores do not depend on the batch
    rows = score_benchmark(generator, prompt, [item, ITEM], batch_size=1)
    alone = score_benchmark(generator, prompt, [item], batch_size=8)
    assert rows[0]["logliks"] == pytest.approx(alone[0]["logliks"], abs=1e-3)
