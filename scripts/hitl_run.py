"""Run a DAG with ``airflow dags test`` and answer its human-in-the-loop approval through the REST API.

``airflow dags test`` waits for a human-in-the-loop task's answer forever, so a run with one (the
evaluation DAG's ``sign_off``) is never left alone: this starts an api-server on the same Airflow home
(free port), runs the DAG in the background, waits for the pending approval, answers it with
``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/-1/hitlDetails`` and waits for the run to
end. Every child runs under ``timeout -s KILL`` in its own process group and is stopped on exit.

    .venv/bin/python scripts/hitl_run.py llmops_evaluate 2026-01-04 --answer Approve [--conf '{...}']

Used by the demo and the end-to-end test of the evaluation DAG.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _token(client, base: str, airflow_home: Path) -> str:
    generated = airflow_home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 60
    while not generated.exists() and time.monotonic() < deadline:
        time.sleep(1)
    username, password = next(iter(json.loads(generated.read_text()).items()))
    response = client.post(f"{base}/auth/token", json={"username": username, "password": password})
    response.raise_for_status()
    return response.json()["access_token"]


def run_with_answer(
    dag_id: str,
    logical_date: str,
    *,
    conf: dict | None = None,
    answer: str = "Approve",
    task_id: str = "sign_off",
    timeout: int = 3600,
    env: dict | None = None,
    log_path: Path | None = None,
) -> tuple[int, str, dict]:
    """``(exit code, dags-test output, what happened)``; ``answer`` = Approve or Reject."""
    import httpx

    env = dict(env or os.environ)
    airflow = str(Path(sys.executable).parent / "airflow")
    airflow_home = Path(env.get("AIRFLOW_HOME") or Path.home() / "airflow")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env.update({"AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": base})
    # open both logs before anything starts: a bad path must not leave an api-server running
    out_path = log_path or (airflow_home / f"hitl-dags-test-{dag_id}.log")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out = out_path.open("w")
    server_log = (airflow_home / f"hitl-api-server-{port}.log").open("w")
    server = subprocess.Popen(
        ["timeout", "-s", "KILL", str(timeout + 120), airflow, "api-server", "--port", str(port)],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    cmd = ["timeout", "-s", "KILL", str(timeout), airflow, "dags", "test", dag_id, logical_date]
    if conf:
        cmd += ["--conf", json.dumps(conf)]
    run = subprocess.Popen(
        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
    )
    happened: dict = {"answered": None}
    try:
        with httpx.Client(timeout=30) as client:
            token = None
            while run.poll() is None:
                time.sleep(3)
                if happened["answered"]:
                    continue
                try:
                    if token is None:
                        token = _token(client, base, airflow_home)
                    headers = {"Authorization": f"Bearer {token}"}
                    found = client.get(
                        f"{base}/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails",
                        headers=headers,
                        params={"response_received": False, "task_id": task_id},
                    ).json()
                except (httpx.HTTPError, OSError, StopIteration, ValueError):
                    continue  # api-server still starting
                pending = [d for d in found.get("hitl_details", []) if not d.get("response_received")]
                if not pending:
                    continue
                ti = pending[0]["task_instance"]
                response = client.patch(
                    f"{base}/api/v2/dags/{dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{task_id}/"
                    f"{ti.get('map_index', -1)}/hitlDetails",
                    headers=headers,
                    json={"chosen_options": [answer], "params_input": {}},
                )
                response.raise_for_status()
                happened = {
                    "answered": answer,
                    "run_id": ti["dag_run_id"],
                    "subject": pending[0].get("subject"),
                }
                print(
                    f"answered {task_id} of {ti['dag_run_id']} with {answer} through the REST API", flush=True
                )
    finally:
        _stop(run)
        _stop(server)
        out.close()
        server_log.close()
    return run.returncode, out_path.read_text(), happened


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dag_id")
    p.add_argument("logical_date")
    p.add_argument("--conf", default="")
    p.add_argument("--answer", default="Approve", choices=["Approve", "Reject"])
    p.add_argument("--timeout", type=int, default=3600)
    args = p.parse_args(argv)
    code, output, happened = run_with_answer(
        args.dag_id,
        args.logical_date,
        conf=json.loads(args.conf) if args.conf else None,
        answer=args.answer,
        timeout=args.timeout,
    )
    print(output[-3000:])
    print(json.dumps(happened))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
