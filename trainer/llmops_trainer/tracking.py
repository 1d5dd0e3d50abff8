"""Experiment tracking with one interface and two backends, plus TensorBoard event files.

* ``mlflow`` (local target): the store named by ``--tracking_uri`` or ``MLFLOW_TRACKING_URI``; params,
  per-step metrics, the model card and metrics as artifacts.
* ``vertex`` (gcp target): Vertex AI Experiments (``aiplatform.init(experiment=...)``, ``start_run``,
  ``log_params``, ``log_metrics``, ``log_time_series_metrics`` for per-step values).
* ``none``: nothing.

Both backends receive identical parameter and metric names (``PARAM_NAMES`` / the trainer's metric dicts).
A run restarted after preemption continues the same tracked run: its id is kept next to the checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Step-wise metric names logged during training (identical on every backend).
STEP_METRICS = ("train_loss", "learning_rate", "grad_norm", "tokens_per_second", "train_tokens")
#: Final metric names (identical on every backend and in metrics.json).
FINAL_METRICS = (
    "eval_loss",
    "base_eval_loss",
    "eval_loss_improvement",
    "train_loss",
    "train_tokens",
    "tokens_per_second",
    "wall_time_s",
    "cost_usd",
)


class Tracker(Protocol):
    """What the trainer needs from a tracking backend."""

    run_id: str | None

    def start(self, run_name: str, params: Mapping[str, Any], resume_id: str | None = None) -> str | None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_artifact(self, path: Path) -> None: ...

    def end(self, success: bool) -> None: ...


def flatten_params(params: Mapping[str, Any]) -> dict[str, str | int | float]:
    """Params as scalars: lists joined with commas, None as an empty string."""
    out: dict[str, str | int | float] = {}
    for key, value in sorted(params.items()):
        if isinstance(value, bool):
            out[key] = str(value).lower()
        elif isinstance(value, (int, float, str)):
            out[key] = value
        elif value is None:
            out[key] = ""
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = json.dumps(value, sort_keys=True, default=str)
    return out


class NoTracker:
    run_id: str | None = None

    def start(self, run_name: str, params: Mapping[str, Any], resume_id: str | None = None) -> str | None:
        return None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        return None

    def log_artifact(self, path: Path) -> None:
        return None

    def end(self, success: bool) -> None:
        return None


class MlflowTracker:
    """MLflow backend (local store or server)."""

    def __init__(self, tracking_uri: str | None, experiment: str) -> None:
        import mlflow

        self._mlflow = mlflow
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise ValueError("--tracking mlflow needs --tracking_uri or MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(uri)
        self.experiment = experiment
        self.run_id: str | None = None

    def start(self, run_name: str, params: Mapping[str, Any], resume_id: str | None = None) -> str | None:
        mlflow = self._mlflow
        if mlflow.get_experiment_by_name(self.experiment) is None:
            mlflow.create_experiment(self.experiment, artifact_location=artifact_location(self.experiment))
        mlflow.set_experiment(self.experiment)
        run = mlflow.start_run(run_id=resume_id) if resume_id else mlflow.start_run(run_name=run_name)
        self.run_id = run.info.run_id
        if not resume_id:
            flat = flatten_params(params)
            mlflow.log_params({k: str(v)[:6000] for k, v in flat.items()})
        return self.run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: Path) -> None:
        if path.is_dir():
            self._mlflow.log_artifacts(str(path), artifact_path=path.name)
        else:
            self._mlflow.log_artifact(str(path))

    def end(self, success: bool) -> None:
        self._mlflow.end_run(status="FINISHED" if success else "FAILED")


def artifact_location(experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``MLFLOW_ARTIFACT_ROOT``, else beside a SQLite store.

    (MLflow's own default is ``./mlruns`` in the working directory, which would depend on where the
    process happens to start.)
    """
    root = os.environ.get("MLFLOW_ARTIFACT_ROOT")
    if root:
        return f"{root.rstrip('/')}/{experiment}"
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    import mlflow

    uri = mlflow.get_tracking_uri() or uri
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).resolve().parent / "artifacts" / experiment).as_uri()
    return None


class VertexTracker:
    """Vertex AI Experiments backend (per-step values as time series on the experiment's TensorBoard)."""

    def __init__(self, experiment: str, project: str | None = None, location: str | None = None) -> None:
        from google.cloud import aiplatform

        self._aip = aiplatform
        self.experiment = vertex_name(experiment)
        init_kwargs: dict[str, Any] = {"experiment": self.experiment}
        project = project or os.environ.get("CLOUD_ML_PROJECT_ID") or os.environ.get("LLMOPS_GCP__PROJECT_ID")
        location = location or os.environ.get("CLOUD_ML_REGION") or os.environ.get("LLMOPS_GCP__REGION")
        if project:
            init_kwargs["project"] = project
        if location:
            init_kwargs["location"] = location
        tensorboard = os.environ.get("LLMOPS_VERTEX_TENSORBOARD")
        if tensorboard:
            init_kwargs["experiment_tensorboard"] = tensorboard
        aiplatform.init(**init_kwargs)
        self.run_id: str | None = None

    def start(self, run_name: str, params: Mapping[str, Any], resume_id: str | None = None) -> str | None:
        name = vertex_name(resume_id or run_name)
        self._aip.start_run(name, resume=bool(resume_id))
        self.run_id = name
        if not resume_id:
            self._aip.log_params(flatten_params(params))
        return self.run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = {k: float(v) for k, v in metrics.items()}
        if step is None:
            self._aip.log_metrics(values)
        else:
            self._aip.log_time_series_metrics(values, step=step)

    def log_artifact(self, path: Path) -> None:
        # Vertex Experiments keeps params and metrics; files stay in AIP_MODEL_DIR next to the run.
        return None

    def end(self, success: bool) -> None:
        from google.cloud.aiplatform.compat.types import execution as execution_types

        state = (
            execution_types.Execution.State.COMPLETE if success else execution_types.Execution.State.FAILED
        )
        self._aip.end_run(state=state)


def vertex_name(text: str) -> str:
    """Vertex AI resource ids: lowercase letters, digits and hyphens, at most 128 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name or "run")[:128]


def make_tracker(backend: str, tracking_uri: str | None, experiment: str) -> Tracker:
    if backend == "mlflow":
        return MlflowTracker(tracking_uri, experiment)
    if backend == "vertex":
        return VertexTracker(experiment)
    if backend == "none":
        return NoTracker()
    raise ValueError(f"unknown tracking backend {backend!r} (mlflow, vertex or none)")


class TensorBoardLog:
    """Scalar event files in ``AIP_TENSORBOARD_LOG_DIR`` (direct, FUSE, or staged and uploaded)."""

    def __init__(self, uri: str | None) -> None:
        self._out = None
        self._writer = None
        if uri:
            from torch.utils.tensorboard import SummaryWriter

            from llmops_trainer.storage import OutputDir

            self._out = OutputDir(uri)
            self._writer = SummaryWriter(log_dir=str(self._out.path))

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if self._writer is not None:
            for key, value in metrics.items():
                self._writer.add_scalar(key, float(value), step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._out.sync()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._out.close()
            self._writer = None
