"""Fine-tuning stage: snapshot → base model → sweep plan → training jobs → best trial → registry.

| step | local | gcp |
|---|---|---|
| ``assemble_snapshot`` | target-neutral (storage root) | |
| ``prepare_base_model`` | build the project's tiny Llama once (cached) | check the configured HF model |
| ``plan_training`` | target-neutral; the trainer config comes from the platform | |
| ``RunTrainingJob`` | the trainer entrypoint as a process, same ``AIP_*`` env | Vertex AI custom container job (deferrable) |
| ``CancelTrainingJobs`` | terminate this run's trainer processes | cancel this run's Vertex training pipelines |
| ``select_best`` | target-neutral | |
| ``RegisterModelVersion`` | target-neutral: the platform's registry (MLflow / Vertex AI Model Registry) | |
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.providers.google.cloud.links.vertex_ai import VertexAIModelLink, VertexAITrainingLink

from llmops_factory import layout
from llmops_factory.errors import TaskInputError
from llmops_factory.handoffs import Candidate, PromptPin, SnapshotRef, TrainedModel, TrainingTrial
from llmops_plugins.stages.base import Step, fail_fast, run_on_target

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
BASE_MODEL_NAME = "llmops-tiny-llama"
BASE_CORPUS_START = "2025-12-01"
BASE_CORPUS_DAYS = 7


# -- assemble_snapshot ----------------------------------------------------------------------------
def window_end(
    explicit: str | None,
    triggering_asset_events: Mapping[Any, Iterable[Any]] | None = None,
    logical_date: dt.datetime | None = None,
    run_after: dt.datetime | None = None,
) -> str:
    """Last day of the training window: the param, else the newest triggering dataset's day, else the
    run's logical date, else when the run was due (never the wall clock)."""
    if explicit:
        return layout.partition_date(explicit)
    days = [
        layout.partition_date(event.extra["ds"])
        for events in (triggering_asset_events or {}).values()
        for event in events
        if (getattr(event, "extra", None) or {}).get("ds")
    ]
    if days:
        return max(days)
    for value in (logical_date, run_after):
        if value is not None:
            return value.date().isoformat()
    raise TaskInputError("cannot tell the training window: set the window_end param")


@fail_fast
def assemble_snapshot(end: str, days: int) -> dict[str, Any]:
    """The snapshot of the ``days`` daily datasets ending on ``end`` (built once, reused by version)."""
    from llmops_factory.datasets import build_snapshot
    from llmops_plugins.platform import get_platform

    if days < 1:
        raise TaskInputError(f"window_days={days} must be at least 1")
    start = (dt.date.fromisoformat(end) - dt.timedelta(days=days - 1)).isoformat()
    manifest = build_snapshot(get_platform().storage_uri, start, end)
    version = manifest["snapshot_version"]
    counts = manifest.get("counts", {})
    snapshot = SnapshotRef(
        snapshot_version=version,
        window_start=start,
        window_end=end,
        train_data=layout.dataset_split(version, "train"),
        eval_data=layout.dataset_split(version, "eval"),
        train_examples=counts.get("train", manifest.get("train_examples")),
        eval_examples=counts.get("eval", manifest.get("eval_examples")),
    )
    log.info("snapshot %s", json.dumps(snapshot.to_dict(), sort_keys=True, default=str))
    return snapshot.to_dict()


# -- prepare_base_model ---------------------------------------------------------------------------
def prepare_base_model(base_model: str | None) -> str:
    """The base model path: ``base_model`` when given (``None`` or empty: the target's default —
    locally the project's small Llama, built once and cached by its build key; on gcp the
    ``gcp.training.base_model`` setting). Checks that it is a Hugging Face causal LM."""
    return run_on_target(PrepareBaseModel, (base_model or "").strip())


