"""Version discipline: ``prompts/prompts.lock.json`` records the content hash of every prompt version.

* ``check_versions`` (CI on every pull request) fails when a version's content no longer matches its
  locked hash (content changed without a version bump), when a version is missing from the lock, or when
  the lock names a version whose file is gone; with a storage root it also compares against what is
  already published there (published versions are immutable).
* ``write_lock`` adds new versions and drops removed ones, but refuses to re-hash an existing version:
  the only way to change content is a new version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llmops_factory.prompts.errors import PromptError, PromptValidationError, VersionDisciplineError
from llmops_factory.prompts.loader import default_prompts_dir, discover, load_file
from llmops_factory.prompts.models import HASH_SCHEME

LOCK_FILE_NAME = "prompts.lock.json"
_ABOUT = (
    "Content hash (sha256 of the canonical prompt content) of every prompt version. "
    "Written by `python -m llmops_factory.prompts lock`; CI runs `check-versions` against it."
)


def lock_path(prompts_dir: Path | None = None) -> Path:
    return (prompts_dir or default_prompts_dir()) / LOCK_FILE_NAME


def read_lock(path: Path) -> dict[str, dict[str, str]]:
    """Read the lock file: {name: {version: hash}}. A missing file is an empty lock."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromptError(f"{path}: lock file is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise PromptError(f"{path}: lock file field 'prompts' must be a mapping of name -> version -> hash")
    if data.get("hash_scheme") != HASH_SCHEME:
        raise PromptError(
            f"{path}: field 'hash_scheme' is {data.get('hash_scheme')!r}, this code computes {HASH_SCHEME!r}"
        )
    lock: dict[str, dict[str, str]] = {}
    for name, versions in data["prompts"].items():
        if not isinstance(versions, dict) or not all(
            isinstance(v, str) and isinstance(h, str) and len(h) == 64 for v, h in versions.items()
        ):
            raise PromptError(f"{path}: field 'prompts.{name}' must map versions to sha256 hex hashes")
        lock[name] = dict(versions)
    return lock


def repo_hashes(prompts_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """Content hash of every prompt file in the repository; fails on any file that does not load."""
    root = prompts_dir or default_prompts_dir()
    files, misplaced = discover(root)
    issues = list(misplaced)
    hashes: dict[str, dict[str, str]] = {}
    for path in files:
        try:
            prompt, _ = load_file(path, prompts_dir=root)
        except PromptValidationError as exc:
            issues.extend(exc.issues)
            continue
        hashes.setdefault(prompt.name, {})[prompt.version] = prompt.hash
    if issues:
        raise PromptValidationError(issues)
    return hashes


def _next_patch(version: str, taken: set[str]) -> str:
    major, minor, patch = (int(x) for x in version.split("."))
    candidate = f"{major}.{minor}.{patch + 1}"
    while candidate in taken:
        patch += 1
        candidate = f"{major}.{minor}.{patch + 1}"
    return candidate


def check_versions(
    prompts_dir: Path | None = None,
    lock_file: Path | None = None,
    root: str | None = None,
) -> dict[str, dict[str, str]]:
    """Check version discipline; return the repository hashes, or raise ``VersionDisciplineError``."""
    root_dir = prompts_dir or default_prompts_dir()
    lock_file = lock_file or lock_path(root_dir)
    current = repo_hashes(root_dir)
    locked = read_lock(lock_file)
    problems: list[str] = []
    for name, versions in sorted(current.items()):
        for version, digest in sorted(versions.items()):
            known = locked.get(name, {}).get(version)
            if known is None:
                problems.append(
                    f"{name}@{version} ({name}/{version}.yaml) is not in {lock_file.name}: run "
                    "`python -m llmops_factory.prompts lock` and commit the lock file"
                )
            elif known != digest:
                problems.append(
                    f"{name}@{version} ({name}/{version}.yaml): content changed (locked {known[:12]}, now "
                    f"{digest[:12]}) without a version bump; restore {version} and put the change in a new "
                    f"version, e.g. {name}/{_next_patch(version, set(versions))}.yaml"
                )
    for name, versions in sorted(locked.items()):
        for version in sorted(versions):
            if version not in current.get(name, {}):
                problems.append(
                    f"{name}@{version} is in {lock_file.name} but {name}/{version}.yaml is gone: restore it, "
                    "or run `python -m llmops_factory.prompts lock` if it was never published"
                )
    if root is not None:
        from llmops_factory.prompts.bundles import published_hash

        for name, versions in sorted(current.items()):
            for version, digest in sorted(versions.items()):
                published = published_hash(name, version, root)
                if published is not None and published != digest:
                    problems.append(
                        f"{name}@{version} is published at {root} with different content "
                        f"({published[:12]} != {digest[:12]}); published versions are immutable: bump the version"
                    )
    if problems:
        raise VersionDisciplineError(problems)
    return current


@dataclass(frozen=True)
class LockChange:
    added: list[str]
    removed: list[str]
    path: Path


def write_lock(prompts_dir: Path | None = None, lock_file: Path | None = None) -> LockChange:
    """Rewrite the lock from the repository; refuse when a locked version's content changed."""
    root_dir = prompts_dir or default_prompts_dir()
    lock_file = lock_file or lock_path(root_dir)
    current = repo_hashes(root_dir)
    locked = read_lock(lock_file)
    changed = [
        f"{name}@{version}: locked {locked[name][version][:12]}, now {digest[:12]}"
        for name, versions in sorted(current.items())
        for version, digest in sorted(versions.items())
        if version in locked.get(name, {}) and locked[name][version] != digest
    ]
    if changed:
        raise VersionDisciplineError(
            [f"{c} - content of an existing version changed; bump the version instead" for c in changed]
        )
    added = [
        f"{n}@{v}" for n, vs in sorted(current.items()) for v in sorted(vs) if v not in locked.get(n, {})
    ]
    removed = [
        f"{n}@{v}" for n, vs in sorted(locked.items()) for v in sorted(vs) if v not in current.get(n, {})
    ]
    document = {
        "about": _ABOUT,
        "hash_scheme": HASH_SCHEME,
        "prompts": {name: dict(sorted(versions.items())) for name, versions in sorted(current.items())},
    }
    lock_file.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return LockChange(added=added, removed=removed, path=lock_file)
