"""
# llmops_finetune — LoRA fine-tuning of a candidate model (runbook)

**What it does.** Runs when `llmops_data_prep` publishes a new instruction dataset (asset
`llmops_instruction_dataset`), or manually from the trigger form:

1. `resolve_prompt` — the serving prompt the model is trained with (`name@version` or alias); the
   resolved version and hash go to the run note and the model card.
2. `assemble_snapshot` — a training snapshot of the last `window_days` daily datasets: cross-day
   dedup, no near-duplicate across train/eval; its version is its content hash (same days → same
   snapshot, reused).
3. `prepare_base_model` — locally, builds (once, cached) the project's small Llama-architecture base
   model; on gcp, checks that the `base_model` path holds a Hugging Face causal LM.
4. `plan_training` — expands the sweep grid (`lora_r` × `learning_rate`) into one trial per point.
5. `train_model` (mapped, one per trial) — the trainer container: a Vertex AI custom container job
   (A100 by default, deferrable) on gcp, the same entrypoint as a process locally. Checkpoints go to
   `models/<model_version>/checkpoints/`; a retried task resumes from the newest one.
6. `cleanup_training_jobs` — teardown: cancels any training job of this run still running (a Vertex
   AI training pipeline labelled with the run, or a local trainer process), whatever happened upstream
   (it also runs, with nothing to cancel, when an early task failed).
7. `select_best` — the trial with the lowest held-out loss becomes the candidate; all stay tracked
   (MLflow locally, Vertex AI Experiments on gcp) for comparison.
8. `register_candidate` — registers it as a new version of the use case's model with alias
   `candidate` (MLflow registry / Vertex AI Model Registry); a re-run of the same DAG run returns the
   version it already made.
9. `publish_candidate` — emits the `llmops_candidate_model` asset event (evaluation starts from it).

**Failures and what to do.**
- `resolve_prompt` failed with `PromptNotFoundError`: the prompt version is not published. `make
  airflow` publishes the repository's prompts when it starts; elsewhere run `python -m
  llmops_factory.prompts publish` (idempotent), then clear the task.
- `assemble_snapshot` *empty or missing partitions*: the message names the dates; run (or backfill)
  `llmops_data_prep` for them, or shorten `window_days`.
- `prepare_base_model` *not a causal LM / does not exist*: fix the `base_model` param or setting.
- `train_model` failed: the log tail names the cause. Bad arguments (e.g. LoRA target modules that do
  not exist) fail before any training. Out of memory on gcp: lower `per_device_batch_size` or pick a
  bigger machine in the form. Clear the mapped task to retry: it resumes from its last checkpoint.
  Killing the task (mark failed / timeout) cancels the Vertex AI job: the provider operator's `on_kill`
  while it runs, `cleanup_training_jobs` while it is deferred.
- `register_candidate` failed: safe to clear; it is idempotent.

**Re-runs.** Outputs are keyed by the DAG run (`models/<model_version>/`, where `model_version` is
derived from the run id and trial index), so a retry overwrites only its own run's files.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from llmops_plugins.assets import CANDIDATE_MODEL, INSTRUCTION_DATASET
from llmops_plugins.defaults import DEFAULT_ARGS, START_DATE, tags
from llmops_plugins.prompt_params import prompt_param
from llmops_plugins.stages.training import CancelTrainingJobs, RegisterModelVersion, RunTrainingJob


@dag(
    schedule=[INSTRUCTION_DATASET],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("training"),
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "prompt": prompt_param(title="Prompt the model is trained with"),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Dataset window end (YYYY-MM-DD)",
            description="Last day of data to train on. Empty: the triggering dataset's day, else the run's date.",
        ),
        "window_days": Param(3, type="integer", minimum=1, maximum=365, title="Dataset window (days)"),
        "base_model": Param(
            None,
            type=["null", "string"],
            title="Base model",
            description="HF causal LM: a gs:// or local folder, or a path under the storage root. "
            "Empty: the `training.base_model` setting (locally, the project-built tiny Llama).",
        ),
        "lora_r": Param(
            [16],
            type="array",
            items={"type": "integer", "minimum": 1, "maximum": 256},
            title="LoRA rank(s)",
            description="Sweep grid axis: one trial per value x learning rate.",
        ),
        "learning_rate": Param(
            [0.003],
            type="array",
            items={"type": "number", "exclusiveMinimum": 0},
            title="Learning rate(s)",
            description="Sweep grid axis.",
        ),
        "lora_alpha": Param(32, type="integer", minimum=1, title="LoRA alpha"),
        "lora_dropout": Param(0.05, type="number", minimum=0, maximum=0.5, title="LoRA dropout"),
        "target_modules": Param(
            ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            type="array",
            items={"type": "string"},
            title="LoRA target modules",
            description="Every attention and MLP projection by default: on the local model the training "
            "loss falls faster than with adapters on q/v only.",
        ),
        "epochs": Param(3, type="number", exclusiveMinimum=0, maximum=50, title="Epochs"),
        "machine_type": Param(
            None,
            type=["null", "string"],
            title="Machine type (gcp)",
            description="Empty: the `gcp.training.machine_type` setting (a2-highgpu-1g).",
        ),
        "accelerator_type": Param(
            None,
            type=["null", "string"],
            title="Accelerator type (gcp)",
            description="Empty: the setting (NVIDIA_TESLA_A100).",
        ),
        "accelerator_count": Param(
            0,
            type="integer",
            minimum=0,
            maximum=16,
            title="Accelerators (gcp)",
            description="0: the setting.",
        ),
    },
)
def llmops_finetune():
    @task
    def resolve_prompt(params: dict | None = None, **context) -> dict:
        from llmops_plugins.prompt_params import resolve_prompt_for_run

        return resolve_prompt_for_run(params["prompt"], context)

    @task
    def assemble_snapshot(
        params: dict | None = None, triggering_asset_events=None, logical_date=None, dag_run=None
    ) -> dict:
        from llmops_plugins.stages.training import assemble_snapshot, window_end

        end = window_end(
            params["window_end"], triggering_asset_events, logical_date, getattr(dag_run, "run_after", None)
        )
        return assemble_snapshot(end, params["window_days"])

    @task
    def prepare_base_model(params: dict | None = None) -> str:
        from llmops_plugins.stages.training import prepare_base_model

        return prepare_base_model(params["base_model"])

    @task
    def plan_training(
        prompt: dict, snapshot: dict, base_model: str, params: dict | None = None, run_id: str | None = None
    ) -> list[dict]:
        from llmops_plugins.stages.training import plan_training

        return plan_training(
            prompt,
            snapshot,
            base_model,
            run_id,
            lora_r=params["lora_r"],
            learning_rate=params["learning_rate"],
            lora_alpha=params["lora_alpha"],
            lora_dropout=params["lora_dropout"],
            target_modules=params["target_modules"],
            epochs=params["epochs"],
            machine_type=params["machine_type"],
            accelerator_type=params["accelerator_type"],
            accelerator_count=params["accelerator_count"],
        )

    trials = plan_training(resolve_prompt(), assemble_snapshot(), prepare_base_model())

    trained = RunTrainingJob.partial(task_id="train_model", max_active_tis_per_dagrun=2).expand_kwargs(trials)
    # A teardown without setups: it runs once everything upstream is done, whatever the states (an
    # early failure leaves it nothing to cancel, but it must not end upstream_failed either); as a
    # teardown its own failure does not decide the run's state.
    cleanup = CancelTrainingJobs(task_id="cleanup_training_jobs")
    trained >> cleanup.as_teardown()

    @task
    def select_best(results: list[dict]) -> dict:
        from llmops_plugins.stages.training import select_best

        return select_best(list(results))

    best = select_best(trained.output)

    register = RegisterModelVersion(task_id="register_candidate", trained=best)

    @task(outlets=[CANDIDATE_MODEL])
    def publish_candidate(candidate: dict, *, outlet_events=None) -> dict:
        outlet_events[CANDIDATE_MODEL].extra = candidate
        return candidate

    best >> publish_candidate(register.output)


llmops_finetune()
