"""Immutable prompt bundles and alias pointers in object storage (``gs://`` on gcp, a ``file://`` root
on local), through ``fsspec`` - no Airflow import. The caller passes the storage root URI
(``get_settings().storage_root``).

Bundle ``prompts/<name>/<version>/`` (``layout.prompt_bundle``):

* ``prompt.yaml`` - the prompt file as it was in the repository;
* ``manifest.json`` - written last; readers require it, so a bundle without one does not exist.

Publishing a version that exists with the same content hash is a no-op; with a different hash it is
refused. A failed publish removes what it wrote. On a local root every file is written to a temporary
name and renamed into place (the manifest with a hard link, which fails if it already exists); on
object stores each object appears whole, and the manifest is created with an if-not-exists
precondition. Concurrent publishers of the same version are not otherwise coordinated: publish from
one CI job at a time.

Alias pointer ``prompts/<name>/aliases/<alias>.json`` (``layout.prompt_alias``): a small JSON object
naming a published version and its hash, moved by the deployment DAGs with ``set_alias``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_factory import layout
from llmops_factory.prompts.errors import (
    AliasError,
    BundleIntegrityError,
    PromptError,
    PromptNotFoundError,
    PromptValidationError,
    PublishConflictError,
)
from llmops_factory.prompts.loader import parse_prompt
from llmops_factory.prompts.models import HASH_SCHEME, Prompt, version_key
from llmops_factory.prompts.refs import ALIAS_PATTERN, parse_ref

MANIFEST_NAME = "manifest.json"
PROMPT_FILE_NAME = "prompt.yaml"
MANIFEST_VERSION = 1
_ALIAS = re.compile(rf"^{ALIAS_PATTERN}$")


class Storage:
    """A storage root opened with fsspec; paths are layout paths relative to the root."""

    def __init__(self, root: str):
        import fsspec

        if not root:
            raise PromptError("storage root is empty (on gcp set gcp.bucket / LLMOPS_GCP__BUCKET)")
        self.root = root.rstrip("/")
        self.fs, base = fsspec.core.url_to_fs(self.root)
        self.base = base.rstrip("/")
        self.local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )

    def path(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}"

    def uri(self, relative: str) -> str:
        return layout.join(self.root, relative)

    def read(self, relative: str) -> bytes | None:
        """The bytes at ``relative``, or None if there is no such object."""
        try:
            return self.fs.cat_file(self.path(relative))
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None

    def write(self, relative: str, data: bytes, *, exclusive: bool = False) -> None:
        """Write an object whole; ``exclusive`` fails with FileExistsError if it already exists."""
        target = self.path(relative)
        if not self.local:
            self.fs.pipe_file(target, data, mode="create" if exclusive else "overwrite")
            return
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        temporary = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                os.link(temporary, target)  # atomic, and fails if the target exists
            else:
                os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)

    def delete(self, relative: str) -> None:
        try:
            self.fs.rm_file(self.path(relative))
        except FileNotFoundError:
            pass

    def child_names(self, relative: str) -> list[str]:
        """Names directly under a folder (empty if it does not exist)."""
        try:
            entries = self.fs.ls(self.path(relative), detail=False, refresh=True)
        except (FileNotFoundError, TypeError):
            try:
                entries = self.fs.ls(self.path(relative), detail=False)
            except FileNotFoundError:
                return []
        return sorted({str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries})


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def build_manifest(prompt: Prompt, files: dict[str, bytes], provenance: dict[str, Any]) -> dict[str, Any]:
    """The bundle manifest (everything a reader needs to verify the bundle)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": prompt.name,
        "version": prompt.version,
        "hash": prompt.hash,
        "hash_scheme": HASH_SCHEME,
        "files": {name: {"sha256": _sha256(data), "size": len(data)} for name, data in sorted(files.items())},
        **provenance,
    }


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: str
    hash: str
    status: str  # "published" or "unchanged"
    uri: str


