"""Full validation of prompt files: everything ``parse_prompt`` checks, plus the worked examples (each
must render and match its expected text exactly) and the token budget (on the worst-case example).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from llmops_factory.prompts.errors import PromptError, PromptIssue, PromptValidationError
from llmops_factory.prompts.loader import LineMap, default_prompts_dir, discover, load_file
from llmops_factory.prompts.models import Prompt, Rendered
from llmops_factory.prompts.renderer import render
from llmops_factory.prompts.tokens import TokenCounter, token_counter


@dataclass(frozen=True)
class PromptReport:
    """What validating one prompt file found."""

    file: str
    ref: str
    hash: str | None
    worst_case_tokens: int | None
    worst_case_example: str | None
    max_prompt_tokens: int | None
    seconds: float
    issues: tuple[PromptIssue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues


@dataclass
class ValidationReport:
    """The result of validating a set of prompt files."""

    counter: str
    prompts: list[PromptReport] = field(default_factory=list)
    other_issues: list[PromptIssue] = field(default_factory=list)

    @property
    def issues(self) -> list[PromptIssue]:
        return [*self.other_issues, *(i for p in self.prompts for i in p.issues)]

    @property
    def ok(self) -> bool:
        return not self.issues

    def raise_for_issues(self) -> None:
        if self.issues:
            raise PromptValidationError(self.issues)


def _first_difference(expected: str, got: str) -> str:
    want, have = expected.splitlines(keepends=True), got.splitlines(keepends=True)
    for index, (a, b) in enumerate(zip(want, have, strict=False), start=1):
        if a != b:
            return f"line {index}: expected {a!r}, rendered {b!r}"
    if len(want) != len(have):
        index = min(len(want), len(have)) + 1
        extra_want = want[index - 1] if len(want) >= index else None
        extra_have = have[index - 1] if len(have) >= index else None
        return f"line {index}: expected {extra_want!r}, rendered {extra_have!r}"
    return "they differ"  # unreachable for different strings; kept for safety of the message


def check_examples(
    prompt: Prompt, lines: LineMap | None = None
) -> tuple[list[PromptIssue], list[tuple[str, Rendered]]]:
    """Render every example; report render failures and differences from the expected parts."""
    lines = lines or LineMap()
    issues: list[PromptIssue] = []
    renders: list[tuple[str, Rendered]] = []
    for index, example in enumerate(prompt.spec.examples):
        base = f"examples[{index}]"
        undeclared = [name for name in example.variables if name not in prompt.spec.variables]
        for name in undeclared:
            path = f"{base}.variables.{name}"
            issues.append(
                PromptIssue(
                    prompt.source,
                    prompt.ref,
                    path,
                    f"example {example.name!r} sets variable {name!r}, which is not declared",
                    line=lines.line_of(path),
                )
            )
        if undeclared:
            continue
        try:
            rendered = render(prompt, example.variables)
        except PromptError as exc:
            path = f"{base}.variables"
            issues.append(
                PromptIssue(
                    prompt.source,
                    prompt.ref,
                    path,
                    f"example {example.name!r} does not render: {exc}",
                    line=lines.line_of(path),
                )
            )
            continue
        renders.append((example.name, rendered))
        for part in ("text", "system", "user"):
            expected = getattr(example.expected, part)
            got = getattr(rendered, part)
            if expected is None or expected == got:
                continue
            path = f"{base}.expected.{part}"
            detail = _first_difference(expected, got)
            diff_line = (
                int(detail.split(":")[0].removeprefix("line ")) if detail.startswith("line ") else None
            )
            issues.append(
                PromptIssue(
                    prompt.source,
                    prompt.ref,
                    path,
                    f"example {example.name!r}: rendered {part} differs from the expected {part} at {detail}",
                    line=lines.template_line(path, diff_line),
                )
            )
    return issues, renders


def check_budget(
    prompt: Prompt, renders: list[tuple[str, Rendered]], counter: TokenCounter, lines: LineMap | None = None
) -> tuple[list[PromptIssue], int | None, str | None]:
    """Count the tokens of every rendered example; the worst case must fit ``budget.max_prompt_tokens``."""
    lines = lines or LineMap()
    issues: list[PromptIssue] = []
    budget = prompt.spec.budget
    worst, worst_name = None, None
    for name, rendered in renders:
        tokens = counter.count(rendered.text)
        if worst is None or tokens > worst:
            worst, worst_name = tokens, name
    if worst is not None and worst > budget.max_prompt_tokens:
        issues.append(
            PromptIssue(
                prompt.source,
                prompt.ref,
                "budget.max_prompt_tokens",
                f"worst-case example {worst_name!r} renders to {worst} tokens ({counter.name}), "
                f"over the budget of {budget.max_prompt_tokens}",
                line=lines.line_of("budget.max_prompt_tokens"),
            )
        )
    if budget.context_window is not None:
        needed = budget.max_prompt_tokens + prompt.spec.generation.max_new_tokens
        if needed > budget.context_window:
            issues.append(
                PromptIssue(
                    prompt.source,
                    prompt.ref,
                    "budget.context_window",
                    f"max_prompt_tokens ({budget.max_prompt_tokens}) + generation.max_new_tokens "
                    f"({prompt.spec.generation.max_new_tokens}) = {needed} exceeds the context window "
                    f"of {budget.context_window}",
                    line=lines.line_of("budget.context_window"),
                )
            )
    return issues, worst, worst_name


def validate_file(path: Path, counter: TokenCounter, prompts_dir: Path | None = None) -> PromptReport:
    """Validate one prompt file completely; never raises for problems in the file (they are reported)."""
    started = time.perf_counter()
    try:
        prompt, lines = load_file(path, prompts_dir=prompts_dir)
    except PromptValidationError as exc:
        first = exc.issues[0]
        return PromptReport(
            first.file,
            first.prompt or path.stem,
            None,
            None,
            None,
            None,
            time.perf_counter() - started,
            tuple(exc.issues),
        )
    issues, renders = check_examples(prompt, lines)
    budget_issues, worst, worst_name = check_budget(prompt, renders, counter, lines)
    issues.extend(budget_issues)
    return PromptReport(
        file=prompt.source,
        ref=prompt.ref,
        hash=prompt.hash,
        worst_case_tokens=worst,
        worst_case_example=worst_name,
        max_prompt_tokens=prompt.spec.budget.max_prompt_tokens,
        seconds=time.perf_counter() - started,
        issues=tuple(issues),
    )


def validate_prompts(
    prompts_dir: Path | None = None,
    paths: list[Path] | None = None,
    counter: TokenCounter | None = None,
) -> ValidationReport:
    """Validate every prompt file in ``prompts_dir`` (or just ``paths``) and collect all problems."""
    root = prompts_dir or default_prompts_dir()
    counter = counter or token_counter()
    report = ValidationReport(counter=counter.name)
    if paths:
        files = [Path(p) for p in paths]
    else:
        files, misplaced = discover(root)
        report.other_issues.extend(misplaced)
        if not files:
            report.other_issues.append(PromptIssue(str(root), "", "", "no prompt files found"))
    for path in files:
        report.prompts.append(validate_file(path, counter, prompts_dir=root))
    return report
