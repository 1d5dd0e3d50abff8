"""Initialise the local platform home (``.llmops/``): storage root, DuckDB warehouse, MLflow store and
the Airflow home with its SQLite metadata database. Idempotent: safe to run before every command.

    python -m llmops_factory.platform init
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click

from llmops_factory.settings import get_settings

#: Airflow pools the DAGs use: name -> (slots, description). Composer gets the same from its deployment.
POOLS = {
    "llmops_endpoint": (1, "Tasks that read or move endpoint traffic (deploy, promote, rollback): one at a time"),
}
POOLS_VERSION = "1"


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def init_home(migrate_airflow: bool = True, echo=click.echo) -> dict[str, str]:
    settings = get_settings()
    local = settings.local  # the local target's home; nothing here touches a cloud target
    for folder in (local.home, local.storage_root, local.mlflow_dir / "artifacts", local.home / "outbox",
                   local.airflow_home):
        folder.mkdir(parents=True, exist_ok=True)

    from llmops_factory.warehouse import duck

    with duck.session(local.warehouse_path) as conn:
        tables = duck.ensure_tables(conn)

    if migrate_airflow:
        stamp = local.airflow_home / ".llmops-db-version"
        db = local.airflow_home / "airflow.db"
        want = _airflow_version()
        if not db.exists() or not stamp.exists() or stamp.read_text().strip() != want:
            started = time.monotonic()
            airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
            env = {**os.environ, "AIRFLOW_HOME": str(local.airflow_home)}
            proc = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise click.ClickException(f"airflow db migrate failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
            stamp.write_text(want)
            echo(f"airflow metadata database ready ({time.monotonic() - started:.1f} s)")
        pools = local.airflow_home / ".llmops-pools"
        if pools.read_text().strip() != POOLS_VERSION if pools.exists() else True:
            airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
            env = {**os.environ, "AIRFLOW_HOME": str(local.airflow_home)}
            for name, (slots, description) in POOLS.items():
                proc = subprocess.run([airflow, "pools", "set", name, str(slots), description], env=env,
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise click.ClickException(f"airflow pools set {name} failed:\n{proc.stderr[-2000:]}")
            pools.write_text(POOLS_VERSION)
    summary = {
        "home": str(local.home),
        "storage_root": local.storage_root.as_uri(),
        "warehouse": str(local.warehouse_path),
        "warehouse_tables": str(len(tables)),
        "mlflow": local.mlflow_tracking_uri,
        "airflow_home": str(local.airflow_home),
    }
    return summary


@click.group()
def cli() -> None:
    """Local platform home of LLMOps Factory."""


@cli.command()
@click.option("--no-airflow", is_flag=True, help="Skip the Airflow metadata database.")
def init(no_airflow: bool) -> None:
    """Create the local platform home (idempotent)."""
    summary = init_home(migrate_airflow=not no_airflow)
    click.echo("local platform home ready: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


if __name__ == "__main__":
    cli()
