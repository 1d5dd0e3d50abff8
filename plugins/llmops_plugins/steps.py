"""Step operators: the target-neutral tasks DAG files are built from.

Each step has the same class, ``task_id``, arguments and template fields on both targets; when it
executes it asks :mod:`llmops_plugins.targets` for the body. A ``delegate`` body is a provider operator
(Google / Apache Beam) that the step runs on its own behalf: the step forwards deferral (so long cloud
waits free the worker slot), resumes the provider operator after its trigger fires, and forwards
``on_kill`` so a killed task cancels its cloud job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, BaseSensorOperator
from airflow.sdk.exceptions import TaskDeferred

_INNER_METHOD = "llmops_inner_method"


class _TargetStepMixin:
    """Runs the current target's implementation of ``step_name``."""

    step_name: ClassVar[str]
    _inner: Any = None

    def _implementation(self):
        from llmops_plugins.targets import implementation

        return implementation(self.step_name)

    def _build(self, context: Any, impl) -> Any:
        from llmops_factory.settings import get_settings

        return impl.load()(self, context, get_settings())

    def _run_target(self, context: Any) -> Any:
        impl = self._implementation()
        if impl.kind == "delegate":
            self._inner = self._build(context, impl)
            try:
                result = self._inner.execute(context)
            except TaskDeferred as deferred:
                raise TaskDeferred(
                    trigger=deferred.trigger,
                    method_name="resume_inner",
                    kwargs={**(deferred.kwargs or {}), _INNER_METHOD: deferred.method_name},
                    timeout=deferred.timeout,
                ) from None
            return self.finish(context, result)
        return self._build(context, impl)

    def resume_inner(self, context: Any, event: Any = None, **kwargs: Any) -> Any:
        """Resume the provider operator after its trigger fired (called by Airflow, not by users)."""
        method = kwargs.pop(_INNER_METHOD, "execute_complete")
        self._inner = self._build(context, self._implementation())
        try:
            result = getattr(self._inner, method)(context, event, **kwargs)
        except TaskDeferred as deferred:
            raise TaskDeferred(
                trigger=deferred.trigger,
                method_name="resume_inner",
                kwargs={**(deferred.kwargs or {}), _INNER_METHOD: deferred.method_name},
                timeout=deferred.timeout,
            ) from None
        return self.finish(context, result)

    def finish(self, context: Any, result: Any) -> Any:
        """Post-process the provider operator's result into the step's XCom (override per step)."""
        return result

    def on_kill(self) -> None:
        if self._inner is not None:
            self._inner.on_kill()
        proc = getattr(self, "_process", None)
        if proc is not None and proc.poll() is None:
            import os
            import signal

            os.killpg(proc.pid, signal.SIGTERM)


