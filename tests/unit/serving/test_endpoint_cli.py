"""``python -m llmops_factory.endpoint stop`` against processes that end the way uvicorn ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from unittest import mock

import pytest
from click.testing import CliRunner

from llmops_factory.endpoint.__main__ import cli
from llmops_factory.endpoint.client import endpoint_dir

# Like uvicorn: catch SIGTERM, shut down, then re-raise it with the default handler, so the process
# dies of the signal and its ``finally`` (which removes the pid file) never runs.
RERAISES = textwrap.dedent(
    """
    import signal, sys, time
    caught = []
    signal.signal(signal.SIGTERM, lambda *a: caught.append(1))
    open(sys.argv[1], "w").write("ready")
    while not caught:
        time.sleep(0.05)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)
    """
)
IGNORES = "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen(sys.argv[1], 'w').write('ready')\ntime.sleep(60)\n"


def _start(tmp_path, code: str) -> tuple[subprocess.Popen, object]:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", code, str(ready)])
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    directory = endpoint_dir(tmp_path, "support-assistant")
    directory.mkdir(parents=True, exist_ok=True)
    pid_file = directory / "endpoint.pid"
    pid_file.write_text(str(proc.pid))
    return proc, pid_file


@pytest.fixture
def home(tmp_path):
    # settings are re-read when an LLMOPS_* variable changes
    with mock.patch.dict("os.environ", {"LLMOPS_TARGET": "local", "LLMOPS_LOCAL__HOME": str(tmp_path)}):
        yield tmp_path


def _stop(home, code: str, timeout: str):
    """``stop`` against a process running ``code``; returns the CLI result, the process and its pid file."""
    proc, pid_file = _start(home, code)
    try:
        result = CliRunner().invoke(cli, ["stop", "--timeout", timeout])
    finally:
        proc.kill()
        proc.wait()
    return result, proc, pid_file


def test_stop_counts_a_process_that_died_of_the_signal_as_stopped(home):
    result, proc, pid_file = _stop(home, RERAISES, "20")
    assert result.exit_code == 0, result.output
    assert f"stopped (process {proc.pid})" in result.output
    assert not pid_file.exists(), "the stale pid file is removed"


def test_stop_reports_a_process_that_does_not_stop(home):
    result, proc, pid_file = _stop(home, IGNORES, "1")
    assert result.exit_code != 0
    assert f"process {proc.pid}) did not stop within 1 s" in result.output
    assert pid_file.exists()


def test_stop_without_a_pid_file_says_not_running(home):
    result = CliRunner().invoke(cli, ["stop"])
    assert result.exit_code == 0
    assert "is not running" in result.output
