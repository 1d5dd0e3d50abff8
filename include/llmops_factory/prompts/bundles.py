"""Immutable prompt bundles in object storage (``gs://`` on gcp, a ``file://`` root on local), through
``fsspec`` - no Airflow import. Reading side: open a storage root, read and verify a published bundle.

Bundle ``prompts/<name>/<version>/`` (``layout.prompt_bundle``):

* ``prompt.yaml`` - the prompt file as it was in the repository;
* ``manifest.json`` - written last; readers require it, so a bundle without one does not exist.

Publishing lives in :mod:`~llmops_factory.prompts.publish`, alias pointers in
:mod:`~llmops_factory.prompts.aliases`, resolving a reference in :mod:`~llmops_factory.prompts.resolution`.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any

from llmops_factory import layout
from llmops_factory.prompts.errors import (
    BundleIntegrityError,
    PromptError,
    PromptNotFoundError,
    PromptValidationError,
)
from llmops_factory.prompts.loader import parse_prompt
from llmops_factory.prompts.models import HASH_SCHEME, Prompt, version_key

MANIFEST_NAME = "manifest.json"
PROMPT_FILE_NAME = "prompt.yaml"
MANIFEST_VERSION = 1


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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def build_manifest(prompt: Prompt, files: dict[str, bytes], provenance: dict[str, Any]) -> dict[str, Any]:
    """The bundle manifest (everything a reader needs to verify the bundle)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": prompt.name,
        "version": prompt.version,
        "hash": prompt.hash,
        "hash_scheme": HASH_SCHEME,
        "files": {name: {"sha256": sha256(data), "size": len(data)} for name, data in sorted(files.items())},
        **provenance,
    }


def read_manifest(store: Storage, name: str, version: str) -> dict[str, Any] | None:
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
    manifest = read_manifest(Storage(root), name, version)
    return manifest["hash"] if manifest else None


def load_verified(store: Storage, name: str, version: str) -> tuple[Prompt, dict[str, Any]]:
    manifest = read_manifest(store, name, version)
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
        actual = sha256(data)
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
