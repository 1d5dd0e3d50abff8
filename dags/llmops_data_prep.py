"""
# llmops_data_prep — daily instruction dataset (runbook)

**What it does.** For the day of the run's data interval (`ds`), turns the raw partitions
`raw/<source>/dt=<ds>/` of every source (support chats, chat exports, help-centre articles, FAQ,
policies, ticket CSVs) into curated instruction-tuning examples:

1. `resolve_prompt` — resolves the `prompt` param (`name@version` or `name@alias`) to a published
   version and hash; both are shown in the run note.
2. `wait_for_raw_partition` — waits (deferrable on gcp, `reschedule` mode locally) until the day has
   at least one raw file. Times out after 6 hours.
3. `prepare_dataset` — the Beam pipeline `beam_jobs/data_prep.py` (Dataflow on gcp, DirectRunner
   locally): parse → normalise → redact PII → quality filters → exact + near-duplicate removal →
   format with the shared prompt renderer → train/eval split → JSONL shards, dead letters and a
   manifest under `datasets/daily-<ds>/`.
4. `load_examples`, `load_dead_letters` — replace the day's partition of `instruction_examples` /
   `dead_letter_records` (BigQuery `table$YYYYMMDD` + `WRITE_TRUNCATE`; DuckDB delete + insert).
5. `validate_dataset` — counts reconcile (in = out + filtered + dead-lettered), warehouse rows equal
   the manifest, dead-letter ratio under `thresholds.dead_letter_ratio_max`, no PII left (second scan).
6. `publish_dataset` — emits the `llmops_instruction_dataset` asset event, which triggers
   `llmops_finetune`.

**Failures and what to do.**
- `resolve_prompt` failed with `PromptNotFoundError`: the prompt version is not published in the
  storage root. `make airflow` publishes the repository's prompts when it starts; elsewhere run
  `python -m llmops_factory.prompts publish` (idempotent), then clear the task.
- `wait_for_raw_partition` timed out: the day's raw data never landed. Check the upstream export;
  when the files are there, clear the task (the run resumes from it).
- `prepare_dataset` failed: read the Beam/Dataflow log (link in the task log). A bad *record* never
  fails the job — it goes to `datasets/daily-<ds>/dead_letter/` with its reason — so a failure here is
  an infrastructure or code problem. Clear the task to re-run; it rewrites exactly that day's folder.
- `validate_dataset` failed: the message gives the counts. *Reconciliation* errors mean a pipeline bug
  (do not publish; open an incident). *Dead-letter ratio* errors mean bad raw data: look at
  `dead_letter_records` for the day (`reason`, `detail`, `source_uri`), fix the export and re-run
  the DAG run. *PII found* names the example ids and kinds: add or fix the recogniser, re-run.
- A task failed with `SettingsError`: a setting is missing; the message names it and its variable.

**Re-runs and backfills are safe.** Every write is keyed by `ds`: a re-run of a day replaces that day's
dataset folder and warehouse partitions and nothing else. Backfill a month from the UI (DAG → ⋯ →
Backfill) or `airflow backfill create --dag-id llmops_data_prep --from-date 2026-01-01 --to-date
2026-01-31`; the result equals the scheduled runs.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from llmops_plugins.assets import INSTRUCTION_DATASET
from llmops_plugins.defaults import DEFAULT_ARGS, START_DATE, tags
from llmops_plugins.prompt_params import prompt_param
from llmops_plugins.stages.data import LoadWarehousePartition, RunBeamPipeline, WaitForRawPartition

DATASET = "datasets/daily-{{ ds }}"


@dag(
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=tags("data"),
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "prompt": prompt_param(title="Serving prompt used to format the examples"),
        "eval_fraction": Param(
            0.1,
            type="number",
            minimum=0.0,
            maximum=0.5,
            title="Eval fraction",
            description="Share of conversations/documents (by stable hash of their id) put in the eval split.",
        ),
    },
)
def llmops_data_prep():
    @task
    def resolve_prompt(params: dict | None = None, **context) -> dict:
        from llmops_plugins.prompt_params import resolve_prompt_for_run

        return resolve_prompt_for_run(params["prompt"], context)

    prompt = resolve_prompt()

    wait = WaitForRawPartition(
        task_id="wait_for_raw_partition",
        timeout=dt.timedelta(hours=6).total_seconds(),
        poke_interval=dt.timedelta(minutes=5).total_seconds(),
    )

    prepare = RunBeamPipeline(
        task_id="prepare_dataset",
        pipeline="data_prep",
        job_name="llmops-data-prep-{{ ds_nodash }}",
        pipeline_options={
            "ds": "{{ ds }}",
            "prompt": "{{ ti.xcom_pull(task_ids='resolve_prompt')['ref'] }}",
            "eval_fraction": "{{ params.eval_fraction }}",
        },
    )

    load_examples = LoadWarehousePartition(
        task_id="load_examples",
        table="instruction_examples",
        partition_date="{{ ds }}",
        sources=[f"{DATASET}/train/*.jsonl", f"{DATASET}/eval/*.jsonl"],
    )
    load_dead_letters = LoadWarehousePartition(
        task_id="load_dead_letters",
        table="dead_letter_records",
        partition_date="{{ ds }}",
        sources=[f"{DATASET}/dead_letter/*.jsonl"],
    )

    @task
    def validate_dataset(ds: str | None = None) -> dict:
        from llmops_plugins.stages.data import validate_daily_dataset

        return validate_daily_dataset(ds)

    @task(outlets=[INSTRUCTION_DATASET])
    def publish_dataset(report: dict, *, outlet_events=None) -> dict:
        outlet_events[INSTRUCTION_DATASET].extra = report
        return report

    validated = validate_dataset()
    prompt >> wait >> prepare >> [load_examples, load_dead_letters] >> validated
    publish_dataset(validated)


llmops_data_prep()
