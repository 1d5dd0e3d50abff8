"""A throw-away Airflow on the local target, component by component, driven through REST API v2.

Starts ``api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and ``triggerer`` bound to
127.0.0.1 on a free port, with a fresh Airflow home and a fresh platform home (storage root, DuckDB
warehouse, MLflow store), each component in its own process group under a ``timeout -s KILL`` guard,
so nothing outlives its owner even when the owner is killed. Used by the system test
(``tests/system/``) and ``benchmarks/bench_scheduler.py``; the REST API is the only way in.

    with LocalCluster.start(home) as cluster:
        run = cluster.trigger("llmops_data_prep", "2026-01-01", conf={})
        cluster.wait_run("llmops_data_prep", run["dag_run_id"])
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_standalone import airflow_command, airflow_env, publish_prompts, stop_process_group  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
FINISHED = {"success", "failed"}
USER, PASSWORD = "admin", "local-cluster"


BUSY_RETRIES = 20


def busy(resp) -> bool:
    """The API could not take the metadata DB's lock (SQLite, 503): nothing was done, try again.

    Not a 500 "Database error": that one can come from the audit-log write *after* the request's own
    change was committed, so a retry could do it twice (:meth:`LocalCluster.create_backfill` shows how
    to recover from it)."""
    return resp.status_code in (502, 503, 504)


def db_error(resp) -> bool:
    """A 500 "Database error": the SQLite lock was not free within its 30 s busy timeout. Safe to retry
    only where doing the request twice changes nothing (state PATCHes, a run with a known id)."""
    return resp.status_code == 500 and "Database error" in resp.text


class ClusterError(RuntimeError):
    """The cluster did not start, or a run did not reach the expected state; the message has log tails."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_env(
    home: Path, port: int, *, parallelism: int = 4, extra: Mapping[str, str] | None = None
) -> dict:
    """The environment of every component (and of helper commands run against the same home)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "LLMOPS_")) and k not in ("AIRFLOW_HOME", "MLFLOW_TRACKING_URI")
    }
    env = {
        **base,
        "LLMOPS_TARGET": "local",
        "LLMOPS_LOCAL__HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # only runs a client asks for (triggers, backfills): no run for "yesterday" when a DAG is unpaused
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "airflow" / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    env.update(extra or {})
    env = airflow_env(env, port=port)
    env["AIRFLOW__API__BASE_URL"] = f"http://127.0.0.1:{port}"
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    return env


def run_checked(cmd: list[str], env: Mapping[str, str], timeout: int = 600) -> str:
    proc = subprocess.run(
        ["timeout", "-s", "KILL", str(timeout), *cmd],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise ClusterError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
        )
    return proc.stdout


def generate_days(env: Mapping[str, str], days: Iterable[str], *, seed: int = 7, scale: int = 40) -> None:
    root = (Path(env["LLMOPS_LOCAL__HOME"]) / "storage").as_uri()
    for day in days:
        run_checked(
            [sys.executable, "-m", "llmops_factory.datagen", "generate", "--root", root, "--ds", day,
             "--seed", str(seed), "--scale", str(scale)],
            env,
        )  # fmt: skip


class LocalCluster:
    def __init__(self, home: Path, env: dict[str, str], guard_s: int) -> None:
        self.home = home
        self.env = env
        self.guard_s = guard_s
        self.base_url = env["AIRFLOW__API__BASE_URL"]
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = home / "cluster-logs"
        self._client = None
        self.timings: dict[str, float] = {}

    # ---- life cycle -------------------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def start(cls, home: Path, *, parallelism: int = 4, guard_s: int = 1800, extra_env: Mapping[str, str] | None = None,
              days: Iterable[str] = (), startup_timeout_s: float = 240):  # fmt: skip
        """Prepare ``home`` (metadata DB, prompts, raw ``days``), start the components, wait until the
        API is healthy and every DAG file is parsed; stop everything on exit, whatever happened."""
        home.mkdir(parents=True, exist_ok=True)
        env = cluster_env(home, free_port(), parallelism=parallelism, extra=extra_env)
        (home / "airflow").mkdir(parents=True, exist_ok=True)
        Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text(
            json.dumps({USER: PASSWORD})
        )
        cluster = cls(home, env, guard_s)
        started = time.monotonic()
        run_checked([sys.executable, "-m", "llmops_factory.platform", "init"], env)
        publish_prompts(env)
        generate_days(env, days)
        cluster.timings["prepare_s"] = time.monotonic() - started
        try:
            cluster._start_components()
            cluster.wait_ready(startup_timeout_s)
            cluster.timings["healthy_s"] = time.monotonic() - started - cluster.timings["prepare_s"]
            yield cluster
        finally:
            cluster.stop()

    def _start_components(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        airflow = airflow_command()
        for name in COMPONENTS:
            log = (self.logs / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                ["timeout", "-s", "KILL", str(self.guard_s), airflow, name],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        for name in reversed(COMPONENTS):
            proc = self.procs.get(name)
            if proc is not None:
                stop_process_group(proc, grace_s=20)
        self.stop_endpoint()

    def stop_endpoint(self) -> None:
        """A deployment run starts the local endpoint server on its own (it outlives the task, as an
        endpoint does): stop it with the cluster."""
        if not any((self.home / "endpoints").glob("*/endpoint.pid")):
            return
        subprocess.run(
            ["timeout", "-s", "KILL", "120", sys.executable, "-m", "llmops_factory.endpoint", "stop"],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )

    def log_tails(self, chars: int = 3000) -> str:
        out = []
        for name in COMPONENTS:
            path = self.logs / f"{name}.log"
            if path.exists():
                out.append(f"---- {name} ----\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)

    def wait_ready(self, timeout_s: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        healthy = False
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ClusterError(f"{name} exited with {proc.returncode}\n{self.log_tails()}")
            try:
                if not healthy:
                    healthy = (
                        httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200
                    )
                if healthy:
                    dags = {d["dag_id"] for d in self.get("/api/v2/dags", params={"limit": 100})["dags"]}
                    if dags >= self.dag_files():
                        return
            except (httpx.HTTPError, ClusterError):
                pass
            time.sleep(2)
        raise ClusterError(
            f"Airflow not ready within {timeout_s:.0f} s (healthy={healthy})\n{self.log_tails()}"
        )

    @staticmethod
    def dag_files() -> set[str]:
        return {p.stem for p in (REPO / "dags").glob("*.py")}

    # ---- REST API v2 ------------------------------------------------------------------------------
    def token(self) -> str:
        import httpx

        resp = httpx.post(
            f"{self.base_url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30
        )
        if resp.status_code not in (200, 201):
            raise ClusterError(f"POST /auth/token: {resp.status_code} {resp.text}")
        return resp.json()["access_token"]

    @property
    def client(self):
        import httpx

        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=60
            )
        return self._client

    def request(self, method: str, path: str, **kwargs: Any):
        """One API call. On the SQLite metadata DB the API answers 503 while the scheduler writes: the
        request did not take effect and is retried, as a client of any busy API retries a 503."""
        idempotent = method.upper() in ("GET", "PUT", "PATCH", "DELETE")
        for _ in range(BUSY_RETRIES):
            resp = self.client.request(method, path, **kwargs)
            if not (busy(resp) or (idempotent and db_error(resp))):
                return resp
            time.sleep(3)
        return resp

    def get(self, path: str, **kwargs: Any) -> Any:
        resp = self.request("GET", path, **kwargs)
        if resp.status_code != 200:
            raise ClusterError(f"GET {path}: {resp.status_code} {resp.text[:2000]}")
        return resp.json()

    def set_paused(self, dag_id: str, paused: bool) -> None:
        resp = self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})
        if resp.status_code != 200:
            raise ClusterError(f"PATCH dag {dag_id}: {resp.status_code} {resp.text}")

    def trigger(
        self,
        dag_id: str,
        logical_date: str | None,
        conf: Mapping[str, Any] | None = None,
        data_interval: tuple[str, str] | None = None,
    ):
        """POST a DAG run (``logical_date`` a date or an ISO datetime; ``data_interval`` an explicit
        ``(start, end)``); returns the raw response (a test checks the status)."""
        if logical_date and "T" not in logical_date:
            logical_date = f"{logical_date}T00:00:00Z"
        import httpx

        # a run id of our own, as the API would name it: after a 500 "Database error" the run can be
        # looked up, so the POST is retried only when it did not take effect
        run_id = f"manual__{datetime.datetime.now(datetime.UTC).isoformat()}"
        body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": logical_date, "conf": dict(conf or {})}
        if data_interval:
            body["data_interval_start"], body["data_interval_end"] = data_interval
        path = f"/api/v2/dags/{dag_id}/dagRuns"
        resp = self.request("POST", path, json=body)
        for _ in range(BUSY_RETRIES):
            if not db_error(resp):
                return resp
            time.sleep(3)
            found = self.request("GET", f"{path}/{urllib.parse.quote(run_id, safe='')}")
            if found.status_code == 200:
                return httpx.Response(200, json=found.json(), request=resp.request)
            resp = self.request("POST", path, json=body)
        return resp

    def create_backfill(self, body: Mapping[str, Any]) -> dict:
        """``POST /api/v2/backfills``; returns the backfill. When the answer is an error although the
        backfill was created (the audit-log write after the commit lost the SQLite lock: 500, and a
        retry then says 409 "already a running backfill"), the running backfill of the same range is
        returned instead."""
        resp = self.request("POST", "/api/v2/backfills", json=dict(body))
        if resp.status_code == 200:
            return resp.json()
        if resp.status_code in (409, 500):
            time.sleep(3)
            running = self.get("/api/v2/backfills", params={"dag_id": body["dag_id"], "limit": 100})
            for backfill in running["backfills"]:
                same = backfill["from_date"][:10] == body["from_date"][:10] and (
                    backfill["to_date"][:10] == body["to_date"][:10]
                )
                if backfill.get("completed_at") is None and same:
                    return backfill
        raise ClusterError(f"POST /api/v2/backfills {dict(body)}: {resp.status_code} {resp.text[:2000]}")

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
        return self.get(path, params={"limit": 100})["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        out = {}
        for ti in self.task_instances(dag_id, run_id):
            key = ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            out[key] = ti["state"]
        return out

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float = 600, states: set[str] = FINISHED) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in states:
                return run
            time.sleep(3)
        raise ClusterError(
            f"{dag_id}/{run_id} not in {sorted(states)} within {timeout_s:.0f} s: "
            f"{self.task_states(dag_id, run_id)}\n{self.log_tails()}"
        )

    def wait_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, timeout_s: float = 300
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.task_states(dag_id, run_id).get(task_id) == state:
                return
            time.sleep(2)
        raise ClusterError(
            f"{dag_id}/{run_id}: {task_id} not {state} within {timeout_s:.0f} s: "
            f"{self.task_states(dag_id, run_id)}\n{self.log_tails()}"
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}"
            f"/logs/{try_number}"
        )
        data = self.get(path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        content = data.get("content")
        if isinstance(content, list):
            return "\n".join(
                json.dumps(line, default=str) if not isinstance(line, str) else line for line in content
            )
        return str(content)


def run_seconds(run: Mapping[str, Any]) -> float | None:
    """Wall time of a finished DAG run from its API record (start to end)."""
    import datetime as dt

    if not run.get("start_date") or not run.get("end_date"):
        return None
    start = dt.datetime.fromisoformat(run["start_date"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(run["end_date"].replace("Z", "+00:00"))
    return (end - start).total_seconds()
