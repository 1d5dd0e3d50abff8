"""
# llmops_deploy — canary deployment of an approved model version (runbook)

**What it does.** Runs when evaluation approves a model version (asset `llmops_approved_model`), or
manually from the trigger form. A deployed model is *weights + prompt version*: a prompt-only change
(same `model_version`, another `prompt`) is deployed and A/B-tested the same way.

1. `resolve_release` — the model version (param, else the asset event), its merged weights (must
   exist), the published prompt (param, else the prompt it was trained with), canary share, machine.
2. `read_endpoint` — the endpoint's deployed models and traffic split before the change (local
   endpoint server / Vertex AI Endpoint, which Terraform creates; this DAG owns its traffic).
3. `ensure_registered` — the registry version that serves the release, registered with the serving
   container spec (`python -m llmops_trainer serve`, `/v1/predict`, `/v1/health`, port 8080) if missing.
4. `deploy_model` — deploys it beside the current models with `canary_percent` of traffic, the others
   scaled down proportionally (the split always sums to 100); the first deployment takes 100%. On gcp:
   the provider's DeployModel operator with `traffic_split`, machine / accelerator and min / max
   replicas. A release already on the endpoint is not deployed twice.
5. `smoke_test` — real requests to the new deployed model through the endpoint: answers, model and
   prompt versions, token counts, latency and (locally) the prediction-log rows are checked.
6. `restore_endpoint` — teardown: if the smoke test did not pass (failed, timed out, killed), undeploys
   the model this run added and restores the previous split, and records a `rollback` event.
7. `record_deployment` — the `deployment_events` row: action, model, prompt, split, reason, DAG run.
8. `move_aliases` — alias `challenger` to the deployed version; `champion` too on a first deployment.

Every endpoint task runs in the `llmops_endpoint` pool (one slot), shared with `llmops_monitoring`'s
promote / rollback, and `max_active_runs=1`: two runs never move traffic at the same time.

**Failures and what to do.**
- `resolve_release` *no merged weights / no model card / prompt not published*: fix the param (or
  publish the prompt: `python -m llmops_factory.prompts publish`); fails without retries.
- `read_endpoint` *no Vertex AI Endpoint named …*: apply the Terraform environment, or set
  `gcp.serving.endpoint_display_name`. Locally the endpoint server is started if it is not running
  (`python -m llmops_factory.endpoint stop` stops it).
- `deploy_model` *split does not sum to 100 / unknown id*: the endpoint changed under the run (someone
  moved traffic by hand); re-run. *Serving container did not start*: its log tail is in the message
  (locally also `.llmops/endpoints/<name>/logs/`); on gcp check the quota of the machine / accelerator.
- `smoke_test` failed: the message lists every failed check. Nothing to do by hand: `restore_endpoint`
  has already undeployed the new model and restored the previous split (see its log and the
  `rollback` row in `deployment_events`). Fix the model or prompt and run again.
- `restore_endpoint` failed: the endpoint may still hold the new model. Read the split from the endpoint
  (`GET /v1/admin/endpoint` locally, the console on gcp) and undeploy it with the previous split shown in
  the task log. Then clear the task.
- `record_deployment` / `move_aliases` failed: safe to clear; both are idempotent.

**Re-runs.** Safe: a release already deployed is found and kept (no second copy, no traffic change), the
event row of a run is replaced, aliases are set where they already point. To roll a canary back by hand,
use the monitoring DAG's rollback (or set the split and undeploy through the endpoint's admin API).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from llmops_plugins.assets import APPROVED_MODEL
from llmops_plugins.defaults import DEFAULT_ARGS, START_DATE, tags
from llmops_plugins.stages.serving import (
    ENDPOINT_POOL,
    DeployModel,
    EnsureServingVersion,
    MoveAliases,
    ReadEndpoint,
    RecordDeployment,
    RestoreEndpoint,
    SmokeTest,
)


@dag(
    schedule=[APPROVED_MODEL],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("deployment"),
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "model_version": Param(
            None,
            type=["null", "string"],
            title="Model version",
            description="models/<model_version>/merged is deployed. Empty: the approved "
            "model of the triggering asset event.",
        ),
        "prompt": Param(
            None,
            type=["null", "string"],
            pattern=r"^[a-z][a-z0-9_]*@[a-z0-9._-]+$",
            title="Prompt (name@version or name@alias)",
            description="Published prompt served with the weights. Empty: the prompt the model "
            "was trained with. Another prompt with the same weights = a prompt-only A/B.",
        ),
        "canary_percent": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=99,
            title="Canary traffic (%)",
            description="Share of traffic for the new model (empty: the deploy.canary_percent setting, 10); "
            "the first deployment takes 100.",
        ),
        "machine_type": Param(
            None,
            type=["null", "string"],
            title="Serving machine type (gcp)",
            description="Empty: the gcp.serving.machine_type setting (g2-standard-8).",
        ),
        "accelerator_type": Param(
            None,
            type=["null", "string"],
            title="Serving accelerator (gcp)",
            description="Empty: the setting (NVIDIA_L4).",
        ),
        "accelerator_count": Param(
            0, type="integer", minimum=0, maximum=8, title="Accelerators (gcp)", description="0: the setting."
        ),
        "min_replica_count": Param(
            0,
            type="integer",
            minimum=0,
            maximum=100,
            title="Min replicas (gcp)",
            description="0: the setting (1).",
        ),
        "max_replica_count": Param(
            0,
            type="integer",
            minimum=0,
            maximum=100,
            title="Max replicas (gcp)",
            description="0: the setting (2).",
        ),
        "smoke_requests": Param(8, type="integer", minimum=1, maximum=200, title="Smoke-test answers needed"),
        "smoke_max_latency_ms": Param(
            30000, type="integer", minimum=1, title="Smoke-test latency limit (ms)"
        ),
        "smoke_require_text": Param(
            True,
            type="boolean",
            title="Smoke test needs non-empty answers",
            description="Off only for a model that is not meant to answer in words yet.",
        ),
    },
)
def llmops_deploy():
    @task
    def resolve_release(params: dict | None = None, triggering_asset_events=None) -> dict:
        from llmops_plugins.stages.serving import resolve_release

        return resolve_release(params, triggering_asset_events)

    endpoint_task = {"pool": ENDPOINT_POOL}
    release = resolve_release()
    view = ReadEndpoint(task_id="read_endpoint", **endpoint_task)
    registered = EnsureServingVersion(task_id="ensure_registered", release=release)
    deployed = DeployModel(
        task_id="deploy_model",
        release=registered.output,
        endpoint=view.output,
        execution_timeout=dt.timedelta(minutes=45),
        **endpoint_task,
    )
    smoke = SmokeTest(
        task_id="smoke_test",
        release=registered.output,
        deployment=deployed.output,
        requests="{{ params.smoke_requests }}",
        max_latency_ms="{{ params.smoke_max_latency_ms }}",
        require_text="{{ params.smoke_require_text }}",
        execution_timeout=dt.timedelta(minutes=15),
        **endpoint_task,
    )
    restore = RestoreEndpoint(task_id="restore_endpoint", **endpoint_task)
    record = RecordDeployment(
        task_id="record_deployment", release=registered.output, deployment=deployed.output, smoke=smoke.output
    )
    aliases = MoveAliases(task_id="move_aliases", release=registered.output, deployment=deployed.output)

    release >> view >> registered >> deployed >> smoke >> record >> aliases
    [deployed, smoke] >> restore.as_teardown(setups=view)


llmops_deploy()
