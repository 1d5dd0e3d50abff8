"""Step bodies of the ``local`` target: real engines on one machine, no cloud account.

Beam runs on DirectRunner through the same provider operator as on gcp, the warehouse is a DuckDB
file, training is the trainer container's entrypoint run as a process with the same ``AIP_*``
environment as a Vertex AI custom job, and the registry is MLflow's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

from llmops_factory import layout
from llmops_factory.settings import REPO_ROOT, Settings

# Source folders a local process needs on sys.path (Composer/containers get them from their bundle/image).
SOURCE_PATHS = [REPO_ROOT / "include", REPO_ROOT / "plugins", REPO_ROOT / "beam_jobs", REPO_ROOT / "trainer"]


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a child process: this one's, the project's source paths, and ``extra``."""
    env = dict(os.environ)
    paths = [str(p) for p in SOURCE_PATHS]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(extra or {})
    return env


def _local_path(settings: Settings, relative: str) -> Path:
    return settings.local.storage_root / relative


# -- wait_for_raw_partition ------------------------------------------------------------------------
def raw_partition_ready(op: Any, context: Any, settings: Settings) -> bool:
    pattern = f"raw/*/dt={layout.partition_date(op.ds)}/*"
    files = sorted(p for p in settings.local.storage_root.glob(pattern) if p.is_file())
    op.log.info("%d file(s) match %s under %s", len(files), pattern, settings.local.storage_root)
    return bool(files)


# -- run_beam_pipeline ----------------------------------------------------------------------------
def beam_pipeline_operator(op: Any, context: Any, settings: Settings):
    from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

    py_file = REPO_ROOT / "beam_jobs" / f"{op.pipeline}.py"
    if not py_file.is_file():
        raise FileNotFoundError(f"Beam driver {py_file} does not exist (step {op.task_id!r})")
    os.environ["PYTHONPATH"] = process_env()["PYTHONPATH"]
    options = {
        **op.pipeline_options,
        "storage_root": str(settings.local.storage_root),
        "prompt_root": settings.storage_root,
        "direct_num_workers": 1,
        "direct_running_mode": "in_memory",
    }
    return BeamRunPythonPipelineOperator(
        task_id=op.task_id,
        py_file=str(py_file),
        runner="DirectRunner",
        py_interpreter=sys.executable,
        pipeline_options=options,
    )


