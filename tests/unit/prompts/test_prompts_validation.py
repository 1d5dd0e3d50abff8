"""Validation: every kind of bad prompt file gets one clear error naming file, prompt, field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops_factory.prompts import PromptValidationError, load_prompt, validate_prompts
from llmops_factory.prompts.loader import load_file
from llmops_factory.prompts.tokens import ApproxTokenCounter

from .helpers import GOOD, write_prompt


def issues_of(tmp_path: Path, text: str, name: str = "demo", version: str = "1.0.0") -> list:
    write_prompt(tmp_path, text, name, version)
    report = validate_prompts(tmp_path, counter=ApproxTokenCounter())
    return report.issues


def only_issue(tmp_path: Path, text: str, **kwargs):
    issues = issues_of(tmp_path, text, **kwargs)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_repository_prompts_are_valid():
    report = validate_prompts(counter=ApproxTokenCounter())
    assert report.ok, "\n".join(map(str, report.issues))
    refs = {p.ref for p in report.prompts}
    assert {"support_assistant@1.0.0", "support_assistant@1.1.0", "support_instruction@1.0.0"} <= refs
    assert all(p.worst_case_tokens and p.worst_case_tokens <= p.max_prompt_tokens for p in report.prompts)


def test_good_fixture_is_valid(tmp_path):
    assert issues_of(tmp_path, GOOD) == []


def test_malformed_yaml_names_file_and_line(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("  max_new_tokens: 32", "  max_new_tokens: [32"))
    assert issue.file == "prompts/demo/1.0.0.yaml" or issue.file.endswith("demo/1.0.0.yaml")
    assert "malformed YAML" in issue.message
    assert issue.line is not None and 23 <= issue.line <= 24
    assert "demo/1.0.0.yaml:" in str(issue)


def test_duplicate_key_is_an_error_not_silently_overwritten(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("  top_p: 1.0\n", "  top_p: 1.0\n  top_p: 0.5\n"))
    assert "duplicate key 'top_p'" in issue.message
    assert issue.line == 26


def test_missing_field_names_the_field(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("owner: tests\n", ""))
    assert issue.field == "owner" and issue.message == "required field is missing"
    assert issue.prompt == "demo@1.0.0"


def test_wrong_type_names_field_and_line(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("max_new_tokens: 32", 'max_new_tokens: "32"'))
    assert issue.field == "generation.max_new_tokens"
    assert issue.line == 23
    assert "'32'" in issue.message


def test_unknown_field_is_rejected(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("  top_p: 1.0\n", "  top_p: 1.0\n  top_k: 40\n"))
    assert issue.field == "generation.top_k"
    assert "Extra inputs" in issue.message


def test_unquoted_float_version_is_rejected(tmp_path):
    issues = issues_of(tmp_path, GOOD.replace("version: 1.0.0", "version: 1.0"))
    assert any(i.field == "version" for i in issues), [str(i) for i in issues]


def test_name_and_version_must_match_the_file_path(tmp_path):
    issues = issues_of(tmp_path, GOOD, version="1.0.1")
    assert [i.field for i in issues] == ["version"]
    assert "does not match the file name '1.0.1'" in issues[0].message


def test_template_syntax_error_reports_template_and_file_line(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("    {% endif %}\n", "    {% endfor %}\n"))
    assert issue.field == "template.user"
    assert issue.template_line == 4
    assert issue.line == 20  # line 4 of the block scalar that starts after line 16
    assert "template syntax error" in issue.message


def test_undeclared_variable_reports_its_line(tmp_path):
    issues = issues_of(tmp_path, GOOD.replace("Context: {{ context }}", "Context: {{ context }} {{ tone }}"))
    undeclared = [i for i in issues if "not declared" in i.message]
    assert len(undeclared) == 1
    assert (
        undeclared[0].field == "template.user"
        and undeclared[0].template_line == 3
        and undeclared[0].line == 19
    )
    assert "'tone'" in undeclared[0].message


def test_unused_variable_is_reported(tmp_path):
    text = GOOD.replace("    {% if context %}\n    Context: {{ context }}\n    {% endif %}\n", "")
    issue = only_issue(tmp_path, text)
    assert issue.field == "variables.context"
    assert "declared but never used" in issue.message
    assert issue.line == 9


def test_format_must_join_user_and_end_with_a_cue(tmp_path):
    issues = issues_of(
        tmp_path,
        GOOD.replace('format: "{{ system }}\\n\\nQ: {{ user }}\\nA:"', 'format: "{{ system }} {{ user }}"'),
    )
    assert [i.field for i in issues] == ["template.format"]
    assert "must end with literal text" in issues[0].message
    issues = issues_of(tmp_path, GOOD.replace("Q: {{ user }}", "Q: {{ question }}"))
    messages = " | ".join(i.message for i in issues)
    assert "may only use" in messages and "must include {{ user }}" in messages


def test_example_mismatch_names_example_and_line(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("        Q: Why?\n", "        Q: Why not?\n"))
    assert issue.field == "examples[0].expected.text"
    assert "example 'plain'" in issue.message and "line 3" in issue.message
    assert "'Q: Why not?\\n'" in issue.message and "'Q: Why?\\n'" in issue.message
    assert issue.line == 38


def test_example_with_undeclared_variable(tmp_path):
    issue = only_issue(
        tmp_path, GOOD.replace("      question: Why?\n", "      question: Why?\n      mood: happy\n")
    )
    assert issue.field == "examples[0].variables.mood"


def test_example_that_fails_to_render(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("      question: Why?\n", "      context: x\n"))
    assert issue.field == "examples[0].variables"
    assert "missing required variable 'question'" in issue.message


def test_budget_overrun_uses_the_worst_case_example(tmp_path):
    long_example = (
        "  - name: long\n    variables:\n      question: " + "word " * 80 + "\n"
        "    expected:\n      user: " + ("word " * 80).strip() + "\n"
    )
    issue = only_issue(tmp_path, GOOD + long_example)
    assert issue.field == "budget.max_prompt_tokens"
    assert "worst-case example 'long'" in issue.message and "over the budget of 64" in issue.message
    assert issue.line == 28


def test_budget_must_leave_room_for_generation(tmp_path):
    issue = only_issue(tmp_path, GOOD.replace("context_window: 128", "context_window: 90"))
    assert issue.field == "budget.context_window"
    assert "= 96 exceeds the context window of 90" in issue.message


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    text = GOOD.replace("owner: tests\n", "").replace("max_new_tokens: 32", "max_new_tokens: -1")
    fields = {i.field for i in issues_of(tmp_path, text)}
    assert fields == {"owner", "generation.max_new_tokens"}


def test_misplaced_yaml_file_is_reported(tmp_path):
    write_prompt(tmp_path, GOOD)
    (tmp_path / "stray.yaml").write_text(GOOD)
    report = validate_prompts(tmp_path, counter=ApproxTokenCounter())
    assert [i.file for i in report.issues] == ["prompts/stray.yaml"] or report.issues[0].file.endswith(
        "stray.yaml"
    )


def test_load_raises_with_all_issues(tmp_path):
    path = write_prompt(tmp_path, GOOD.replace("{{ question }}", "{{ questoin }}"))
    with pytest.raises(PromptValidationError) as caught:
        load_file(path, prompts_dir=tmp_path)
    text = str(caught.value)
    assert "demo/1.0.0.yaml:17: demo@1.0.0: template.user (template line 1)" in text
    assert "variables.question" in text


def test_load_prompt_unknown_version_lists_known_ones(prompts_dir):
    from llmops_factory.prompts import PromptNotFoundError

    with pytest.raises(PromptNotFoundError, match=r"support_assistant@9\.9\.9 not found.*1\.0\.0, 1\.1\.0"):
        load_prompt("support_assistant@9.9.9", prompts_dir=prompts_dir)
    with pytest.raises(PromptNotFoundError, match="aliases exist only in published storage"):
        load_prompt("support_assistant@production", prompts_dir=prompts_dir)
