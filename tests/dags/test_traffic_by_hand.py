"""``llmops_traffic``: promote or roll back by hand — the request is checked before anything moves."""

from __future__ import annotations

import pytest
from airflow.exceptions import AirflowFailException

from llmops_plugins.stages.monitoring import decide_by_hand

ROLES = {
    "roles": [
        {"role": "champion", "deployed_model_id": "1", "model_version": "v1"},
        {"role": "challenger", "deployed_model_id": "2", "model_version": "v2"},
    ],
    "champion_version": "v1",
    "traffic_split": {"1": 90, "2": 10},
}


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_a_checked_request_becomes_the_decision_with_who_and_why(action):
    decision = decide_by_hand(ROLES, action, "  canary answers in French  ", "alice")
    assert decision == {"action": action, "reasons": ["by hand (alice): canary answers in French"]}


@pytest.mark.parametrize(
    ("roles", "action", "reason", "message"),
    [
        (ROLES, None, "why", "action must be promote or rollback"),
        (ROLES, "restart", "why", "action must be promote or rollback"),
        (ROLES, "rollback", " ", "reason is empty"),
        (
            {"roles": ROLES["roles"][1:], "champion_version": "v1"},
            "rollback",
            "why",
            "champion \\(v1\\) is not",
        ),
        ({"roles": ROLES["roles"][:1], "traffic_split": {"1": 100}}, "promote", "why", "no challenger"),
        ("garbage", "promote", "why", "resolve_roles: expected"),
    ],
)
def test_a_request_that_cannot_be_carried_out_fails_without_retries_naming_why(
    roles, action, reason, message
):
    with pytest.raises(AirflowFailException, match=message):
        decide_by_hand(roles, action, reason, "bob")


def test_the_dag_acts_in_the_endpoint_pool_with_one_run_at_a_time():
    from airflow.dag_processing.dagbag import DagBag

    from llmops_plugins.stages.serving import ENDPOINT_POOL
    from tests.dags.helpers import REPO

    dag = DagBag(dag_folder=str(REPO / "dags" / "llmops_traffic.py")).dags["llmops_traffic"]
    assert dag.max_active_runs == 1 and dag.schedule is None
    assert {dag.get_task(t).pool for t in ("resolve_roles", "act")} == {ENDPOINT_POOL}
    assert dag.params["action"] is None and dag.params["reason"] is None
