"""Helpers for the DAG tests: load the DagBag, dump a DAG's graph in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))

FORBIDDEN_AT_PARSE = (
    "torch",
    "transformers",
    "peft",
    "apache_beam",
    "google.cloud.aiplatform",
    "vertexai",
    "mlflow",
    "duckdb",
    "pandas",
    "sentence_transformers",
)

_GRAPH_SCRIPT = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"import_errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in sorted(bag.dags.items()):
    out["dags"][dag_id] = {
        "tasks": {t.task_id: type(t).__name__ for t in dag.tasks},
        "edges": sorted([t.task_id, d] for t in dag.tasks for d in sorted(t.downstream_task_ids)),
        "fileloc": dag.fileloc,
    }
print("GRAPH_JSON=" + json.dumps(out, sort_keys=True))
"""


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None, cwd: str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def dag_graphs(
    dag_folder: Path,
    env_overrides: dict[str, str],
    pythonpath: list[Path] | None = None,
    cwd: str | None = None,
) -> dict:
    """Load ``dag_folder`` in a fresh interpreter and return its DAGs' graphs and import errors."""
    env = dict(os.environ)
    env.update(env_overrides)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    proc = run_python(_GRAPH_SCRIPT, str(dag_folder), env=env, cwd=cwd)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("GRAPH_JSON=")]
    assert proc.returncode == 0 and lines, (
        f"DagBag load failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    return json.loads(lines[-1].removeprefix("GRAPH_JSON="))


def step_classes() -> list[type]:
    """Every step operator defined in the stage modules of ``llmops_plugins.stages``."""
    import importlib
    import pkgutil

    import llmops_plugins.stages as stages
    from llmops_plugins.stages.base import SensorStep, Step, StepMixin

    found = []
    for info in pkgutil.iter_modules(stages.__path__):
        module = importlib.import_module(f"llmops_plugins.stages.{info.name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, StepMixin)
                and obj not in (Step, SensorStep, StepMixin)
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    return found