class PrepareBaseModel:
    """The bodies of ``prepare_base_model`` (a plain task, no operator)."""

    @staticmethod
    def local(platform, explicit: str) -> str:
        if explicit:
            return _checked(platform.uri(explicit))
        storage = platform.storage_path
        out = storage / layout.base_model(BASE_MODEL_NAME)
        # A fixed pre-training corpus (help-centre articles and policies of a reference week, no injected
        # defects), independent of which daily partitions exist, so the base model's build key is stable.
        corpus = storage / (layout.base_model(BASE_MODEL_NAME).rstrip("/") + "-corpus")
        env = platform.child_env()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "llmops_factory.datagen",
                "generate",
                "--root",
                str(corpus),
                "--ds",
                BASE_CORPUS_START,
                "--days",
                str(BASE_CORPUS_DAYS),
                "--no-defects",
                "--seed",
                "0",
                "--scale",
                "2000",  # enough that every article and policy section of the facts appears
                "--sources",
                "help_center,policies",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"writing the base-model corpus failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
            )
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "llmops_trainer",
                "build-base",
                "--corpus",
                str(corpus / "raw" / "help_center"),
                str(corpus / "raw" / "policies"),
                "--output",
                str(out),
                "--name",
                BASE_MODEL_NAME,
                # extra build-base flags, e.g. a smaller model in tests: LLMOPS_BASE_MODEL_ARGS="--steps 20"
                *os.environ.get("LLMOPS_BASE_MODEL_ARGS", "").split(),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        log.info("%s", proc.stdout[-4000:])
        if proc.returncode != 0:
            raise RuntimeError(f"building the base model failed:\n{proc.stderr[-6000:]}")
        _check_causal_lm(str(out))
        return layout.base_model(BASE_MODEL_NAME)

    @staticmethod
    def gcp(platform, explicit: str) -> str:
        return _checked(platform.uri(explicit or platform.settings.gcp.training.base_model))


def _checked(path: str) -> str:
    _check_causal_lm(path)
    return path


def _check_causal_lm(path: str) -> None:
    from airflow.sdk import ObjectStoragePath

    config = ObjectStoragePath(path if "://" in path else f"file://{path}") / "config.json"
    if not config.exists():
        raise TaskInputError(
            f"base model {path} does not exist or has no config.json (not a Hugging Face model)"
        )
    try:
        architectures = json.loads(config.read_text()).get("architectures") or []
    except json.JSONDecodeError as exc:
        raise TaskInputError(f"{config} is not valid JSON: {exc}") from None
    if not any(a.endswith("ForCausalLM") for a in architectures):
        raise TaskInputError(f"base model {path} is not a causal LM (architectures={architectures})")


# -- plan_training --------------------------------------------------------------------------------
@fail_fast
def plan_training(
    prompt: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    base_model: str,
    run_id: str,
    *,
    lora_r: Sequence[int] | None = None,
    learning_rate: Sequence[float] | None = None,
    lora_alpha: int | None = None,
    lora_dropout: float | None = None,
    target_modules: Sequence[str] | None = None,
    epochs: float | None = None,
    machine_type: str | None = None,
    accelerator_type: str | None = None,
    accelerator_count: int | None = None,
) -> list[dict[str, Any]]:
    """One trial per point of the sweep grid (``lora_r`` × ``learning_rate``), keyed by the DAG run.

    ``None`` or empty values mean "the trainer config" (hyper-parameters) or "the setting" (machine).
    """
    from llmops_plugins.platform import get_platform

    platform = get_platform()
    pin = PromptPin.from_dict(prompt, where="resolve_prompt")
    snap = SnapshotRef.from_dict(snapshot, where="assemble_snapshot")
    ranks = list(lora_r or [8])
    rates = list(learning_rate or [2e-3])
    day = snap.window_end.replace("-", "")
    use_case = re.sub(r"[^a-z0-9-]", "-", platform.settings.use_case.lower())
    shared = {
        "lora_alpha": lora_alpha,
        "lora_dropout": lora_dropout,
        "lora_target_modules": target_modules,
        "num_train_epochs": epochs,
    }
    common = {k: v for k, v in shared.items() if v not in (None, "", [])}
    machine = {
        "machine_type": machine_type,
        "accelerator_type": accelerator_type,
        "accelerator_count": accelerator_count,
    }
    trials = [
        TrainingTrial(
            model_version=f"{use_case}-{day}-{layout.run_id_hash(run_id)}-t{index}",
            train_data=snap.train_data,
            eval_data=snap.eval_data,
            base_model=base_model,
            prompt_ref=pin.ref,
            prompt_hash=pin.hash,
            hparams={**common, "lora_r": int(rank), "learning_rate": float(rate)},
            config=platform.trainer_config,
            machine={k: v for k, v in machine.items() if v},
        )
        for index, (rank, rate) in enumerate(itertools.product(ranks, rates))
    ]
    log.info("sweep of %d trial(s): %s", len(trials), [t.hparams for t in trials])
    return [t.to_dict() for t in trials]