# -- load_warehouse_partition ---------------------------------------------------------------------
class DuckDBWarehouse:
    """The local warehouse: a DuckDB file with the tables of ``include/llmops_factory/warehouse``."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.local.warehouse_path

    def count(self, table: str, **where: Any) -> int:
        from llmops_factory.warehouse import duck

        with duck.session(self.path) as conn:
            duck.ensure_tables(conn, [table])
            clause = " AND ".join(f'"{k}" = ?' for k in where) or "TRUE"
            return int(conn.execute(f'SELECT count(*) FROM "{table}" WHERE {clause}', list(where.values())).fetchone()[0])

    def rows(self, table: str, columns: list[str], **where: Any) -> list[dict[str, Any]]:
        from llmops_factory.warehouse import duck

        with duck.session(self.path) as conn:
            duck.ensure_tables(conn, [table])
            clause = " AND ".join(f'"{k}" = ?' for k in where) or "TRUE"
            cols = ", ".join(f'"{c}"' for c in columns)
            cur = conn.execute(f'SELECT {cols} FROM "{table}" WHERE {clause}', list(where.values()))
            return [dict(zip(columns, r, strict=False)) for r in cur.fetchall()]

    def replace_rows(self, table: str, key: dict[str, Any], rows: list[dict[str, Any]]) -> int:
        from llmops_factory.warehouse import duck

        with duck.session(self.path) as conn:
            return duck.replace_rows(conn, table, key, rows=rows)


def load_warehouse_partition(op: Any, context: Any, settings: Settings) -> dict[str, Any]:
    from llmops_factory.warehouse import duck, table_spec

    spec = table_spec(op.table)
    if spec.partition_field is None:
        raise ValueError(f"table {op.table!r} is not partitioned; it cannot be loaded by partition")
    files: list[Path] = []
    for pattern in op.sources:
        files += sorted(p for p in settings.local.storage_root.glob(pattern) if p.is_file())
    with duck.session(settings.local.warehouse_path) as conn:
        count = duck.replace_rows(
            conn, op.table, {spec.partition_field: op.partition_date}, jsonl_files=files
        )
    op.log.info("%s partition %s now holds %d row(s) from %d file(s)", op.table, op.partition_date, count, len(files))
    return {"table": op.table, "partition": op.partition_date, "rows": count, "files": len(files)}


# -- run_training_job -----------------------------------------------------------------------------
def run_training_job(op: Any, context: Any, settings: Settings) -> dict[str, Any]:
    root = str(settings.local.storage_root)
    out_dir = Path(layout.join(root, layout.model(op.model_version)))
    env = process_env(
        {
            "AIP_MODEL_DIR": str(out_dir),
            "AIP_CHECKPOINT_DIR": str(out_dir / "checkpoints"),
            "AIP_TENSORBOARD_LOG_DIR": str(out_dir / "logs"),
            "MLFLOW_TRACKING_URI": settings.local.mlflow_tracking_uri,
        }
    )
    extra = [
        "--tracking", "mlflow",
        "--tracking_uri", settings.local.mlflow_tracking_uri,
        "--experiment_name", settings.use_case,
        "--machine_type", "local-cpu",
        "--accelerator_type", "NONE",
        "--accelerator_count", "0",
    ]
    cmd = [sys.executable, "-m", "llmops_trainer", *op.trainer_args(root, extra)]
    op.log.info("Running %s", " ".join(cmd))
    tail: deque[str] = deque(maxlen=40)
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    op._process = proc
    pid_file = out_dir / "trainer.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps({"pid": proc.pid, "run_id": context["run_id"]}))
    assert proc.stdout is not None
    for line in proc.stdout:
        tail.append(line.rstrip())
        op.log.info("%s", line.rstrip())
    code = proc.wait()
    op._process = None
    pid_file.unlink(missing_ok=True)
    if code != 0:
        raise RuntimeError(f"trainer exited with code {code}; last lines:\n" + "\n".join(tail))
    return op.finish(context, None)


# -- cancel_training_jobs -------------------------------------------------------------------------
def cancel_training_jobs(op: Any, context: Any, settings: Settings) -> list[str]:
    import signal

    killed = []
    for pid_file in sorted(settings.local.storage_root.glob("models/*/trainer.pid")):
        try:
            info = json.loads(pid_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if info.get("run_id") != op.run_id:
            continue
        try:
            os.killpg(int(info["pid"]), signal.SIGTERM)
            killed.append(pid_file.parent.name)
            op.log.warning("terminated trainer process %s of %s", info["pid"], pid_file.parent.name)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)
    return killed


# -- register_model_version -----------------------------------------------------------------------
def register_model_version(op: Any, context: Any, settings: Settings) -> dict[str, Any]:
    from llmops_factory import registry

    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.local.mlflow_tracking_uri)
    info = op.run_info
    model_version = info["model_version"]
    source = layout.join(settings.storage_root, layout.model_merged(model_version))
    lineage = info.get("lineage") or {}
    version = registry.register_version(
        model_name=settings.use_case,
        source_uri=source,
        run_id=info.get("tracking_run_id"),
        idempotency_key=op.idempotency_key,
        tags={
            "model_version": model_version,
            "dag_id": context["dag"].dag_id,
            "dag_run_id": context["run_id"],
            "eval_loss": json.dumps(info.get("metrics", {}).get("eval_loss")),
            "base_eval_loss": json.dumps(info.get("metrics", {}).get("base_eval_loss")),
            **{f"lineage.{k}": json.dumps(v, sort_keys=True, default=str)[:5000] for k, v in lineage.items()},
        },
        alias=op.alias,
    )
    return {"model_name": settings.use_case, "version": str(version), "alias": op.alias, "uri": source,
            "model_version": model_version}
