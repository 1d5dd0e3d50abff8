"""Publishing prompt versions as immutable bundles (CI's job; see :mod:`~llmops_factory.prompts.bundles`).

Publishing a version that exists with the same content hash is a no-op; with a different hash it is
refused. A failed publish removes what it wrote. On a local root every file is written to a temporary
name and renamed into place (the manifest with a hard link, which fails if it already exists); on
object stores each object appears whole, and the manifest is created with an if-not-exists
precondition. Concurrent publishers of the same version are not otherwise coordinated: publish from
one CI job at a time.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_factory import layout
from llmops_factory.prompts.bundles import (
    MANIFEST_NAME,
    PROMPT_FILE_NAME,
    Storage,
    build_manifest,
    dump_json,
    load_verified,
    read_manifest,
)
from llmops_factory.prompts.errors import PromptError, PromptNotFoundError, PublishConflictError
from llmops_factory.prompts.loader import parse_prompt
from llmops_factory.prompts.models import Prompt, version_key
from llmops_factory.prompts.refs import parse_ref


def _git(args: list[str], cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def _utc(value: str | float) -> str:
    if isinstance(value, str):
        moment = _dt.datetime.fromisoformat(value)
    else:
        moment = _dt.datetime.fromtimestamp(value, tz=_dt.UTC)
    return moment.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")


def source_provenance(path: Path) -> dict[str, Any]:
    """created_at / source_commit of a prompt file, from git (commit time of the last commit touching it).

    Falls back to the file's mtime only when git has no commit for the file (not a git checkout, or
    the file is not committed), and says so in ``created_at_source``.
    """
    path = path.resolve()
    folder = path.parent
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], folder))
    except (OSError, subprocess.SubprocessError):
        return {
            "created_at": _utc(path.stat().st_mtime),
            "created_at_source": "file mtime (not a git checkout)",
            "source_commit": None,
            "source_path": path.name,
            "source_dirty": None,
        }
    relative = path.relative_to(top).as_posix() if path.is_relative_to(top) else path.name
    try:
        head: str | None = _git(["rev-parse", "--verify", "HEAD"], folder)
    except subprocess.SubprocessError:
        head = None  # a repository without commits
    committed = ""
    if head:
        try:
            committed = _git(["log", "-1", "--format=%cI", "--", path.name], folder)
        except subprocess.SubprocessError:
            committed = ""
    dirty = bool(_git(["status", "--porcelain", "--", path.name], folder))
    if committed:
        created_at, how = _utc(committed), "git commit time"
    else:
        created_at, how = _utc(path.stat().st_mtime), "file mtime (file has no git commit)"
    return {
        "created_at": created_at,
        "created_at_source": how,
        "source_commit": head,
        "source_path": relative,
        "source_dirty": dirty,
    }


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: str
    hash: str
    status: str  # "published" or "unchanged"
    uri: str


def publish_prompt(
    prompt: Prompt, source: bytes, root: str, *, source_path: Path | None = None
) -> PublishResult:
    """Publish one validated prompt version as an immutable bundle.

    ``source`` is the prompt file's bytes (it must parse to ``prompt``). Identical content already
    published: no-op (``status="unchanged"``). Different content: ``PublishConflictError``. On any
    failure the files this call wrote are removed, so no half-published bundle is left behind.
    """
    check, _ = parse_prompt(
        source, file=prompt.source, expect_name=prompt.name, expect_version=prompt.version
    )
    if check.hash != prompt.hash:
        raise PromptError(f"{prompt.source}: source bytes do not match the prompt being published")
    store = Storage(root)
    bundle = layout.prompt_bundle(prompt.name, prompt.version)
    uri = store.uri(bundle)
    existing = read_manifest(store, prompt.name, prompt.version)
    if existing is not None:
        return _compare_existing(store, prompt, existing, uri)
    provenance = (
        source_provenance(source_path)
        if source_path is not None
        else {
            "created_at": None,
            "created_at_source": "unknown (published from bytes without a source file)",
            "source_commit": None,
            "source_path": None,
            "source_dirty": None,
        }
    )
    files = {PROMPT_FILE_NAME: source}
    manifest = dump_json(build_manifest(prompt, files, provenance))
    written: list[str] = []
    try:
        for file_name, data in files.items():
            store.write(bundle + file_name, data)
            written.append(file_name)
        store.write(bundle + MANIFEST_NAME, manifest, exclusive=True)
    except FileExistsError:
        # Another publisher created the manifest between our check and our write: judge its content.
        existing = read_manifest(store, prompt.name, prompt.version)
        if existing is None:
            raise
        return _compare_existing(store, prompt, existing, uri)
    except BaseException:
        for file_name in written:
            store.delete(bundle + file_name)
        raise
    return PublishResult(prompt.name, prompt.version, prompt.hash, "published", uri)


def _compare_existing(store: Storage, prompt: Prompt, existing: dict[str, Any], uri: str) -> PublishResult:
    if existing["hash"] != prompt.hash:
        raise PublishConflictError(
            f"prompt {prompt.ref} is already published at {uri} with different content "
            f"(published {existing['hash'][:12]}, this {prompt.hash[:12]}); published versions are immutable: "
            "bump the version"
        )
    load_verified(store, prompt.name, prompt.version)  # an identical but tampered bundle must not pass
    return PublishResult(prompt.name, prompt.version, prompt.hash, "unchanged", uri)


def publish_repo(
    root: str,
    *,
    prompts_dir: Path | None = None,
    refs: list[str] | None = None,
    tokenizer: str | None = None,
) -> list[PublishResult]:
    """Validate every repository prompt and the lock file, then publish ``refs`` (default: all versions).

    Nothing is published unless the whole repository validates and its lock file is current; each
    version is then published (or found unchanged) in semantic-version order. Stops at the first
    refused version; versions published before it are complete bundles.
    """
    from llmops_factory.prompts.loader import default_prompts_dir, prompt_path
    from llmops_factory.prompts.lockfile import check_versions
    from llmops_factory.prompts.tokens import token_counter
    from llmops_factory.prompts.validator import validate_prompts

    directory = prompts_dir or default_prompts_dir()
    validate_prompts(directory, counter=token_counter(tokenizer)).raise_for_issues()
    hashes = check_versions(directory)
    if refs:
        wanted = []
        for ref in refs:
            parsed = parse_ref(ref)
            if parsed.version is None or parsed.version not in hashes.get(parsed.name, {}):
                raise PromptNotFoundError(f"{ref}: not a prompt version in the repository ({directory})")
            wanted.append((parsed.name, parsed.version))
    else:
        wanted = [(n, v) for n in sorted(hashes) for v in sorted(hashes[n], key=version_key)]
    results = []
    for name, version in wanted:
        path = prompt_path(name, version, directory)
        data = path.read_bytes()
        prompt, _ = parse_prompt(
            data, file=f"{directory.name}/{name}/{path.name}", expect_name=name, expect_version=version
        )
        results.append(publish_prompt(prompt, data, root, source_path=path))
    return results
