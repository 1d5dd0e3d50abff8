"""
# llmops_traffic — promote or roll back by hand (runbook)

**What it does.** The on-call engineer's lever on the endpoint, for when the daily `llmops_monitoring`
decision cannot wait or was wrong. Trigger it from the UI form (DAG → Trigger) or the REST API with an
`action` and a `reason`; it moves traffic exactly the way monitoring's `act` does, in the same
`llmops_endpoint` pool (never at the same time as a deployment or a monitoring action), and records who
did it and why.

1. `resolve_roles` — the endpoint's deployed models matched to the registry aliases `champion` /
   `challenger` (the same task as in `llmops_monitoring`).
2. `decide_by_hand` — checks the request: an action, a reason, and the champion and challenger it needs
   are on the endpoint; the reason recorded is `by hand (<user>): <reason>`.
3. `act` — `promote`: 100% to the challenger, alias `champion` moves to it, the old champion stays
   deployed at 0% as fallback (monitoring's `retire_fallback` undeploys it after
   `monitoring.fallback_hours`); `rollback`: 100% to the champion, the challenger undeployed, alias
   `challenger` back on the champion. The endpoint is read back to verify, then a `deployment_events` row
   is written.

**Failures and what to do.**
- `decide_by_hand` *no action / no reason*: trigger again with both (the form asks for them).
  *No challenger on the endpoint*: there is nothing to promote or roll back — read the split
  (`GET /v1/admin/endpoint` locally, the console on gcp). *Champion missing*: the champion alias points at
  a version that is not deployed; redeploy it with `llmops_deploy` first.
- `act` *split after the move is …*: the endpoint changed under the run; read it back and trigger again
  (the action is idempotent: a challenger already at 100% or already gone is not moved twice).

**Re-runs.** Safe: clearing `act` finds the endpoint already moved and only rewrites its event row.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from llmops_plugins.defaults import DEFAULT_ARGS, START_DATE, tags
from llmops_plugins.stages.monitoring import ActOnDecision, ResolveRoles
from llmops_plugins.stages.serving import ENDPOINT_POOL


@dag(
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("deployment", "monitoring"),
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "action": Param(
            None,
            type=["null", "string"],
            enum=[None, "promote", "rollback"],
            title="Action",
            description="promote: 100% to the challenger (it becomes champion); rollback: 100% to the "
            "champion, the challenger undeployed.",
        ),
        "reason": Param(
            None,
            type=["null", "string"],
            title="Reason",
            description="Why, in a sentence: recorded in deployment_events with your user name.",
        ),
    },
)
def llmops_traffic():
    roles = ResolveRoles(task_id="resolve_roles", pool=ENDPOINT_POOL)

    @task
    def decide_by_hand(roles: dict, params: dict | None = None, dag_run=None) -> dict:
        from llmops_plugins.stages.monitoring import decide_by_hand

        user = getattr(dag_run, "triggering_user_name", None) or "unknown user"
        return decide_by_hand(roles, params["action"], params["reason"], user)

    decision = decide_by_hand(roles.output)
    ActOnDecision(task_id="act", decision=decision, roles=roles.output, pool=ENDPOINT_POOL)


llmops_traffic()
