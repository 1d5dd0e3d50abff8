"""The command line CI and operators run: exit status and messages."""

from __future__ import annotations

import json

from click.testing import CliRunner

from llmops_factory.prompts.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_ok_and_failing(prompts_dir):
    result = run("validate", "--prompts-dir", str(prompts_dir))
    assert result.exit_code == 0, result.output
    assert "4 ok, 0 failed" in result.output
    path = prompts_dir / "support_assistant" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("  temperature: 0.2", "  temperature: hot"))
    result = run("validate", "--prompts-dir", str(prompts_dir), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    [failed] = [p for p in report["prompts"] if not p["ok"]]
    assert failed["issues"][0].startswith("prompts/support_assistant/1.0.0.yaml:")
    assert "generation.temperature" in failed["issues"][0]


def test_check_versions_and_lock(prompts_dir):
    assert run("check-versions", "--prompts-dir", str(prompts_dir)).exit_code == 0
    path = prompts_dir / "support_instruction" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("max_new_tokens: 64", "max_new_tokens: 65"))
    result = CliRunner().invoke(main, ["check-versions", "--prompts-dir", str(prompts_dir)])
    assert result.exit_code == 1
    assert "support_instruction@1.0.0" in result.output and "without a version bump" in result.output
    assert CliRunner().invoke(main, ["lock", "--prompts-dir", str(prompts_dir)]).exit_code == 1


def test_publish_resolve_alias_render(prompts_dir, storage_root):
    result = run("publish", "--root", storage_root, "--prompts-dir", str(prompts_dir))
    assert result.exit_code == 0 and result.output.count("published ") == 4
    assert (
        run("publish", "--root", storage_root, "--prompts-dir", str(prompts_dir)).output.count("unchanged")
        == 4
    )
    result = run(
        "alias", "set", "support_assistant", "candidate", "1.1.0", "--root", storage_root, "--set-by", "ci"
    )
    assert (
        result.exit_code == 0 and "moved: support_assistant@candidate -> 1.1.0 (was unset)" in result.output
    )
    resolved = json.loads(run("resolve", "support_assistant@candidate", "--root", storage_root).output)
    assert resolved["ref"] == "support_assistant@1.1.0" and len(resolved["hash"]) == 64
    text = run(
        "render", "support_assistant@candidate", "--root", storage_root, "--var", "instruction=Hello"
    ).output
    assert text.endswith("### Instruction:\nHello\n\n### Response:\n")
    listing = json.loads(run("list", "support_assistant", "--root", storage_root).output)
    assert listing["versions"] == ["1.0.0", "1.1.0"] and listing["aliases"] == {"candidate": "1.1.0"}


def test_errors_are_one_line_with_exit_status_1(storage_root):
    result = CliRunner().invoke(main, ["resolve", "support_assistant@production", "--root", storage_root])
    assert result.exit_code == 1
    assert result.output.startswith("error: alias support_assistant@production does not exist")