# -- train_model ----------------------------------------------------------------------------------
class RunTrainingJob(Step):
    """Run the trainer container entrypoint: a Vertex AI custom container job on gcp, a process locally.

    Both get the same arguments and the same ``AIP_MODEL_DIR`` / ``AIP_CHECKPOINT_DIR`` /
    ``AIP_TENSORBOARD_LOG_DIR`` layout under ``models/<model_version>/``, and both render the training
    text from the *published* prompt bundle the run pinned (its hash is checked by the trainer).
    ``machine`` overrides the training machine settings on gcp (``machine_type``, ``accelerator_type``,
    ``accelerator_count``, ``replica_count``); locally it is recorded only. Returns a
    :class:`~llmops_factory.handoffs.TrainedModel` (held-out loss, tokens/s, cost...).
    """

    template_fields: Sequence[str] = (
        "model_version",
        "train_data",
        "eval_data",
        "base_model",
        "prompt_ref",
        "prompt_hash",
        "hparams",
        "machine",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"hparams": "json"}
    operator_extra_links = (VertexAIModelLink(), VertexAITrainingLink())

    def __init__(
        self,
        *,
        model_version: str,
        train_data: str,
        eval_data: str,
        base_model: str,
        prompt_ref: str,
        prompt_hash: str,
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
        self.prompt_hash = prompt_hash
        self.hparams = hparams or {}
        self.config = config
        self.machine = machine or {}

    def trainer_args(self, platform, extra: Sequence[str] = ()) -> list[str]:
        """The trainer's command-line arguments: identical on both targets but for the storage root
        and ``extra`` (tracking backend, machine spec for the cost)."""
        args = [
            "train",
            "--config",
            f"trainer/configs/{self.config}.yaml",
            "--train_data",
            platform.uri(self.train_data),
            "--eval_data",
            platform.uri(self.eval_data),
            "--base_model",
            platform.uri(self.base_model),
            "--prompt",
            self.prompt_ref,
            "--prompt_root",
            platform.storage_uri,
            "--prompt_sha256",
            self.prompt_hash,
            "--output_dir",
            platform.uri(layout.model(self.model_version)),
            "--run_name",
            self.model_version,
        ]
        for key, value in sorted((self.hparams or {}).items()):
            values = value if isinstance(value, (list, tuple)) else [value]
            args += [f"--{key}", *(str(v) for v in values)]
        return args + [*platform.tracking_args(), *extra]

    def local(self, context, platform):
        out_dir = platform.storage_path / layout.model(self.model_version)
        env = platform.child_env(
            {
                "AIP_MODEL_DIR": str(out_dir),
                "AIP_CHECKPOINT_DIR": str(out_dir / "checkpoints"),
                "AIP_TENSORBOARD_LOG_DIR": str(out_dir / "logs"),
            }
        )
        machine = ["--machine_type", "local-cpu", "--accelerator_type", "NONE", "--accelerator_count", "0"]
        cmd = [sys.executable, "-m", "llmops_trainer", *self.trainer_args(platform, machine)]
        self.log.info("Running %s", " ".join(cmd))
        tail: deque[str] = deque(maxlen=40)
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._process = proc
        pid_file = out_dir / "trainer.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(json.dumps({"pid": proc.pid, "run_id": context["run_id"]}))
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            self.log.info("%s", line.rstrip())
        code = proc.wait()
        self._process = None
        pid_file.unlink(missing_ok=True)
        if code != 0:
            raise RuntimeError(f"trainer exited with code {code}; last lines:\n" + "\n".join(tail))
        return self.finish(context, None)

    def gcp(self, context, platform):
        from airflow.providers.google.cloud.operators.vertex_ai.custom_job import (
            CreateCustomContainerTrainingJobOperator,
        )

        settings = platform.settings
        project, bucket, staging, service_account, image = settings.require(
            "gcp.project_id",
            "gcp.bucket",
            "gcp.staging_bucket",
            "gcp.service_account",
            "gcp.training.container_uri",
        )
        training = settings.gcp.training.model_copy(
            update={k: v for k, v in (self.machine or {}).items() if v not in (None, "", 0)}
        )
        machine = [
            "--machine_type",
            training.machine_type,
            "--accelerator_type",
            training.accelerator_type,
            "--accelerator_count",
            str(training.accelerator_count),
            "--replica_count",
            str(training.replica_count),
        ]
        return CreateCustomContainerTrainingJobOperator(
            task_id=self.task_id,
            project_id=project,
            region=settings.gcp.region,
            display_name=self.model_version,
            container_uri=image,
            command=["python", "-m", "llmops_trainer"],
            args=self.trainer_args(platform, machine),
            environment_variables=platform.container_env(),
            staging_bucket=f"gs://{staging}",
            base_output_dir=platform.uri(layout.model(self.model_version)),
            service_account=training.service_account or service_account,
            machine_type=training.machine_type,
            accelerator_type=training.accelerator_type,
            accelerator_count=training.accelerator_count,
            replica_count=training.replica_count,
            boot_disk_size_gb=training.boot_disk_size_gb,
            labels=platform.labels(context, model_version=self.model_version),
            gcp_conn_id=settings.gcp.gcp_conn_id,
            deferrable=True,
        )

    def finish(self, context: Any, result: Any) -> Any:
        folder = self.platform().storage_root() / layout.model(self.model_version)
        metrics = json.loads((folder / "metrics.json").read_text())
        card = json.loads((folder / "model_card.json").read_text())
        return TrainedModel(
            model_version=self.model_version,
            hparams=self.hparams,
            metrics=metrics,
            tracking_run_id=(card.get("tracking") or {}).get("run_id"),
            lineage={
                "base_model": card.get("base_model"),
                "dataset": {k: v for k, v in (card.get("dataset") or {}).items() if k != "manifest"},
                "prompt": card.get("prompt"),
            },
        ).to_dict()


# -- cleanup_training_jobs ------------------------------------------------------------------------
_FINAL_STATES = {"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}


class CancelTrainingJobs(Step):
    """Teardown: cancel every training job of this DAG run that is still running.

    gcp: Vertex AI training pipelines labelled with this run's ``run_id_hash`` in a non-final state are
    cancelled; local: trainer processes of this run (pid files under ``models/<model_version>/``) that
    are still alive are terminated. Runs whatever happened upstream (a teardown task), so a failed,
    timed-out or killed training task never leaves a job burning accelerators.
    """

    template_fields: Sequence[str] = ("run_id",)

    def __init__(self, *, run_id: str = "{{ run_id }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id

    def local(self, context, platform) -> list[str]:
        import signal

        killed = []
        for pid_file in sorted(platform.storage_path.glob("models/*/trainer.pid")):
            try:
                info = json.loads(pid_file.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if info.get("run_id") != self.run_id:
                continue
            try:
                os.killpg(int(info["pid"]), signal.SIGTERM)
                killed.append(pid_file.parent.name)
                self.log.warning("terminated trainer process %s of %s", info["pid"], pid_file.parent.name)
            except ProcessLookupError:
                pass
            pid_file.unlink(missing_ok=True)
        return killed

    def gcp(self, context, platform) -> list[str]:
        from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

        settings = platform.settings
        project = settings.require("gcp.project_id")
        hook = CustomJobHook(gcp_conn_id=settings.gcp.gcp_conn_id)
        cancelled = []
        for pipeline in hook.list_training_pipelines(
            project_id=project,
            region=settings.gcp.region,
            filter=f'labels.app="llmops-factory" AND labels.run_id_hash="{layout.run_id_hash(self.run_id)}"',
        ):
            state = getattr(pipeline.state, "name", str(pipeline.state))
            if state in _FINAL_STATES:
                continue
            pipeline_id = pipeline.name.rsplit("/", 1)[-1]
            self.log.warning(
                "cancelling training pipeline %s (state %s) of run %s", pipeline.name, state, self.run_id
            )
            hook.cancel_training_pipeline(
                project_id=project, region=settings.gcp.region, training_pipeline=pipeline_id
            )
            cancelled.append(pipeline.name)
        return cancelled


# -- select_best ----------------------------------------------------------------------------------
@fail_fast
def select_best(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The trial with the lowest held-out loss; a trial without it can never win (fail closed)."""
    trained = [TrainedModel.from_dict(r, where="train_model") for r in results]
    scored = [t for t in trained if t.eval_loss is not None]
    if not scored:
        raise TaskInputError(f"no trial reported eval_loss: {[t.model_version for t in trained]}")
    ranking = sorted(scored, key=lambda t: (t.eval_loss, t.model_version))
    for rank, t in enumerate(ranking, 1):
        log.info("#%d %s eval_loss=%.4f hparams=%s", rank, t.model_version, t.eval_loss, t.hparams)
    best = ranking[0]
    trials = [
        {"model_version": t.model_version, "eval_loss": t.eval_loss, "hparams": t.hparams} for t in ranking
    ]
    return TrainedModel(**{**best.to_dict(), "trials": trials}).to_dict()


# -- register_candidate ---------------------------------------------------------------------------
class RegisterModelVersion(Step):
    """Register a trained model as a new version of the use case's registry model, alias ``candidate``.

    Target-neutral: the platform's registry is MLflow's locally and Vertex AI Model Registry on gcp.
    Idempotent: the version carries the DAG run's idempotency key, and a retry or re-run of the same
    DAG run returns the version it already made instead of creating a second one.
    """

    template_fields: Sequence[str] = ("trained", "idempotency_key")

    def __init__(
        self,
        *,
        trained: Any,
        idempotency_key: str = "{{ dag.dag_id }}:{{ run_id }}",
        alias: str = "candidate",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trained = trained
        self.idempotency_key = idempotency_key
        self.alias = alias

    def run(self, context, platform) -> dict[str, Any]:
        model = TrainedModel.from_dict(self.trained, where="select_best")
        registered = platform.registry().register(
            model_version=model.model_version,
            run_id=model.tracking_run_id,
            idempotency_key=self.idempotency_key,
            alias=self.alias,
            metrics=model.metrics,
            tags={
                "dag_id": context["dag"].dag_id,
                "dag_run_id": context["run_id"],
                **{
                    f"lineage.{k}": json.dumps(v, sort_keys=True, default=str)[:5000]
                    for k, v in model.lineage.items()
                },
            },
        )
        self.log.info(
            "registered %s as %s version %s (alias %s)",
            model.model_version,
            registered.model_name,
            registered.version,
            self.alias,
        )
        return Candidate(
            model_name=registered.model_name,
            version=registered.version,
            alias=self.alias,
            uri=registered.uri,
            model_version=model.model_version,
            metrics=model.metrics,
            hparams=model.hparams,
        ).to_dict()