class WaitForRawPartition(_TargetStepMixin, BaseSensorOperator):
    """Wait until ``raw/<source>/dt=<ds>/`` holds at least one file for any source.

    gcp: the provider's ``GCSObjectExistenceSensor`` with a glob, deferrable. local: a poke over the
    local storage root in ``reschedule`` mode (no worker slot held while waiting).
    """

    step_name = "wait_for_raw_partition"
    template_fields: Sequence[str] = ("ds",)

    def __init__(self, *, ds: str = "{{ ds }}", **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.ds = ds

    def execute(self, context: Any) -> Any:
        if self._implementation().kind == "delegate":
            return self._run_target(context)
        return super().execute(context)

    def poke(self, context: Any) -> bool:
        return bool(self._build(context, self._implementation()))


class RunBeamPipeline(_TargetStepMixin, BaseOperator):
    """Run a Beam pipeline of ``beam_jobs/``: DirectRunner locally, Dataflow on gcp.

    ``pipeline`` names the driver file (``beam_jobs/<pipeline>.py``); ``pipeline_options`` are the
    pipeline's own flags (templated); the storage root and runner options are added per target.
    """

    step_name = "run_beam_pipeline"
    template_fields: Sequence[str] = ("pipeline_options", "job_name")
    template_fields_renderers: ClassVar[dict[str, str]] = {"pipeline_options": "json"}

    def __init__(self, *, pipeline: str, pipeline_options: dict[str, Any], job_name: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.pipeline_options = pipeline_options
        self.job_name = job_name

    def execute(self, context: Any) -> Any:
        return self._run_target(context)

    def finish(self, context: Any, result: Any) -> Any:
        return {"pipeline": self.pipeline, "job_name": self.job_name, "options": self.pipeline_options}


class LoadWarehousePartition(_TargetStepMixin, BaseOperator):
    """Replace one partition of a warehouse table with JSONL files from object storage.

    gcp: a BigQuery load job into ``table$YYYYMMDD`` with ``WRITE_TRUNCATE``; local: delete-then-insert
    of the same partition in DuckDB, in one transaction. ``sources`` are storage-layout globs.
    """

    step_name = "load_warehouse_partition"
    template_fields: Sequence[str] = ("partition_date", "sources")

    def __init__(self, *, table: str, partition_date: str, sources: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.partition_date = partition_date
        self.sources = sources

    def execute(self, context: Any) -> Any:
        return self._run_target(context)


class RunTrainingJob(_TargetStepMixin, BaseOperator):
    """Run the trainer container entrypoint: a Vertex AI custom container job on gcp, a process locally.

    Both get the same arguments and the same ``AIP_MODEL_DIR`` / ``AIP_CHECKPOINT_DIR`` /
    ``AIP_TENSORBOARD_LOG_DIR`` layout under ``models/<model_version>/``. ``machine`` overrides the
    training machine settings on gcp (``machine_type``, ``accelerator_type``, ``accelerator_count``,
    ``replica_count``); locally it is recorded only. Returns the run's
    ``metrics.json`` (held-out loss, tokens/s, cost...) so a sweep can pick its best run.
    """

    step_name = "run_training_job"
    template_fields: Sequence[str] = (
        "model_version", "train_data", "eval_data", "base_model", "prompt_ref", "hparams", "machine",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"hparams": "json"}

    def __init__(
        self,
        *,
        model_version: str,
        train_data: str,
        eval_data: str,
        base_model: str,
        prompt_ref: str,
        hparams: dict[str, Any] | None = None,
        config: str = "local-cpu",
        machine: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_version = model_version
        self.train_data = train_data
        self.eval_data = eval_data
        self.base_model = base_model
        self.prompt_ref = prompt_ref
        self.hparams = hparams or {}
        self.config = config
        self.machine = machine or {}

    def trainer_args(self, storage_root: str, extra: list[str] | None = None) -> list[str]:
        """The trainer's command-line arguments: identical on both targets but for the storage root
        and ``extra`` (tracking backend, machine spec for the cost)."""
        from llmops_factory import layout

        def uri(path: str) -> str:
            return path if "://" in path or path.startswith("/") else layout.join(storage_root, path)

        args = [
            "train",
            "--config", f"trainer/configs/{self.config}.yaml",
            "--train_data", uri(self.train_data),
            "--eval_data", uri(self.eval_data),
            "--base_model", uri(self.base_model),
            "--prompt", self.prompt_ref,
            "--output_dir", layout.join(storage_root, layout.model(self.model_version)),
            "--run_name", self.model_version,
        ]
        for key, value in sorted((self.hparams or {}).items()):
            values = value if isinstance(value, (list, tuple)) else [value]
            args += [f"--{key}", *(str(v) for v in values)]
        return args + list(extra or [])

    def execute(self, context: Any) -> Any:
        return self._run_target(context)

    def finish(self, context: Any, result: Any) -> Any:
        import json

        from llmops_factory import layout
        from llmops_plugins.targets import storage_root

        folder = storage_root() / layout.model(self.model_version)
        metrics = json.loads((folder / "metrics.json").read_text())
        card = json.loads((folder / "model_card.json").read_text())
        return {
            "model_version": self.model_version,
            "hparams": self.hparams,
            "metrics": metrics,
            "tracking_run_id": (card.get("tracking") or {}).get("run_id"),
            "lineage": {
                "base_model": card.get("base_model"),
                "dataset": {k: v for k, v in (card.get("dataset") or {}).items() if k != "manifest"},
                "prompt": card.get("prompt"),
            },
        }


class RegisterModelVersion(_TargetStepMixin, BaseOperator):
    """Register a trained model as a new version of the use case's registry model, alias ``candidate``.

    Idempotent: the version carries the DAG run's idempotency key, and a retry or re-run of the same
    DAG run returns the version it already made instead of creating a second one.
    """

    step_name = "register_model_version"
    template_fields: Sequence[str] = ("model_version", "run_info", "idempotency_key")

    def __init__(
        self,
        *,
        model_version: str,
        run_info: Any,
        idempotency_key: str = "{{ dag.dag_id }}:{{ run_id }}",
        alias: str = "candidate",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_version = model_version
        self.run_info = run_info
        self.idempotency_key = idempotency_key
        self.alias = alias

    def execute(self, context: Any) -> Any:
        return self._run_target(context)


class CancelTrainingJobs(_TargetStepMixin, BaseOperator):
    """Teardown: cancel every training job of this DAG run that is still running.

    gcp: Vertex AI training pipelines labelled with this run's ``run_id_hash`` in a non-final state are
    cancelled; local: trainer processes of this run (pid files under ``models/<model_version>/``) that
    are still alive are terminated. Runs whatever happened upstream (a teardown task), so a failed,
    timed-out or killed training task never leaves a job burning accelerators.
    """

    step_name = "cancel_training_jobs"
    template_fields: Sequence[str] = ("run_id",)

    def __init__(self, *, run_id: str = "{{ run_id }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id

    def execute(self, context: Any) -> Any:
        return self._run_target(context)
