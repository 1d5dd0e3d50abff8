"""Benchmark of operating through the real scheduler. Prints figures, asserts nothing.

1. ``make airflow`` to a healthy API: a fresh platform home on a free port, from the command's start
   (environment check, metadata DB, prompt publishing, standalone start) until
   ``/api/v2/monitor/health`` answers 200; then Ctrl-C (SIGINT to its process group) and the time
   until no process of it is left.
2. One day of ``llmops_data_prep`` under the scheduler (LocalExecutor, api-server, dag-processor,
   triggerer; triggered through the REST API) against ``airflow dags test`` for the same day in a
   fresh home: wall time, and task tries beyond the first (retries) under the scheduler.
3. The last system-test figures, if ``make test`` (or ``pytest tests/system``) wrote them.

    python benchmarks/bench_scheduler.py              # all three
    python benchmarks/bench_scheduler.py --skip-make  # only the data-prep comparison
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from local_cluster import LocalCluster, cluster_env, free_port, generate_days, run_checked  # noqa: E402

DAY = "2026-01-05"
SCALE = 40


def _processes_with_env(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (``NAME=value``)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def bench_make_airflow() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "LLMOPS_", "MAKE"))}
        env.update({"LLMOPS_LOCAL__HOME": tmp, "AIRFLOW__API__PORT": str(port)})
        started = time.monotonic()
        proc = subprocess.Popen(["make", "-s", "airflow"], cwd=REPO, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        healthy = None
        try:
            while time.monotonic() - started < 600 and proc.poll() is None:
                try:
                    with urllib.request.urlopen(
                        f"http://localhost:{port}/api/v2/monitor/health", timeout=2
                    ) as r:
                        if r.status == 200:
                            healthy = time.monotonic() - started
                            break
                except OSError:
                    pass
                time.sleep(0.5)
        finally:
            stop_started = time.monotonic()
            try:
                os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            stopped = time.monotonic() - stop_started
            leftover = _processes_with_env(f"LLMOPS_LOCAL__HOME={tmp}")
        print(
            f"make airflow -> healthy API: {healthy:.1f} s" if healthy else "make airflow: API never healthy"
        )
        print(f"Ctrl-C -> make airflow exited: {stopped:.1f} s (exit {proc.returncode}); "
              f"leftover processes: {len(leftover)}")  # fmt: skip


def bench_data_prep() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sched-") as tmp:
        home = Path(tmp) / "scheduler"
        with LocalCluster.start(home, days=[DAY]) as cluster:
            cluster.set_paused("llmops_data_prep", False)
            t0 = time.monotonic()
            resp = cluster.trigger("llmops_data_prep", DAY, {})
            resp.raise_for_status()
            run = cluster.wait_run("llmops_data_prep", resp.json()["dag_run_id"], timeout_s=900)
            wall = time.monotonic() - t0
            tis = cluster.task_instances("llmops_data_prep", run["dag_run_id"])
            retries = sum(max(0, ti["try_number"] - 1) for ti in tis)
            print(f"cluster start (prepare {cluster.timings['prepare_s']:.1f} s, "
                  f"components to ready {cluster.timings['healthy_s']:.1f} s)")  # fmt: skip
            print(f"data prep {DAY} under the scheduler: {wall:.1f} s trigger->finished "
                  f"(run {run['state']}, {run.get('duration') or 0:.1f} s start->end), retries: {retries}")  # fmt: skip
        home = Path(tmp) / "dags-test"
        env = cluster_env(home, free_port())
        home.mkdir(parents=True)
        run_checked([sys.executable, "-m", "llmops_factory.platform", "init"], env)
        run_checked([sys.executable, "-m", "llmops_factory.prompts", "publish"], env)
        generate_days(env, [DAY], scale=SCALE)
        t0 = time.monotonic()
        airflow = str(Path(sys.executable).parent / "airflow")
        proc = subprocess.run(["timeout", "-s", "KILL", "900", airflow, "dags", "test", "llmops_data_prep", DAY],
                              env=env, cwd=REPO, capture_output=True, text=True)  # fmt: skip
        ok = proc.returncode == 0 and "state=success" in proc.stdout + proc.stderr
        print(
            f"data prep {DAY} with airflow dags test: {time.monotonic() - t0:.1f} s ({'success' if ok else 'FAILED'})"
        )


def print_system_figures() -> None:
    path = REPO / "build" / "test-artifacts" / "system" / "figures.json"
    if path.exists():
        print(f"last system test ({path.relative_to(REPO)}): {json.dumps(json.loads(path.read_text()))}")
    else:
        print("no system-test figures yet: run `make test` or `.venv/bin/python -m pytest tests/system -s`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-make", action="store_true", help="skip the make airflow start-up figure")
    parser.add_argument(
        "--skip-data-prep", action="store_true", help="skip the scheduler vs dags test figure"
    )
    args = parser.parse_args(argv)
    if not args.skip_make:
        bench_make_airflow()
    if not args.skip_data_prep:
        bench_data_prep()
    print_system_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
