"""Version discipline: the content hash, the lock file, and check-versions."""

from __future__ import annotations

import json

import pytest

from llmops_factory.prompts import VersionDisciplineError, check_versions, publish_repo, write_lock
from llmops_factory.prompts.loader import parse_prompt

from .helpers import GOOD, write_prompt


def hash_of(text: str) -> str:
    prompt, _ = parse_prompt(text, file="t.yaml")
    return prompt.hash


def test_hash_ignores_comments_key_order_style_and_line_endings():
    base = hash_of(GOOD)
    assert hash_of("# a comment\n" + GOOD) == base
    reordered = GOOD.replace("name: demo\nversion: 1.0.0\n", "version: '1.0.0'\nname: \"demo\"\n")
    assert hash_of(reordered) == base
    assert hash_of(GOOD.replace("\n", "\r\n")) == base
    explicit_default = GOOD.replace(
        "      type: str\n      description: The question.",
        "      type: str\n      required: true\n      description: The question.",
    )
    assert hash_of(explicit_default) == base


def test_hash_changes_with_any_content_change():
    base = hash_of(GOOD)
    assert hash_of(GOOD.replace("temperature: 0.0", "temperature: 0.1")) != base
    assert (
        hash_of(
            GOOD.replace("You answer questions.", "You answer questions!").replace(
                "        You answer questions.\n", "        You answer questions!\n"
            )
        )
        != base
    )
    assert hash_of(GOOD.replace("description: A small prompt", "description: A tiny prompt")) != base


def test_repository_lock_is_current():
    hashes = check_versions()
    assert set(hashes["support_assistant"]) == {"1.0.0", "1.1.0"}


def test_content_change_without_version_bump_fails(prompts_dir):
    path = prompts_dir / "support_assistant" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("temperature: 0.2", "temperature: 0.3"))
    with pytest.raises(VersionDisciplineError) as caught:
        check_versions(prompts_dir)
    [problem] = caught.value.problems
    assert "support_assistant@1.0.0" in problem and "without a version bump" in problem
    assert "support_assistant/1.0.1.yaml" in problem
    with pytest.raises(VersionDisciplineError, match="bump the version instead"):
        write_lock(prompts_dir)  # the lock is never re-hashed to hide the change


def test_comment_only_change_needs_no_bump(prompts_dir):
    path = prompts_dir / "support_assistant" / "1.0.0.yaml"
    path.write_text("# reviewed again\n" + path.read_text())
    check_versions(prompts_dir)


def test_new_version_must_be_locked_then_passes(prompts_dir):
    source = (prompts_dir / "support_assistant" / "1.1.0.yaml").read_text()
    write_prompt(
        prompts_dir,
        source.replace("version: 1.1.0", "version: 1.2.0").replace("top_p: 0.9", "top_p: 0.8"),
        name="support_assistant",
        version="1.2.0",
    )
    with pytest.raises(
        VersionDisciplineError, match="support_assistant@1.2.0 .* is not in prompts.lock.json"
    ):
        check_versions(prompts_dir)
    change = write_lock(prompts_dir)
    assert change.added == ["support_assistant@1.2.0"] and change.removed == []
    check_versions(prompts_dir)
    lock = json.loads((prompts_dir / "prompts.lock.json").read_text())
    assert set(lock["prompts"]["support_assistant"]) == {"1.0.0", "1.1.0", "1.2.0"}


def test_removed_version_is_flagged(prompts_dir):
    (prompts_dir / "support_assistant" / "1.1.0.yaml").unlink()
    with pytest.raises(VersionDisciplineError, match="support_assistant@1.1.0 is in prompts.lock.json but"):
        check_versions(prompts_dir)


def test_check_against_published_versions(prompts_dir, storage_root, tmp_path):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    check_versions(prompts_dir, root=storage_root)
    # Someone edits a published version and re-writes the lock by hand: the published bundle still wins.
    path = prompts_dir / "support_instruction" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("temperature: 0.0", "temperature: 0.5"))
    lock_file = prompts_dir / "prompts.lock.json"
    lock = json.loads(lock_file.read_text())
    lock["prompts"]["support_instruction"]["1.0.0"] = parse_prompt(path.read_text(), file="x")[0].hash
    lock_file.write_text(json.dumps(lock))
    check_versions(prompts_dir)  # the lock alone is satisfied ...
    with pytest.raises(
        VersionDisciplineError, match="support_instruction@1.0.0 is published at .* different content"
    ):
        check_versions(prompts_dir, root=storage_root)
