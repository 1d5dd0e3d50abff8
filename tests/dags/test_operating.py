"""Operating the DAGs locally: `make airflow` / `make mlflow`, the API port, the standalone launcher."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import types

import pytest

from tests.dags.helpers import REPO

sys.path.insert(0, str(REPO / "scripts"))

import airflow_standalone  # noqa: E402


def _make(*args: str, **env: str) -> str:
    """``make`` with the repository's Makefile, printing variables (``print-VAR``) or dry-running."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "MAKE", "MFLAGS"))}
    clean.update(env)
    proc = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(REPO), "--eval", "print-%: ; @echo $($*)", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_makefile_derives_every_api_url_from_the_port():
    out = _make(
        "print-AIRFLOW__API__BASE_URL",
        "print-AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        AIRFLOW__API__PORT="8093",
    ).split()
    assert out == ["http://localhost:8093", "http://localhost:8093/execution/"]


def test_makefile_keeps_an_explicit_base_url():
    out = _make(
        "print-AIRFLOW__CORE__EXECUTION_API_SERVER_URL", AIRFLOW__API__BASE_URL="http://airflow.internal:9000"
    ).split()
    assert out == ["http://airflow.internal:9000/execution/"]


def test_make_airflow_publishes_the_prompts_first():
    out = _make("-n", "prompts", "airflow")
    publish = out.find("llmops_factory.prompts publish")
    start = out.find("scripts/airflow_standalone.py")
    assert publish != -1 and start != -1 and publish < start, out


def test_make_mlflow_opens_the_ui_on_the_local_store():
    out = _make("-n", "mlflow", LLMOPS_LOCAL__HOME="/tmp/llmops-home")
    assert re.search(r"mlflow ui --backend-store-uri \"sqlite:////tmp/llmops-home/mlflow/mlflow.db\"", out), (
        out
    )


def test_standalone_env_follows_any_port():
    env = airflow_standalone.airflow_env({"AIRFLOW__API__PORT": "8093", "PATH": "/usr/bin"})
    assert env["AIRFLOW__API__BASE_URL"] == "http://localhost:8093"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8093/execution/"
    assert env["PATH"].split(os.pathsep)[0] == str(airflow_standalone.venv_bin())
    # a port given by the caller wins over a stale URL of another port
    env = airflow_standalone.airflow_env(
        {"AIRFLOW__API__PORT": "8080", "AIRFLOW__API__BASE_URL": "http://localhost:8080"}, port=9011
    )
    assert env["AIRFLOW__API__BASE_URL"] == "http://localhost:9011"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:9011/execution/"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"AIRFLOW__API__PORT": "8093"}, "http://localhost:8093"),
        (
            {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:8111/execution/"},
            "http://127.0.0.1:8111",
        ),
        (
            {"AIRFLOW__API__BASE_URL": "http://airflow.internal:9000/", "AIRFLOW__API__PORT": "8093"},
            "http://airflow.internal:9000",
        ),
    ],
)
def test_run_note_client_uses_the_configured_api(monkeypatch, settings, expected):
    from llmops_plugins import prompt_params

    for key in ("AIRFLOW__API__BASE_URL", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__API__PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    assert prompt_params._api_base_url() == expected


def test_interrupting_make_airflow_stops_airflow(tmp_path):
    """SIGINT while Airflow is still starting (the slowest moment to be interrupted) stops its whole
    process group; before, Airflow kept running in its own session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "LLMOPS_LOCAL__HOME": str(tmp_path),
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__API__PORT": "1",  # never healthy: the launcher stays in its start-up wait
        }
    )
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "airflow_standalone.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pgid = None
    try:
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"process group (\d+)", line)
            if match:
                pgid = int(match.group(1))
                break
        assert pgid, "".join(lines)
        time.sleep(3)  # standalone has started its components
        os.killpg(pgid, 0)  # Airflow is running
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 10
        alive = True
        while alive and time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
                time.sleep(0.2)
            except ProcessLookupError:
                alive = False
        assert not alive, f"Airflow (process group {pgid}) still runs after the launcher was interrupted"
    finally:
        if proc.poll() is None:
            proc.kill()
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_run_note_is_retried_when_the_api_is_busy(monkeypatch):
    import httpx

    from llmops_plugins import prompt_params

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ReadTimeout("API busy", request=request)
        return httpx.Response(500 if len(calls) == 2 else 200, json={})

    monkeypatch.setattr(prompt_params, "_api_token", lambda client, base_url: "token")
    monkeypatch.setattr(prompt_params.time, "sleep", lambda s: None)
    run = types.SimpleNamespace(dag_id="d", run_id="r", note=None)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert prompt_params.write_run_note({"dag_run": run}, "Prompt x: x@1.0.0", client=client) is True
    assert calls == ["PATCH", "PATCH", "PATCH"]


@pytest.mark.parametrize("fast", [False, True])
def test_make_airflow_demo_runs_with_the_story_settings_and_they_are_valid(monkeypatch, fast):
    """`make airflow-demo` exports the demo's one definition of the story's server settings; each is a
    setting the platform accepts (a canary share over the setting's maximum would fail every deploy)."""
    import demo

    from llmops_factory.settings import Settings

    env = airflow_standalone.demo_server_env(fast)
    assert env == demo.Mode(fast).server_env()
    assert env["LLMOPS_DEPLOY__CANARY_PERCENT"] == "50"
    assert env["LLMOPS_EVALUATION__REVIEW__MODE"] == "simulated"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.deploy.canary_percent == 50
    assert settings.evaluation.review.mode == "simulated"
    assert settings.monitoring.min_samples == int(
        demo.Mode(fast).monitoring_env["LLMOPS_MONITORING__MIN_SAMPLES"]
    )
    out = _make("-n", "airflow-demo")
    assert "scripts/airflow_standalone.py --demo" in out
