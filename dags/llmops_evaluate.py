"""
# llmops_evaluate — automatic evaluation, human review and the quality gate (runbook)

**What it does.** Runs when `llmops_finetune` publishes a candidate (asset `llmops_candidate_model`), or
manually from the trigger form (`model_version`, reviewer mode). It scores the candidate against the
eval split of its own training snapshot and the benchmark, next to the production model (alias
`champion`) and the base model, asks reviewers to rate a sample, and decides whether it may be deployed.

1. `plan_evaluation` — the candidate (asset event, form or the `candidate` alias), the champion, the base
   model from the candidate's model card, its snapshot's eval split and its pinned prompt; with
   `compare_prompts`, the candidate again with each other prompt version (offline prompt comparison:
   the best combination of data, prompt and hyper-parameters goes to `eval_results`, suite
   `prompt_comparison`, and the version's tag `eval.best_prompt`).
2. `build_eval_set` — `eval/<model_version>/inputs/`: eval questions, counterfactual bias probes (same
   question, other names/genders/regions), the corpus's toxic prompts, the benchmark (domain items from the
   facts table + any MMLU CSV of `evaluation.mmlu_csv`). Items that are near-duplicates of training
   examples (the data-prep MinHash unit) are excluded and counted.
3. `plan_generation` lists the models to answer (candidate, champion if another version holds the
   alias, base); `batch_generate` (mapped, one per model) — the container's `batch-generate` entrypoint: a
   Vertex AI custom job on a GPU on gcp (deferrable), a process locally. The champion's answers are reused
   when its version already answered this dataset + prompt.
4. `score_models` — ROUGE, BLEU, chrF, exact match, held-out loss, benchmark accuracy (option
   log-likelihood, 95% interval), unsafe rate (the shared toxicity model), PII leaks, hallucination against
   the facts table, relevance (MiniLM embeddings), bias gap, per-slice results; to `eval_results`, the
   candidate's experiment run and registry tags; the review sample to `review_queue` (in simulated mode
   the simulated reviewer also rates it, labelled "simulated").
5. `wait_for_reviews` — deferred until `evaluation.review.min_labels` ratings exist (Review page:
   Airflow UI → Browse/Review, or `/llmops-review/`); at `timeout_hours` it fails closed by default.
6. `quality_gate` — absolute thresholds AND no regression vs the champion AND better than base AND human
   ratings; a missing or NaN metric blocks. Decision and every reason go to `eval_results` (suite `gate`),
   the run note, `eval/<model_version>/decision.json` and the HTML report `eval/<model_version>/report.html`.
7. `route_decision` — approved → `sign_off`; rejected → `reject_candidate`.
8. `sign_off` — Airflow's human-in-the-loop approval (Required actions in the UI, or the REST API
   `PATCH …/taskInstances/sign_off/-1/hitlDetails`); Reject skips the promotion.
9. `promote_challenger` — alias `challenger` on the version and the `llmops_approved_model` asset event
   (deployment starts from it).
10. `reject_candidate` — tags the version `evaluation=rejected` with the reasons; nothing is deployed.

**Failures and what to do.**
- `plan_evaluation` *model version does not exist / no eval split*: the message names the version or the
  split; check the form's `model_version`, or re-run `llmops_finetune` for the snapshot.
- `build_eval_set` *benchmark CSV malformed*: the message names the file and line; fix or remove it from
  `evaluation.mmlu_csv`.
- `batch_generate` failed: the log tail names the cause (a refused input exits without retries); clear the
  mapped task to retry — finished models are reused.
- `score_models` *empty generation*: the model produced nothing for the eval questions; it is not scored
  as a pass. Check the model folder and prompt.
- `wait_for_reviews` timed out: rate the queued items on the Review page, then clear the task.
- `quality_gate` is never a failure: a rejection is a decision — read the run note / report; the candidate
  keeps alias `candidate` and is tagged `evaluation=rejected`.

**Re-runs.** Every output is keyed by the model version (`eval/<model_version>/`, warehouse rows by
model version and suite, review items by id), so clearing any task rewrites only its own results.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from llmops_plugins.assets import APPROVED_MODEL, CANDIDATE_MODEL
from llmops_plugins.defaults import DEFAULT_ARGS, START_DATE, tags
from llmops_plugins.stages.evaluation import BatchGenerate, SignOff, WaitForReviews


@dag(
    schedule=[CANDIDATE_MODEL],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("evaluation"),
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "model_version": Param(
            None,
            type=["null", "string"],
            title="Model version",
            description="The model version folder (models/<model_version>/) to evaluate. Empty: the triggering "
            "candidate event, else the registry's `candidate` alias.",
        ),
        "compare_prompts": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            title="Also try these prompt versions",
            description="Offline prompt comparison: the candidate also answers with each name@version "
            "(published bundles); eval_results (suite prompt_comparison) records which combination of data, "
            "prompt and hyper-parameters scored best. The gate judges the pinned prompt.",
        ),
    },
)
def llmops_evaluate():
    @task
    def plan_evaluation(params: dict | None = None, triggering_asset_events=None) -> dict:
        from llmops_plugins.stages.evaluation import plan_evaluation

        return plan_evaluation(triggering_asset_events, params["model_version"], params["compare_prompts"])

    @task
    def build_eval_set(plan: dict) -> dict:
        from llmops_plugins.stages.evaluation import build_eval_set

        return build_eval_set(plan)

    @task
    def plan_generation(plan: dict) -> list[dict]:
        from llmops_plugins.stages.evaluation import generation_jobs

        return generation_jobs(plan)

    @task
    def score_models(plan: dict, generated: list[dict], **context) -> dict:
        from llmops_plugins.stages.evaluation import score_models

        return score_models(plan, list(generated), context)

    @task
    def quality_gate(plan: dict, result: dict, **context) -> dict:
        from llmops_plugins.stages.evaluation import quality_gate

        return quality_gate(plan, result, context)

    @task.branch
    def route_decision(gate: dict) -> str:
        from llmops_plugins.stages.evaluation import route_decision

        return route_decision(gate)

    @task(outlets=[APPROVED_MODEL])
    def promote_challenger(plan: dict, gate: dict, *, outlet_events=None) -> dict:
        from llmops_plugins.stages.evaluation import promote_challenger

        approved = promote_challenger(plan, gate)
        outlet_events[APPROVED_MODEL].extra = approved
        return approved

    @task
    def reject_candidate(plan: dict, gate: dict) -> str:
        from llmops_plugins.stages.evaluation import reject_candidate

        return reject_candidate(plan, gate)

    plan = plan_evaluation()
    inputs = build_eval_set(plan)
    jobs = plan_generation(plan)
    inputs >> jobs
    generated = BatchGenerate.partial(task_id="batch_generate", max_active_tis_per_dagrun=1).expand_kwargs(
        jobs
    )
    result = score_models(plan, generated.output)
    wait = WaitForReviews(
        task_id="wait_for_reviews",
        model_version="{{ ti.xcom_pull(task_ids='plan_evaluation')['candidate']['model_version'] }}",
        timeout=dt.timedelta(days=7).total_seconds(),
    )
    gate = quality_gate(plan, result)
    result >> wait >> gate
    route = route_decision(gate)
    sign_off = SignOff(
        task_id="sign_off",
        subject="Deploy {{ ti.xcom_pull(task_ids='quality_gate')['model_version'] }} as challenger?",
        body="The quality gate approved it. Report: {{ ti.xcom_pull(task_ids='quality_gate')['report_uri'] }}\n\n"
        "{{ ti.xcom_pull(task_ids='quality_gate')['checks'] | join('\n') }}",
        response_timeout=dt.timedelta(days=7),  # the wait for a human (deferred, no worker slot)
        execution_timeout=dt.timedelta(minutes=30),  # the task's own work around that wait
    )
    route >> [sign_off, reject_candidate(plan, gate)]
    sign_off >> promote_challenger(plan, gate)


llmops_evaluate()
