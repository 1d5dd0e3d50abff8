"""Alias pointers ``prompts/<name>/aliases/<alias>.json`` (``layout.prompt_alias``): a small JSON object
naming a published version and its hash, moved by the deployment DAGs with ``set_alias``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from llmops_factory import layout
from llmops_factory.prompts.bundles import Storage, dump_json, load_verified
from llmops_factory.prompts.errors import AliasError, PromptNotFoundError
from llmops_factory.prompts.refs import ALIAS_PATTERN, parse_ref

_ALIAS = re.compile(rf"^{ALIAS_PATTERN}$")


def _check_alias(alias: str) -> None:
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise AliasError(f"alias {alias!r} must match {ALIAS_PATTERN} (e.g. production, candidate)")


def get_alias(name: str, alias: str, root: str) -> dict[str, Any]:
    """The pointer object of ``name@alias``; ``AliasError`` if there is none or it is malformed."""
    _check_alias(alias)
    store = Storage(root)
    relative = layout.prompt_alias(name, alias)
    raw = store.read(relative)
    if raw is None:
        existing = list_aliases(name, root)
        raise AliasError(
            f"alias {name}@{alias} does not exist at {store.uri(relative)}; aliases of {name}: "
            f"{', '.join(f'{a} -> {v}' for a, v in existing.items()) or 'none'}"
        )
    try:
        pointer = json.loads(raw)
    except ValueError as exc:
        raise AliasError(f"{store.uri(relative)}: alias pointer is not valid JSON ({exc})") from None
    if not isinstance(pointer, dict) or not all(
        isinstance(pointer.get(k), str) for k in ("name", "version", "hash")
    ):
        raise AliasError(f"{store.uri(relative)}: alias pointer needs string fields name, version, hash")
    if pointer["name"] != name:
        raise AliasError(
            f"{store.uri(relative)}: alias pointer names prompt {pointer['name']!r}, not {name!r}"
        )
    return pointer


def list_aliases(name: str, root: str) -> dict[str, str]:
    """{alias: version} of every alias of ``name`` (malformed pointers are shown as '<invalid>')."""
    store = Storage(root)
    result: dict[str, str] = {}
    for child in store.child_names(f"prompts/{name}/aliases"):
        if not child.endswith(".json") or child.startswith("."):
            continue
        raw = store.read(f"prompts/{name}/aliases/{child}")
        try:
            result[child.removesuffix(".json")] = json.loads(raw or b"")["version"]
        except (ValueError, KeyError, TypeError):
            result[child.removesuffix(".json")] = "<invalid>"
    return result


@dataclass(frozen=True)
class AliasChange:
    name: str
    alias: str
    version: str
    hash: str
    previous_version: str | None
    changed: bool


def set_alias(
    name: str,
    alias: str,
    version: str,
    root: str,
    *,
    set_by: str | None = None,
    reason: str | None = None,
) -> AliasChange:
    """Point ``name@alias`` at a published, verified ``version`` (the deployment DAGs call this).

    Idempotent: pointing an alias where it already points changes nothing. ``set_by`` (e.g. the DAG
    run id) and ``reason`` are stored in the pointer for the audit trail.
    """
    _check_alias(alias)
    parse_ref(f"{name}@{version}")
    store = Storage(root)
    try:
        prompt, _ = load_verified(store, name, version)
    except PromptNotFoundError as exc:
        raise AliasError(f"cannot point {name}@{alias} at {version}: {exc}") from None
    relative = layout.prompt_alias(name, alias)
    previous: dict[str, Any] | None
    try:
        previous = get_alias(name, alias, root) if store.read(relative) is not None else None
    except AliasError:
        previous = None  # a malformed pointer is replaced
    if previous and previous.get("version") == version and previous.get("hash") == prompt.hash:
        return AliasChange(name, alias, version, prompt.hash, version, changed=False)
    pointer = {
        "name": name,
        "alias": alias,
        "version": version,
        "hash": prompt.hash,
        "set_by": set_by,
        "reason": reason,
    }
    store.write(relative, dump_json(pointer))
    return AliasChange(
        name, alias, version, prompt.hash, previous.get("version") if previous else None, changed=True
    )
