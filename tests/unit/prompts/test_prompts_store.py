"""Bundles and aliases in a local storage root: immutable publish, verification, aliases, atomicity."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from llmops_factory.prompts import (
    AliasError,
    BundleIntegrityError,
    PromptError,
    PromptNotFoundError,
    PublishConflictError,
    bundles,
    get_alias,
    load_prompt,
    publish,
    publish_prompt,
    publish_repo,
    published_versions,
    resolve,
    set_alias,
)
from llmops_factory.prompts.loader import load_file, parse_prompt

from .helpers import GOOD, write_prompt


def bundle_dir(root: str, name: str, version: str) -> Path:
    return Path(root.removeprefix("file://")) / "prompts" / name / version


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()) if path.exists() else []


def test_publish_writes_bundle_with_manifest(prompts_dir, storage_root):
    results = publish_repo(storage_root, prompts_dir=prompts_dir)
    assert [(r.name, r.version, r.status) for r in results] == [
        ("general_assistant", "1.0.0", "published"),
        ("support_assistant", "1.0.0", "published"),
        ("support_assistant", "1.1.0", "published"),
        ("support_instruction", "1.0.0", "published"),
    ]
    folder = bundle_dir(storage_root, "support_assistant", "1.0.0")
    assert files_under(folder) == ["manifest.json", "prompt.yaml"]
    manifest = json.loads((folder / "manifest.json").read_text())
    source = prompts_dir / "support_assistant" / "1.0.0.yaml"
    assert (folder / "prompt.yaml").read_bytes() == source.read_bytes()
    assert manifest["name"] == "support_assistant" and manifest["version"] == "1.0.0"
    assert manifest["hash"] == load_file(source)[0].hash
    assert set(manifest["files"]) == {"prompt.yaml"}
    assert {"created_at", "created_at_source", "source_commit", "source_path"} <= set(manifest)
    assert published_versions("support_assistant", storage_root) == ["1.0.0", "1.1.0"]


def test_identical_republish_is_a_no_op(prompts_dir, storage_root):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    manifest = bundle_dir(storage_root, "support_assistant", "1.0.0") / "manifest.json"
    before = manifest.read_bytes(), manifest.stat().st_mtime_ns
    results = publish_repo(storage_root, prompts_dir=prompts_dir)
    assert {r.status for r in results} == {"unchanged"}
    assert (manifest.read_bytes(), manifest.stat().st_mtime_ns) == before


def test_republish_with_different_content_is_refused(tmp_path, storage_root):
    first = write_prompt(tmp_path, GOOD)
    prompt, _ = load_file(first)
    publish_prompt(prompt, first.read_bytes(), storage_root, source_path=first)
    changed = GOOD.replace("temperature: 0.0", "temperature: 0.7")
    other, _ = parse_prompt(changed, file="demo/1.0.0.yaml")
    with pytest.raises(
        PublishConflictError, match=r"prompt demo@1\.0\.0 is already published .* bump the version"
    ):
        publish_prompt(other, changed.encode(), storage_root)
    assert load_prompt("demo@1.0.0", root=storage_root).hash == prompt.hash  # untouched


def test_failed_publish_leaves_nothing_behind(tmp_path, storage_root, monkeypatch):
    path = write_prompt(tmp_path, GOOD)
    prompt, _ = load_file(path)
    original = bundles.Storage.write

    def failing_write(self, relative, data, *, exclusive=False):
        if relative.endswith("manifest.json"):
            raise OSError("disk full")
        return original(self, relative, data, exclusive=exclusive)

    monkeypatch.setattr(bundles.Storage, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        publish_prompt(prompt, path.read_bytes(), storage_root, source_path=path)
    assert files_under(bundle_dir(storage_root, "demo", "1.0.0")) == []
    monkeypatch.undo()
    assert publish_prompt(prompt, path.read_bytes(), storage_root).status == "published"


def test_files_without_manifest_are_not_a_bundle(tmp_path, storage_root):
    folder = bundle_dir(storage_root, "demo", "1.0.0")
    folder.mkdir(parents=True)
    (folder / "prompt.yaml").write_text(GOOD)  # e.g. left by a killed publisher
    with pytest.raises(
        PromptNotFoundError, match=r"demo@1\.0\.0 is not published .*published versions of demo: none"
    ):
        load_prompt("demo@1.0.0", root=storage_root)
    path = write_prompt(tmp_path, GOOD)
    prompt, _ = load_file(path)
    assert publish_prompt(prompt, path.read_bytes(), storage_root).status == "published"
    assert load_prompt("demo@1.0.0", root=storage_root).hash == prompt.hash


def test_publish_refuses_an_invalid_repository(prompts_dir, storage_root):
    path = prompts_dir / "support_assistant" / "1.1.0.yaml"
    path.write_text(path.read_text().replace("{{ instruction }}", "{{ instruction }", 1))
    with pytest.raises(PromptError, match="template syntax error"):
        publish_repo(storage_root, prompts_dir=prompts_dir)
    assert not (Path(storage_root.removeprefix("file://")) / "prompts").exists()


def test_tampered_bundle_file_is_detected(prompts_dir, storage_root):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    target = bundle_dir(storage_root, "support_assistant", "1.0.0") / "prompt.yaml"
    target.write_text(target.read_text().replace("temperature: 0.2", "temperature: 1.5"))
    with pytest.raises(BundleIntegrityError, match=r"prompt\.yaml has sha256 .* modified after publishing"):
        load_prompt("support_assistant@1.0.0", root=storage_root)
    with pytest.raises(BundleIntegrityError):
        publish_repo(storage_root, prompts_dir=prompts_dir)  # an identical republish must not bless it


def test_tampered_manifest_hash_is_detected(prompts_dir, storage_root):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    manifest_path = bundle_dir(storage_root, "support_assistant", "1.1.0") / "manifest.json"
    folder = manifest_path.parent
    # Change the prompt and fix up the file hash, but not the content hash: still caught.
    prompt_file = folder / "prompt.yaml"
    prompt_file.write_text(prompt_file.read_text().replace("top_p: 0.9", "top_p: 0.5"))
    manifest = json.loads(manifest_path.read_text())
    import hashlib

    manifest["files"]["prompt.yaml"]["sha256"] = hashlib.sha256(prompt_file.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="content hash .* does not match the manifest hash"):
        resolve("support_assistant@1.1.0", storage_root)


def test_nonexistent_version_and_name(prompts_dir, storage_root):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    with pytest.raises(
        PromptNotFoundError, match=r"published versions of support_assistant: 1\.0\.0, 1\.1\.0"
    ):
        resolve("support_assistant@2.0.0", storage_root)
    with pytest.raises(PromptNotFoundError, match="published versions of nope: none"):
        resolve("nope@1.0.0", storage_root)
    with pytest.raises(PromptError, match="not of the form name@MAJOR.MINOR.PATCH or name@alias"):
        resolve("support_assistant", storage_root)


def test_aliases(prompts_dir, storage_root):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    change = set_alias(
        "support_assistant", "production", "1.0.0", storage_root, set_by="run-1", reason="first"
    )
    assert change.changed and change.previous_version is None
    resolved = resolve("support_assistant@production", storage_root)
    assert (resolved.version, resolved.alias, resolved.ref) == (
        "1.0.0",
        "production",
        "support_assistant@1.0.0",
    )
    assert resolved.to_dict()["requested"] == "support_assistant@production"
    assert set(resolved.to_dict()) >= {"name", "version", "hash", "ref"}
    again = set_alias("support_assistant", "production", "1.0.0", storage_root)
    assert not again.changed
    moved = set_alias("support_assistant", "production", "1.1.0", storage_root, set_by="run-2")
    assert moved.changed and moved.previous_version == "1.0.0"
    assert resolve("support_assistant@production", storage_root).version == "1.1.0"
    assert get_alias("support_assistant", "production", storage_root)["set_by"] == "run-2"


def test_alias_errors(prompts_dir, storage_root):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    with pytest.raises(
        AliasError,
        match=r"alias support_assistant@candidate does not exist.*aliases of support_assistant: none",
    ):
        resolve("support_assistant@candidate", storage_root)
    with pytest.raises(
        AliasError, match=r"cannot point support_assistant@candidate at 3\.0\.0: .*not published"
    ):
        set_alias("support_assistant", "candidate", "3.0.0", storage_root)
    with pytest.raises(AliasError, match="must match"):
        set_alias("support_assistant", "Bad Alias", "1.0.0", storage_root)
    # A pointer edited by hand to a version that was never published.
    set_alias("support_assistant", "candidate", "1.1.0", storage_root)
    pointer = Path(storage_root.removeprefix("file://")) / "prompts/support_assistant/aliases/candidate.json"
    data = json.loads(pointer.read_text())
    data["version"] = "9.0.0"
    pointer.write_text(json.dumps(data))
    with pytest.raises(AliasError, match=r"points at version 9\.0\.0, which is not published"):
        resolve("support_assistant@candidate", storage_root)


def _git(cwd: Path, *args: str, env: dict | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def test_provenance_from_git_commit_time(tmp_path, storage_root):
    import os

    repo = tmp_path / "repo"
    path = write_prompt(repo / "prompts", GOOD)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_COMMITTER_DATE": "2026-01-02T03:04:05+01:00",
        "GIT_AUTHOR_DATE": "2026-01-02T03:04:05+01:00",
    }
    _git(repo, "init", "-q", env=env)
    _git(repo, "add", ".", env=env)
    _git(repo, "commit", "-q", "-m", "prompt", env=env)
    provenance = publish.source_provenance(path)
    assert provenance["created_at"] == "2026-01-02T02:04:05Z"
    assert provenance["created_at_source"] == "git commit time"
    assert len(provenance["source_commit"]) == 40 and provenance["source_dirty"] is False
    assert provenance["source_path"] == "prompts/demo/1.0.0.yaml"


def test_provenance_outside_git_uses_mtime_and_says_so(tmp_path, monkeypatch):
    path = write_prompt(tmp_path / "plain", GOOD)
    os_time = 1_767_225_600  # 2026-01-01T00:00:00Z
    import os

    os.utime(path, (os_time, os_time))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    provenance = publish.source_provenance(path)
    assert provenance["created_at"] == "2026-01-01T00:00:00Z"
    assert provenance["created_at_source"] == "file mtime (not a git checkout)"
    assert provenance["source_commit"] is None
