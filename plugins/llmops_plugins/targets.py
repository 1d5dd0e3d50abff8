"""The one target switch.

``LLMOPS_TARGET`` (``local`` by default, or ``gcp``) picks, for every step of every DAG, the
implementation behind the task. DAG files never test the target: they instantiate the step operators
of :mod:`llmops_plugins.steps`, whose ``task_id``s and edges are therefore identical on both targets,
and each step asks :func:`implementation` here for its body when it *executes* (not at parse time, so
neither a provider's heavy client library nor a missing cloud setting can slow or break a DAG parse).

An implementation is referenced as ``"module:function"`` and imported lazily. Two kinds exist:

* ``delegate``: returns a configured operator of the Google / Apache Beam providers, which the step
  runs (and resumes after deferral, and kills on ``on_kill``) on its own behalf;
* ``run``: does the work itself with a real local engine and returns the task's result.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from llmops_factory.settings import TARGETS, current_target


@dataclasses.dataclass(frozen=True)
class Impl:
    kind: str  # "delegate" | "run" | "poke"
    ref: str  # "module:function"

    def load(self) -> Callable[..., Any]:
        module, _, name = self.ref.partition(":")
        return getattr(importlib.import_module(module), name)


_LOCAL = "llmops_plugins.local_impl"
_GCP = "llmops_plugins.gcp_impl"

STEPS: dict[str, dict[str, Impl]] = {
    "wait_for_raw_partition": {
        "local": Impl("poke", f"{_LOCAL}:raw_partition_ready"),
        "gcp": Impl("delegate", f"{_GCP}:raw_partition_sensor"),
    },
    "run_beam_pipeline": {
        "local": Impl("delegate", f"{_LOCAL}:beam_pipeline_operator"),
        "gcp": Impl("delegate", f"{_GCP}:beam_pipeline_operator"),
    },
    "load_warehouse_partition": {
        "local": Impl("run", f"{_LOCAL}:load_warehouse_partition"),
        "gcp": Impl("run", f"{_GCP}:load_warehouse_partition"),
    },
    "run_training_job": {
        "local": Impl("run", f"{_LOCAL}:run_training_job"),
        "gcp": Impl("delegate", f"{_GCP}:training_job_operator"),
    },
    "cancel_training_jobs": {
        "local": Impl("run", f"{_LOCAL}:cancel_training_jobs"),
        "gcp": Impl("run", f"{_GCP}:cancel_training_jobs"),
    },
    "register_model_version": {
        "local": Impl("run", f"{_LOCAL}:register_model_version"),
        "gcp": Impl("run", f"{_GCP}:register_model_version"),
    },
}


def target() -> str:
    return current_target()


def implementation(step: str, target_name: str | None = None) -> Impl:
    """The implementation of ``step`` on ``target_name`` (default: the current target)."""
    target_name = target_name or current_target()
    if step not in STEPS:
        raise KeyError(f"unknown step {step!r}; known steps: {', '.join(sorted(STEPS))}")
    if target_name not in TARGETS:
        raise KeyError(f"unknown target {target_name!r}")
    return STEPS[step][target_name]


def warehouse():
    """The warehouse client of the current target (DuckDB file or BigQuery dataset)."""
    from llmops_factory.settings import get_settings

    settings = get_settings()
    if settings.target == "gcp":
        from llmops_plugins.gcp_impl import BigQueryWarehouse

        return BigQueryWarehouse(settings)
    from llmops_plugins.local_impl import DuckDBWarehouse

    return DuckDBWarehouse(settings)


def storage_root():
    """Root of object storage as an ``ObjectStoragePath`` (``gs://bucket`` or ``file:///…``)."""
    from airflow.sdk import ObjectStoragePath

    from llmops_factory.settings import get_settings

    settings = get_settings()
    if settings.target == "gcp":
        return ObjectStoragePath(settings.storage_root, conn_id=settings.gcp.gcp_conn_id)
    settings.local.storage_root.mkdir(parents=True, exist_ok=True)
    return ObjectStoragePath(settings.storage_root)
