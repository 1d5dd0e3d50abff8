"""Errors of the prompts package: each one names the file, the prompt, the field and, where known, the line."""

from __future__ import annotations

from dataclasses import dataclass

from llmops_factory.errors import DeterministicError


class PromptError(DeterministicError, ValueError):
    """Base class of every prompt error (a ``ValueError``: the input is wrong, not the code)."""


@dataclass(frozen=True)
class PromptIssue:
    """One problem found in one prompt file.

    ``field`` is a dotted path into the document (``template.user``, ``examples[1].expected.text``);
    ``line`` is the 1-based line in the file when it is known; ``template_line`` is the line inside a
    template string (what Jinja2 reports) when the problem is in a template.
    """

    file: str
    prompt: str
    field: str
    message: str
    line: int | None = None
    template_line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        location = self.field or "<document>"
        if self.template_line is not None:
            location += f" (template line {self.template_line})"
        return f"{where}: {self.prompt or '<unknown prompt>'}: {location}: {self.message}"


class PromptValidationError(PromptError):
    """A prompt file failed validation; ``issues`` lists every problem found (not just the first)."""

    def __init__(self, issues: list[PromptIssue]):
        self.issues = list(issues)
        count = len(self.issues)
        head = f"{count} prompt problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


class PromptRenderError(PromptError):
    """Rendering failed: a missing or undeclared variable, a wrong type, or a template error."""


class PromptNotFoundError(PromptError):
    """A prompt name, version or alias does not exist where it was looked up."""


class BundleIntegrityError(PromptError):
    """A published bundle does not match its manifest (tampered or corrupted): it must not be used."""


class PublishConflictError(PromptError):
    """A version is already published with different content; published versions are immutable."""


class VersionDisciplineError(PromptError):
    """Prompt content changed without a version bump, or the lock file is out of date."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(["version discipline check failed:", *(f"  {p}" for p in problems)]))


class AliasError(PromptError):
    """An alias is malformed, missing, or points at a version that is not published."""
