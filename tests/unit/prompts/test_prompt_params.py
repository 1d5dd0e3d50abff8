"""The Airflow side: the trigger-form Param validates references; the task helper resolves and records."""

from __future__ import annotations

import json

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

pytest.importorskip("airflow.sdk")

from airflow.sdk import Param  # noqa: E402
from airflow.sdk.definitions.param import ParamValidationError  # noqa: E402

from llmops_factory.prompts import PromptError, publish_repo, set_alias  # noqa: E402
from llmops_plugins import prompt_params  # noqa: E402


def test_param_accepts_versions_and_aliases_only():
    param = prompt_params.prompt_param("support_assistant@1.0.0", title="Prompt")
    assert isinstance(param, Param)
    assert param.schema["pattern"].startswith("^support_assistant@")
    assert "support_assistant@production" in param.schema["examples"]
    for good in ("support_assistant@1.0.0", "support_assistant@production", "support_assistant@candidate"):
        assert Param(good, **param.schema).resolve() == good
    for bad in (
        "support_assistant",
        "support_assistant@1.0",
        "other_prompt@1.0.0",
        "support_assistant@Prod",
        "",
    ):
        with pytest.raises(ParamValidationError):
            Param(bad, **param.schema).resolve()


def test_note_line_and_merge():
    record = {
        "name": "support_assistant",
        "version": "1.1.0",
        "ref": "support_assistant@1.1.0",
        "hash": "ab" * 32,
        "requested": "support_assistant@production",
    }
    line = prompt_params.note_line(record)
    assert (
        line
        == "Prompt support_assistant: support_assistant@1.1.0 (requested support_assistant@production), sha256 abababababab"
    )
    merged = prompt_params.merge_note("Backfill for incident 42\nPrompt support_assistant: old", line)
    assert merged == f"Backfill for incident 42\n{line}"
    assert len(prompt_params.merge_note("x" * 2000, line)) == prompt_params.NOTE_MAX_LENGTH


class _Run:
    dag_id = "llmops_data_prep"
    run_id = "manual__2026-01-01T00:00:00+00:00"
    note = "on-call: rerun"


def test_resolve_for_run_returns_record_and_writes_the_note(prompts_dir, storage_root, monkeypatch):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    set_alias("support_assistant", "production", "1.0.0", storage_root)
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "tok"})
        return httpx.Response(200, json={})

    monkeypatch.setattr(prompt_params, "_api_base_url", lambda: "http://airflow.test")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    real_write = prompt_params.write_run_note
    monkeypatch.setattr(
        prompt_params,
        "write_run_note",
        lambda context, line: real_write(
            context, line, client=httpx.Client(transport=httpx.MockTransport(handler))
        ),
    )
    record = prompt_params.resolve_prompt_for_run(
        "support_assistant@production", {"dag_run": _Run()}, root=storage_root
    )
    assert {k: record[k] for k in ("name", "version", "ref")} == {
        "name": "support_assistant",
        "version": "1.0.0",
        "ref": "support_assistant@1.0.0",
    }
    assert len(record["hash"]) == 64
    json.dumps(record)  # XCom-serialisable
    patch = requests[-1]
    assert patch.method == "PATCH"
    assert patch.url.raw_path.decode().startswith(
        "/api/v2/dags/llmops_data_prep/dagRuns/manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    )
    assert patch.headers["authorization"] == "Bearer tok"
    note = json.loads(patch.content)["note"]
    assert note.startswith("on-call: rerun\nPrompt support_assistant: support_assistant@1.0.0 (requested")


def test_note_failure_does_not_fail_the_task(prompts_dir, storage_root, monkeypatch):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    monkeypatch.setattr(prompt_params, "_api_base_url", lambda: "http://airflow.test")
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(403)))
    assert prompt_params.write_run_note({"dag_run": _Run()}, "Prompt x: y", client=client) is False
    record = prompt_params.resolve_prompt_for_run("support_assistant@1.1.0", None, root=storage_root)
    assert record["version"] == "1.1.0"


def test_unknown_alias_fails_the_task_clearly(prompts_dir, storage_root):
    publish_repo(storage_root, prompts_dir=prompts_dir)
    with pytest.raises(
        AirflowFailException, match="alias support_assistant@production does not exist"
    ) as failed:
        prompt_params.resolve_prompt_for_run("support_assistant@production", None, root=storage_root)
    # a reference that does not resolve fails the task at once: a retry would resolve it the same way
    assert isinstance(failed.value.__cause__, PromptError)


def test_local_token_uses_the_simple_auth_manager_password_file(tmp_path, monkeypatch):
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "s3cret"}))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"access_token": "tok2"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    assert prompt_params._api_token(client, "http://airflow.test") == "tok2"
    assert seen[0].method == "POST"
    assert json.loads(seen[0].content) == {"username": "admin", "password": "s3cret"}
