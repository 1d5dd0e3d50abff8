"""Prompt references (``name@version`` / ``name@alias``): the patterns and the parser.

Dependency-free on purpose: the Airflow trigger-form ``Param`` imports ``REF_PATTERN`` at DAG parse time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmops_factory.prompts.errors import PromptError

NAME_PATTERN = r"[a-z][a-z0-9_]*"
VERSION_PATTERN = r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
ALIAS_PATTERN = r"[a-z][a-z0-9_-]*"
#: A prompt reference: ``name@MAJOR.MINOR.PATCH`` or ``name@alias`` (JSON-schema compatible regex).
#: the serving prompt every stage uses unless a run or a setting names another
DEFAULT_PROMPT_REF = "support_assistant@1.0.0"

REF_PATTERN = rf"^{NAME_PATTERN}@(?:{VERSION_PATTERN}|{ALIAS_PATTERN})$"

_REF = re.compile(REF_PATTERN)
_VERSION = re.compile(rf"^{VERSION_PATTERN}$")


@dataclass(frozen=True)
class PromptRef:
    """A parsed reference: ``version`` or ``alias`` is set, never both."""

    name: str
    version: str | None
    alias: str | None

    def __str__(self) -> str:
        return f"{self.name}@{self.version or self.alias}"


def ref_pattern_for(name: str | None = None) -> str:
    """``REF_PATTERN``, or the pattern of references to one prompt ``name`` only."""
    if name is None:
        return REF_PATTERN
    if not re.fullmatch(NAME_PATTERN, name):
        raise PromptError(f"prompt name {name!r} must match {NAME_PATTERN}")
    return rf"^{name}@(?:{VERSION_PATTERN}|{ALIAS_PATTERN})$"


def parse_ref(ref: str) -> PromptRef:
    """Parse ``name@version`` or ``name@alias``; anything else is a ``PromptError`` showing the form."""
    if not isinstance(ref, str) or not _REF.match(ref):
        raise PromptError(
            f"prompt reference {ref!r} is not of the form name@MAJOR.MINOR.PATCH or name@alias "
            "(e.g. support_assistant@1.0.0, support_assistant@production)"
        )
    name, target = ref.split("@", 1)
    if _VERSION.match(target):
        return PromptRef(name=name, version=target, alias=None)
    return PromptRef(name=name, version=None, alias=target)
