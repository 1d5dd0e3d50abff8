"""The trainer renders from the published bundle the run pinned, not from the repository copy."""

from __future__ import annotations

import shutil

from llmops_factory.prompts import load_prompt, publish_repo, render
from llmops_trainer import data

from .conftest import REPO

REF = "support_assistant@1.0.0"
EDIT = "REPOSITORY-ONLY EDIT AFTER PUBLISHING"


def _published_then_edited(tmp_path, monkeypatch):
    prompts = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", prompts)
    root = (tmp_path / "storage").as_uri()
    publish_repo(root, prompts_dir=prompts)
    source = prompts / "support_assistant" / "1.0.0.yaml"
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace("system: |\n", f"system: |\n    {EDIT}\n", 1), encoding="utf-8")
    monkeypatch.setenv("LLMOPS_PROMPTS_DIR", str(prompts))
    return root


def _examples(snapshot):
    split = data.read_split(str(snapshot / "train"))
    return split.examples[:3]


def test_trainer_uses_the_bundle_after_the_repo_copy_changed(tmp_path, monkeypatch, snapshot):
    root = _published_then_edited(tmp_path, monkeypatch)
    examples = _examples(snapshot)

    bundle_prompt, bundle_texts = data.render_prompts(examples, REF, prompt_root=root)
    repo_prompt, repo_texts = data.render_prompts(examples, REF, prompt_root=None)

    assert all(EDIT in t for t in repo_texts), "the edit must be live in the repository copy"
    assert not any(EDIT in t for t in bundle_texts), (
        "the trainer rendered the repository copy, not the bundle"
    )
    assert bundle_prompt.hash != repo_prompt.hash
    # byte-identical to what any other stage renders from the same bundle
    published = load_prompt(REF, root=root)
    expected = [render(published, {"instruction": e.instruction, "input": e.input}).text for e in examples]
    assert bundle_texts == expected


def test_a_prompt_hash_other_than_the_pinned_one_refuses_to_train(tmp_path, monkeypatch, snapshot, tiny_base):
    from .test_train import _args, _run

    root = _published_then_edited(tmp_path, monkeypatch)
    pinned = load_prompt(REF, root=root).hash
    wrong = "f" * 64
    result = _run(
        _args(
            snapshot,
            tiny_base,
            "--prompt_root",
            root,
            "--prompt_sha256",
            wrong,
            "--max_steps",
            "1",
            "--output_dir",
            str(tmp_path / "out"),
        )
    )
    assert result.returncode != 0
    assert "refusing to train on another text" in result.stderr + result.stdout
    assert pinned[:12] in result.stderr + result.stdout
