"""DAG parse time per file, both targets: cold and steady state (median of N runs each).

* cold: a fresh interpreter that has imported ``airflow`` (as every DAG processor child has), then
  executes the DAG file.
* steady: measured the way the DAG processor parses: a parent that has imported ``airflow`` and
  pre-imported the ``airflow.*`` modules the file imports at top level
  (``[dag_processor] parsing_pre_import_modules``) and frozen its heap (``gc.freeze()``) forks a
  child per parse; the child's time to execute the DAG file is measured.

The last row is a DAG written like the Google provider's Vertex AI examples (operator modules and
``google.cloud.aiplatform`` imported at module level), for comparison.

    python benchmarks/bench_dag_parse.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_COLD = r"""
import importlib.util, sys, time
import airflow
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print("T=%.6f" % (time.perf_counter() - t))
print("AIP=%d" % ("google.cloud.aiplatform" in sys.modules))
"""

_STEADY = r"""
import gc, importlib.util, json, os, statistics, sys, time
import airflow
import structlog
from airflow.dag_processing.processor import _pre_import_airflow_modules
path, runs = sys.argv[1], int(sys.argv[2])
_pre_import_airflow_modules(path, structlog.get_logger())
gc.freeze()  # as the DAG processor manager does before it forks parsers
times = []
for _ in range(runs):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        t = time.perf_counter()
        spec = importlib.util.spec_from_file_location("dag_under_test", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        os.write(w, ("%.6f" % (time.perf_counter() - t)).encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.waitpid(pid, 0)
    times.append(float(data))
print("T=" + json.dumps(times))
"""


def _env(target: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LLMOPS_TARGET"] = target
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return env


def cold(path: Path, target: str, runs: int) -> tuple[float, bool]:
    times, aip = [], False
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", _COLD, str(path)], env=_env(target), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"{path.name} failed to parse on {target}:\n{proc.stderr[-3000:]}")
        lines = dict(
            line.split("=", 1)
            for line in proc.stdout.splitlines()
            if "=" in line and line[:2] in ("T=", "AI")
        )
        times.append(float(lines["T"]))
        aip = aip or lines.get("AIP") == "1"
    return statistics.median(times), aip


def steady(path: Path, target: str, runs: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", _STEADY, str(path), str(runs)],
        env=_env(target),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{path.name} failed to parse on {target}:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("T=")][-1]
    return statistics.median(json.loads(line[2:]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    files = sorted((REPO / "dags").glob("*.py"))
    baseline = REPO / "benchmarks" / "fixtures" / "provider_style_vertex_dag.py"
    print(f"DAG parse time, median of {args.runs} (seconds)")
    print(f"{'dag file':34s} {'target':6s} {'cold':>8s} {'steady':>8s}  aiplatform loaded at parse")
    for path in files + [baseline]:
        for target in ("local", "gcp"):
            if path == baseline and target == "local":
                continue
            c, aip = cold(path, target, args.runs)
            s = steady(path, target, args.runs)
            print(f"{path.stem:34s} {target:6s} {c:8.3f} {s:8.3f}  {'yes' if aip else 'no'}", flush=True)


if __name__ == "__main__":
    main()
