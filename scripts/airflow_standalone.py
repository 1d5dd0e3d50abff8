"""Start Airflow (``airflow standalone``: api-server + scheduler + dag-processor + triggerer) on the
local target with every DAG of the repository, then print the URL and the login.

Before Airflow starts, the prompt bundles are published to the local storage root (idempotent: an
unchanged version is a no-op), so the first DAG run finds the prompt its form names.

The API port is ``AIRFLOW__API__PORT`` (default 8080). The API's base URL and the execution API URL
that task processes call back to are derived from it unless set explicitly
(``AIRFLOW__API__BASE_URL``, ``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``), so any free port works.

Ctrl-C (or SIGTERM / SIGHUP, e.g. a closed terminal) stops Airflow: the whole process group it runs
in gets SIGTERM, then SIGKILL after a grace period, whether Airflow is still starting or already up.

``--demo`` (``make airflow-demo``) runs Airflow with the settings of the demo's story
(``scripts/demo.py``'s ``Mode.server_env``: demo-size monitoring policy, 50% canary, simulated
reviewer; ``--fast`` or ``LLMOPS_DEMO_FAST=1`` for the small mode) and records them in
``$AIRFLOW_HOME/demo-server.json`` while it runs, so ``scripts/demo_rest.py`` finds the server and
drives the same story through the REST API.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

STOP_GRACE_S = 30.0
STARTUP_TIMEOUT_S = 300.0


def venv_bin() -> Path:
    return Path(sys.executable).parent


def airflow_env(environ: Mapping[str, str], port: int | str | None = None) -> dict[str, str]:
    """``environ`` with the API port, base URL and execution API URL set consistently.

    ``port`` (default ``AIRFLOW__API__PORT``, else 8080) wins over the environment's port; the URLs
    are kept when set explicitly for the same port, and derived from the port otherwise.
    """
    env = dict(environ)
    port = str(port or env.get("AIRFLOW__API__PORT") or 8080)
    explicit_port = env.get("AIRFLOW__API__PORT")
    env["AIRFLOW__API__PORT"] = port
    base = env.get("AIRFLOW__API__BASE_URL", "").rstrip("/")
    if not base or (explicit_port and explicit_port != port):
        base = f"http://localhost:{port}"
    env["AIRFLOW__API__BASE_URL"] = base
    execution = env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "")
    if not execution or (explicit_port and explicit_port != port):
        execution = f"{base}/execution/"
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = execution
    # The SQLite metadata DB is written by the scheduler and the API server at once: wait for its lock
    # (30 s) instead of failing an API request after sqlite's default 5 s.
    if "AIRFLOW_HOME" in env and not env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
            f"sqlite:///{Path(env['AIRFLOW_HOME']) / 'airflow.db'}?timeout=30"
        )
    # standalone starts its components as `airflow <command>` from PATH: put this venv's bin first
    env["PATH"] = os.pathsep.join([str(venv_bin()), env.get("PATH", "")])
    return env


def airflow_command() -> str:
    return shutil.which("airflow", path=str(venv_bin())) or "airflow"


def publish_prompts(env: Mapping[str, str]) -> str:
    """Publish every prompt version to the target's storage root (idempotent); returns the CLI output."""
    proc = subprocess.run(
        [sys.executable, "-m", "llmops_factory.prompts", "publish"],
        env=dict(env),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"publishing the prompts failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return proc.stdout


def api_healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> int | None:
    """SIGTERM to ``proc``'s process group, SIGKILL to what is left after ``grace_s``; waits for it."""
    pgid = proc.pid
    if not _group_alive(pgid):
        return proc.poll()
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, so a zombie does not keep the group "alive"
        if not _group_alive(pgid):
            break
        time.sleep(0.2)
    else:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return None


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


DEMO_SERVER_FILE = "demo-server.json"


def demo_server_env(fast: bool) -> dict[str, str]:
    """The story's server settings, defined once in ``scripts/demo.py`` (``Mode.server_env``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from demo import Mode

    return Mode(fast).server_env()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="run with the settings of the demo's story")
    parser.add_argument("--fast", action="store_true", help="with --demo: the story's small mode")
    args = parser.parse_args(argv)
    env = airflow_env(os.environ)
    home = Path(env["AIRFLOW_HOME"])
    base_url = env["AIRFLOW__API__BASE_URL"]
    demo_file = home / DEMO_SERVER_FILE
    if args.demo:
        fast = args.fast or env.get("LLMOPS_DEMO_FAST") == "1"
        story_env = demo_server_env(fast)
        env.update(story_env)
        print("demo settings: " + ", ".join(f"{k}={v}" for k, v in story_env.items()), flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    started = time.monotonic()
    print(publish_prompts(env).rstrip(), flush=True)
    proc = subprocess.Popen(
        [airflow_command(), "standalone"], start_new_session=True, env=env, stdin=subprocess.DEVNULL
    )
    print(f"airflow standalone started (process group {proc.pid})", flush=True)
    passwords = home / "simple_auth_manager_passwords.json.generated"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            ready = api_healthy(base_url) and passwords.exists()
            if ready:
                break
            time.sleep(1)
        if proc.poll() is not None:
            print(f"airflow standalone exited with {proc.returncode}", file=sys.stderr)
            return proc.returncode or 1
        if not ready:
            print(f"the API at {base_url} was not healthy within {STARTUP_TIMEOUT_S:.0f} s", file=sys.stderr)
            return 1
        login = json.loads(passwords.read_text())
        print("\n" + "=" * 72)
        print(
            f"Airflow UI: {base_url}   (target: {env.get('LLMOPS_TARGET', 'local')}; "
            f"API healthy {time.monotonic() - started:.1f} s after start)"
        )
        for user, password in login.items():
            print(f"login: {user} / {password}")
        if args.demo:
            record = {
                "base_url": base_url,
                "fast": fast,
                "story_env": story_env,
                # the client's CLIs (traffic, raw data) must reach the same endpoint and platform home
                "llmops_env": {k: v for k, v in env.items() if k.startswith("LLMOPS_")},
                "pid": os.getpid(),
            }
            demo_file.write_text(json.dumps(record, indent=2))
            print(f"demo settings recorded in {demo_file}: `make demo-rest` drives the story through the API")
        print(f"DAGs folder: {env.get('AIRFLOW__CORE__DAGS_FOLDER')}   — Ctrl-C to stop")
        print("=" * 72 + "\n", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        print("stopping Airflow …", file=sys.stderr, flush=True)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        if args.demo:
            demo_file.unlink(missing_ok=True)
        stop_process_group(proc)


if __name__ == "__main__":
    sys.exit(main())
