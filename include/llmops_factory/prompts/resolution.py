"""Resolving a prompt reference: ``name@version`` or ``name@alias`` against published bundles (verified),
or ``name@version`` from the repository's ``prompts/`` folder (development and validation only).

A resolved reference is a :class:`~llmops_factory.handoffs.PromptPin`: what a DAG run pins and hands on.
"""

from __future__ import annotations

from pathlib import Path

from llmops_factory import layout
from llmops_factory.handoffs import PromptPin
from llmops_factory.prompts.aliases import get_alias
from llmops_factory.prompts.bundles import Storage, load_verified
from llmops_factory.prompts.errors import AliasError, BundleIntegrityError, PromptNotFoundError
from llmops_factory.prompts.loader import _display, available_versions, load_file, prompt_path
from llmops_factory.prompts.models import Prompt
from llmops_factory.prompts.refs import parse_ref


def resolve(ref: str, root: str) -> PromptPin:
    """Resolve ``name@version`` or ``name@alias`` against published bundles, verifying the bundle."""
    prompt, resolved = _resolve(ref, root)
    return resolved


def _resolve(ref: str, root: str) -> tuple[Prompt, PromptPin]:
    parsed = parse_ref(ref)
    store = Storage(root)
    if parsed.version is not None:
        prompt, _ = load_verified(store, parsed.name, parsed.version)
        alias = None
    else:
        pointer = get_alias(parsed.name, parsed.alias or "", root)
        try:
            prompt, _ = load_verified(store, parsed.name, pointer["version"])
        except PromptNotFoundError as exc:
            raise AliasError(
                f"alias {ref} points at version {pointer['version']}, which is not published: {exc}"
            ) from None
        if pointer["hash"] != prompt.hash:
            raise BundleIntegrityError(
                f"alias {ref} records hash {pointer['hash'][:12]} for {pointer['version']}, but the published "
                f"bundle has {prompt.hash[:12]}"
            )
        alias = parsed.alias
    uri = store.uri(layout.prompt_bundle(prompt.name, prompt.version))
    return prompt, PromptPin(prompt.name, prompt.version, prompt.hash, ref, alias, uri)


def load_published(ref: str, root: str) -> Prompt:
    """Resolve ``ref`` at ``root`` and return the verified prompt, ready to render."""
    prompt, _ = _resolve(ref, root)
    return prompt


def load_prompt(ref: str, root: str | None = None, *, prompts_dir: Path | None = None) -> Prompt:
    """Load ``name@version`` from the repository, or ``name@version`` / ``name@alias`` from a published
    bundle when ``root`` (the storage root URI) is given. Bundles are integrity-checked on load.
    """
    if root is not None:
        return load_published(ref, root)
    parsed = parse_ref(ref)
    if parsed.version is None:
        raise PromptNotFoundError(
            f"{ref}: aliases exist only in published storage; pass root=<storage root URI> "
            f"or name a version (repository versions: {', '.join(available_versions(parsed.name, prompts_dir)) or 'none'})"
        )
    path = prompt_path(parsed.name, parsed.version, prompts_dir)
    if not path.is_file():
        versions = available_versions(parsed.name, prompts_dir)
        raise PromptNotFoundError(
            f"prompt {ref} not found in the repository (no {_display(path, path.parent.parent)}); "
            f"versions of {parsed.name}: {', '.join(versions) or 'none'}"
        )
    prompt, _ = load_file(path, prompts_dir=path.parent.parent)
    return prompt
