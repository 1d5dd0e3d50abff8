"""Start Airflow (``airflow standalone``: api-server + scheduler + dag-processor + triggerer) on the
local target with every DAG of the repository, then print the URL and the login. Ctrl-C stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def main() -> int:
    home = Path(os.environ["AIRFLOW_HOME"])
    port = os.environ.get("AIRFLOW__API__PORT", "8080")
    url = f"http://localhost:{port}"
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    # standalone starts its components as `airflow <command>` from PATH: put this venv's bin first
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    proc = subprocess.Popen([airflow, "standalone"], start_new_session=True, env=env)
    passwords = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 300
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as resp:
                ready = resp.status == 200
        except OSError:
            ready = False
        if ready and passwords.exists():
            break
        time.sleep(2)
    if proc.poll() is not None:
        print(f"airflow standalone exited with {proc.returncode}", file=sys.stderr)
        return proc.returncode or 1
    login = json.loads(passwords.read_text()) if passwords.exists() else {}
    print("\n" + "=" * 72)
    print(f"Airflow UI: {url}   (target: {os.environ.get('LLMOPS_TARGET', 'local')})")
    for user, password in login.items():
        print(f"login: {user} / {password}")
    print(f"DAGs folder: {os.environ.get('AIRFLOW__CORE__DAGS_FOLDER')}   — Ctrl-C to stop")
    print("=" * 72 + "\n", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return 130


if __name__ == "__main__":
    sys.exit(main())
