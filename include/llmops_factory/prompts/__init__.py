"""Prompts as code: versioned prompt templates, validation, immutable bundles, aliases, one renderer.

The one renderer shared by data preparation, training, evaluation and serving::

    from llmops_factory.prompts import load_prompt, render

    prompt = load_prompt("support_assistant@1.0.0")               # the repository's prompts/ folder
    prompt = load_prompt("support_assistant@production", root=uri)  # a published, verified bundle
    r = render(prompt, {"instruction": "...", "input": ""})
    r.text  # the exact model input; the response follows it directly

The command line is ``python -m llmops_factory.prompts --help``; see docs/prompts.md. Names are
imported lazily (PEP 562), so ``llmops_factory.prompts.refs`` stays cheap for DAG parse time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "errors": "AliasError BundleIntegrityError PromptError PromptIssue PromptNotFoundError PromptRenderError "
    "PromptValidationError PublishConflictError VersionDisciplineError",
    "aliases": "AliasChange get_alias list_aliases set_alias",
    "bundles": "published_versions",
    "loader": "default_prompts_dir load_file parse_prompt",
    "lockfile": "check_versions write_lock",
    "models": "Prompt PromptSpec Rendered content_hash",
    "refs": "REF_PATTERN PromptRef parse_ref",
    "renderer": "render",
    "publish": "PublishResult publish_prompt publish_repo",
    "resolution": "load_prompt resolve",
    "tokens": "ApproxTokenCounter HFTokenCounter token_counter",
    "validator": "ValidationReport validate_prompts",
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names.split()}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from llmops_factory.prompts.aliases import AliasChange, get_alias, list_aliases, set_alias  # noqa: F401
    from llmops_factory.prompts.bundles import published_versions  # noqa: F401
    from llmops_factory.prompts.errors import (  # noqa: F401
        AliasError,
        BundleIntegrityError,
        PromptError,
        PromptIssue,
        PromptNotFoundError,
        PromptRenderError,
        PromptValidationError,
        PublishConflictError,
        VersionDisciplineError,
    )
    from llmops_factory.prompts.loader import default_prompts_dir, load_file, parse_prompt  # noqa: F401
    from llmops_factory.prompts.lockfile import check_versions, write_lock  # noqa: F401
    from llmops_factory.prompts.models import Prompt, PromptSpec, Rendered, content_hash  # noqa: F401
    from llmops_factory.prompts.publish import PublishResult, publish_prompt, publish_repo  # noqa: F401
    from llmops_factory.prompts.refs import REF_PATTERN, PromptRef, parse_ref  # noqa: F401
    from llmops_factory.prompts.renderer import render  # noqa: F401
    from llmops_factory.prompts.resolution import load_prompt, resolve  # noqa: F401
    from llmops_factory.prompts.tokens import ApproxTokenCounter, HFTokenCounter, token_counter  # noqa: F401
    from llmops_factory.prompts.validator import ValidationReport, validate_prompts  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
