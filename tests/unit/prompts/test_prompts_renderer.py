"""The shared renderer: exact text, strict variables, identical bytes from the repository and a bundle."""

from __future__ import annotations

import pytest

from llmops_factory.prompts import PromptRenderError, load_prompt, publish_repo, render
from llmops_factory.prompts.loader import parse_prompt

from .helpers import GOOD


@pytest.fixture
def assistant():
    return load_prompt("support_assistant@1.0.0")


def test_contract_attributes(assistant):
    assert assistant.name == "support_assistant" and assistant.version == "1.0.0"
    assert len(assistant.hash) == 64 and int(assistant.hash, 16) >= 0
    assert set(assistant.generation) == {"max_new_tokens", "temperature", "top_p", "stop"}
    assistant.generation["stop"].append("mutated")
    assert "mutated" not in assistant.generation["stop"]  # a copy: callers cannot change the prompt


def test_text_is_system_and_user_joined_and_ends_at_the_response(assistant):
    r = render(assistant, {"instruction": "How do I pause my plan?", "input": "Plan: Plus, monthly."})
    assert r.user == "How do I pause my plan?\n\n### Input:\nPlan: Plus, monthly."
    assert r.text == f"{r.system}\n\n### Instruction:\n{r.user}\n\n### Response:\n"
    assert r.text.endswith("### Response:\n")
    assert (r.prompt_name, r.prompt_version, r.prompt_hash) == (assistant.name, "1.0.0", assistant.hash)


def test_optional_input_absent_empty_or_none_render_the_same(assistant):
    texts = {
        render(assistant, {"instruction": "Hi"}).text,
        render(assistant, {"instruction": "Hi", "input": ""}).text,
        render(assistant, {"instruction": "Hi", "input": None}).text,
    }
    assert len(texts) == 1 and "### Input:" not in texts.pop()


def test_missing_required_variable(assistant):
    with pytest.raises(
        PromptRenderError, match="support_assistant@1.0.0: missing required variable 'instruction'"
    ):
        render(assistant, {"input": "x"})


def test_undeclared_variable_and_wrong_type_are_errors(assistant):
    with pytest.raises(PromptRenderError, match="'instrucion' are not declared"):
        render(assistant, {"instruction": "a", "instrucion": "b"})
    with pytest.raises(PromptRenderError, match="'instruction' must be str, got int"):
        render(assistant, {"instruction": 3})
    with pytest.raises(PromptRenderError, match="must be a mapping"):
        render(assistant, ["instruction"])  # type: ignore[arg-type]


def test_strict_undefined_at_render_time():
    prompt, _ = parse_prompt(
        GOOD.replace("{{ question }}", "{{ question.missing_attribute }}"), file="t.yaml"
    )
    with pytest.raises(PromptRenderError, match="rendering failed.*missing_attribute"):
        render(prompt, {"question": "q"})


def test_sandbox_blocks_unsafe_template_code():
    prompt, _ = parse_prompt(
        GOOD.replace("{{ question }}", "{{ question.__class__.__mro__ }}"), file="t.yaml"
    )
    with pytest.raises(PromptRenderError):
        render(prompt, {"question": "q"})


def test_instruction_prompt_user_part_is_the_instruction():
    prompt = load_prompt("support_instruction@1.0.0")
    r = render(prompt, {"article_title": "Refunds", "section_heading": "How long does a refund take"})
    assert r.user == (
        'Using the Nimbus help-centre article "Refunds", answer the customer\'s question: '
        "How long does a refund take?"
    )


def test_ab_versions_differ_in_system_prompt_and_generation():
    a, b = load_prompt("support_assistant@1.0.0"), load_prompt("support_assistant@1.1.0")
    ra, rb = (render(p, {"instruction": "Refund?"}) for p in (a, b))
    assert ra.user == rb.user and ra.system != rb.system and "policy you rely on" in rb.system
    assert b.generation["max_new_tokens"] < a.generation["max_new_tokens"]


def test_repository_and_published_bundle_render_identical_bytes(prompts_dir, storage_root):
    """One renderer: the text a model is trained on (repository prompt, data prep / training) is the
    text it is served with (published bundle resolved by alias, serving)."""
    from llmops_factory.prompts import set_alias

    publish_repo(storage_root, prompts_dir=prompts_dir)
    set_alias("support_assistant", "production", "1.0.0", storage_root)
    variables = {"instruction": "Mon mot de passe ne marche plus — que faire ?", "input": "Appareil : TV\r\n"}
    from_repo = render(load_prompt("support_assistant@1.0.0", prompts_dir=prompts_dir), variables)
    from_bundle = render(load_prompt("support_assistant@production", root=storage_root), variables)
    assert from_repo.text.encode("utf-8") == from_bundle.text.encode("utf-8")
    assert from_repo.prompt_hash == from_bundle.prompt_hash