def _read_manifest(store: Storage, name: str, version: str) -> dict[str, Any] | None:
    relative = layout.prompt_bundle(name, version) + MANIFEST_NAME
    raw = store.read(relative)
    if raw is None:
        return None
    where = store.uri(relative)
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise BundleIntegrityError(f"{where}: manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BundleIntegrityError(f"{where}: manifest must be a JSON object")
    for key, kind in (("name", str), ("version", str), ("hash", str), ("files", dict)):
        if not isinstance(manifest.get(key), kind):
            raise BundleIntegrityError(f"{where}: manifest field {key!r} is missing or not a {kind.__name__}")
    if manifest["name"] != name or manifest["version"] != version:
        raise BundleIntegrityError(
            f"{where}: manifest is for {manifest['name']}@{manifest['version']}, expected {name}@{version}"
        )
    return manifest


def published_versions(name: str, root: str) -> list[str]:
    """Versions of ``name`` that have a manifest at ``root`` (semantic-version order)."""
    store = Storage(root)
    folder = f"prompts/{name}"
    versions = [
        child
        for child in store.child_names(folder)
        if child != "aliases" and store.read(f"{folder}/{child}/{MANIFEST_NAME}") is not None
    ]
    return sorted(versions, key=version_key)


def published_hash(name: str, version: str, root: str) -> str | None:
    """The content hash recorded in the manifest of a published version (not verified), or None."""
    manifest = _read_manifest(Storage(root), name, version)
    return manifest["hash"] if manifest else None


def _load_verified(store: Storage, name: str, version: str) -> tuple[Prompt, dict[str, Any]]:
    manifest = _read_manifest(store, name, version)
    bundle = layout.prompt_bundle(name, version)
    if manifest is None:
        versions = published_versions(name, store.root)
        raise PromptNotFoundError(
            f"prompt {name}@{version} is not published at {store.uri(bundle)} (no {MANIFEST_NAME}); "
            f"published versions of {name}: {', '.join(versions) or 'none'}"
        )
    contents: dict[str, bytes] = {}
    for file_name, entry in sorted(manifest["files"].items()):
        where = store.uri(bundle + file_name)
        data = store.read(bundle + file_name)
        if data is None:
            raise BundleIntegrityError(
                f"bundle {name}@{version}: {where} is listed in the manifest but missing"
            )
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        actual = _sha256(data)
        if actual != expected:
            raise BundleIntegrityError(
                f"bundle {name}@{version}: {where} has sha256 {actual[:12]}, the manifest says "
                f"{str(expected)[:12]} - the bundle was modified after publishing; do not use it"
            )
        contents[file_name] = data
    if PROMPT_FILE_NAME not in contents:
        raise BundleIntegrityError(f"bundle {name}@{version}: manifest does not list {PROMPT_FILE_NAME}")
    source = store.uri(bundle + PROMPT_FILE_NAME)
    try:
        prompt, _ = parse_prompt(
            contents[PROMPT_FILE_NAME], file=source, expect_name=name, expect_version=version
        )
    except PromptValidationError as exc:
        raise BundleIntegrityError(f"bundle {name}@{version} holds an invalid prompt:\n{exc}") from None
    if prompt.hash != manifest["hash"]:
        raise BundleIntegrityError(
            f"bundle {name}@{version}: content hash {prompt.hash[:12]} does not match the manifest "
            f"hash {manifest['hash'][:12]} - the bundle was modified after publishing; do not use it"
        )
    return prompt, manifest


def load_bundle(name: str, version: str, root: str) -> Prompt:
    """Load a published version, verifying every file hash and the content hash against the manifest."""
    prompt, _ = _load_verified(Storage(root), name, version)
    return prompt


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
    existing = _read_manifest(store, prompt.name, prompt.version)
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
    manifest = _dump(build_manifest(prompt, files, provenance))
    written: list[str] = []
    try:
        for file_name, data in files.items():
            store.write(bundle + file_name, data)
            written.append(file_name)
        store.write(bundle + MANIFEST_NAME, manifest, exclusive=True)
    except FileExistsError:
        # Another publisher created the manifest between our check and our write: judge its content.
        existing = _read_manifest(store, prompt.name, prompt.version)
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
    _load_verified(store, prompt.name, prompt.version)  # an identical but tampered bundle must not pass
    return PublishResult(prompt.name, prompt.version, prompt.hash, "unchanged", uri)


@dataclass(frozen=True)
class ResolvedPrompt:
    """What a reference resolved to. ``as_dict`` is the record a DAG run keeps (XCom, run note)."""

    name: str
    version: str
    hash: str
    requested: str
    alias: str | None
    uri: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "ref": self.ref,
            "requested": self.requested,
            "alias": self.alias,
            "uri": self.uri,
        }


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
        prompt, _ = _load_verified(store, name, version)
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
    store.write(relative, _dump(pointer))
    return AliasChange(
        name, alias, version, prompt.hash, previous.get("version") if previous else None, changed=True
    )


def resolve(ref: str, root: str) -> ResolvedPrompt:
    """Resolve ``name@version`` or ``name@alias`` against published bundles, verifying the bundle."""
    prompt, resolved = _resolve(ref, root)
    return resolved


def _resolve(ref: str, root: str) -> tuple[Prompt, ResolvedPrompt]:
    parsed = parse_ref(ref)
    store = Storage(root)
    if parsed.version is not None:
        prompt, _ = _load_verified(store, parsed.name, parsed.version)
        alias = None
    else:
        pointer = get_alias(parsed.name, parsed.alias or "", root)
        try:
            prompt, _ = _load_verified(store, parsed.name, pointer["version"])
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
    return prompt, ResolvedPrompt(prompt.name, prompt.version, prompt.hash, ref, alias, uri)


def load_published(ref: str, root: str) -> Prompt:
    """Resolve ``ref`` at ``root`` and return the verified prompt, ready to render."""
    prompt, _ = _resolve(ref, root)
    return prompt


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
