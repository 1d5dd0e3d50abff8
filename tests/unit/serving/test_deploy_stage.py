"""The deploy stage on the local target, step by step against a real local endpoint and MLflow registry:
first deployment, smoke test, event and aliases; then a prompt-only canary whose smoke test fails and
is undeployed automatically with the previous split restored; re-runs change nothing."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException

from llmops_factory.endpoint import LocalEndpoint
from llmops_factory.endpoint.process import free_port
from tests.unit.serving.conftest import MODEL_VERSION
from tests.unit.trainer.conftest import subprocess_env

RUN_1 = "manual__2026-01-05T00:00:00+00:00"
RUN_2 = "manual__2026-01-06T00:00:00+00:00"


@pytest.fixture(scope="module")
def local_platform(tmp_path_factory, serving_storage):
    home = tmp_path_factory.mktemp("deploy-home")
    (home / "storage").symlink_to(serving_storage)
    port = free_port()
    patch = mock.patch.dict(
        "os.environ",
        {
            "LLMOPS_TARGET": "local",
            "LLMOPS_LOCAL__HOME": str(home),
            "LLMOPS_LOCAL__ENDPOINT_PORT": str(port),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        },
    )
    patch.start()
    env = subprocess_env(LLMOPS_SERVE_THREADS="1")
    for key in ("LLMOPS_LOCAL__HOME", "LLMOPS_LOCAL__ENDPOINT_PORT"):
        env.pop(key, None)
    endpoint = LocalEndpoint("support-assistant", home, port, flush_interval_s=60, env=env).start(
        timeout_s=180
    )
    from llmops_plugins.platform import get_platform

    yield SimpleNamespace(platform=get_platform(), home=home, endpoint=endpoint)
    endpoint.stop()
    patch.stop()


def context(task, run_id, xcoms=None):
    ti = mock.MagicMock(try_number=1, task_id=task.task_id, map_index=-1)
    ti.xcom_pull.side_effect = lambda task_ids=None, **kw: (xcoms or {}).get(task_ids)
    day = dt.datetime.fromisoformat(run_id.split("__")[1])
    return {
        "run_id": run_id,
        "dag": SimpleNamespace(dag_id="llmops_deploy"),
        "task": task,
        "ti": ti,
        "logical_date": day,
    }


def events(home):
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(
            "SELECT action, model_version, prompt_version, alias, traffic_split, reason, run_id "
            "FROM deployment_events ORDER BY event_time, action"
        ).fetchall()


def deploy_steps(params, run_id):
    """resolve → read → ensure_registered → deploy; returns (release, view, deployment) XComs."""
    from llmops_plugins.stages.serving import DeployModel, EnsureServingVersion, ReadEndpoint, resolve_release

    release = resolve_release(params)
    view_step = ReadEndpoint(task_id="read_endpoint")
    view = view_step.execute(context(view_step, run_id))
    registered_step = EnsureServingVersion(task_id="ensure_registered", release=release)
    registered = registered_step.execute(context(registered_step, run_id))
    deploy_step = DeployModel(task_id="deploy_model", release=registered, endpoint=view)
    return registered, view, deploy_step.execute(context(deploy_step, run_id))


def test_first_deployment_smoke_event_and_aliases(local_platform):
    from llmops_plugins.stages.serving import MoveAliases, RecordDeployment, SmokeTest

    release, view, deployment = deploy_steps({"model_version": MODEL_VERSION, "canary_percent": 10}, RUN_1)
    assert release["prompt_ref"] == "support_assistant@1.0.0"  # the prompt in the model card
    assert view["traffic_split"] == {} and deployment["first_deployment"] is True
    assert deployment["traffic_split"] == {deployment["deployed_model_id"]: 100}
    # the test model is a few pre-training steps old: it answers, but with no words yet
    smoke_step = SmokeTest(
        task_id="smoke_test", release=release, deployment=deployment, requests=3, require_text=False
    )
    smoke = smoke_step.execute(context(smoke_step, RUN_1))
    assert smoke["passed"] and smoke["answers"] == 3 and smoke["logged"] == 3
    record = RecordDeployment(
        task_id="record_deployment", release=release, deployment=deployment, smoke=smoke
    )
    record.execute(context(record, RUN_1))
    record.execute(context(record, RUN_1))  # a re-run replaces its own row
    aliases = MoveAliases(task_id="move_aliases", release=release, deployment=deployment)
    assert aliases.execute(context(aliases, RUN_1))["aliases"] == ["challenger", "champion"]
    registry = local_platform.platform.registry()
    assert registry.get_by_alias("champion").version == release["registry_version"]
    rows = events(local_platform.home)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("deploy", MODEL_VERSION, "support_assistant@1.0.0", "champion")
    ]
    assert json.loads(rows[0][4]) == deployment["traffic_split"]
    # a re-run finds the release on the endpoint and deploys nothing
    _, _, again = deploy_steps({"model_version": MODEL_VERSION, "canary_percent": 10}, RUN_1)
    assert again["already_deployed"] and again["deployed_model_id"] == deployment["deployed_model_id"]
    assert len(local_platform.platform.endpoint().describe()["deployed_models"]) == 1


def test_failed_smoke_test_undeploys_the_canary_and_restores_the_split(local_platform):
    from llmops_plugins.stages.serving import RestoreEndpoint, SmokeTest

    before = local_platform.platform.endpoint().describe()
    champion_id = next(iter(before["traffic_split"]))
    release, view, deployment = deploy_steps(
        {"model_version": MODEL_VERSION, "prompt": "support_assistant@1.1.0", "canary_percent": 20}, RUN_2
    )
    canary_id = deployment["deployed_model_id"]
    assert deployment["traffic_split"] == {champion_id: 80, canary_id: 20}
    assert local_platform.platform.endpoint().describe()["traffic_split"] == {champion_id: 80, canary_id: 20}
    smoke_step = SmokeTest(
        task_id="smoke_test", release=release, deployment=deployment, requests=2, max_latency_ms=0.001
    )  # no real answer is that fast: the smoke test must fail
    with pytest.raises(AirflowFailException, match="over the smoke-test limit"):
        smoke_step.execute(context(smoke_step, RUN_2))
    restore = RestoreEndpoint(task_id="restore_endpoint")
    xcoms = {
        "ensure_registered": release,
        "read_endpoint": view,
        "smoke_test": None,
        "deploy_model": deployment,
    }
    result = restore.execute(context(restore, RUN_2, xcoms))
    assert result == {"restored": True, "undeployed": [canary_id], "traffic_split": {champion_id: 100}}
    after = local_platform.platform.endpoint().describe()
    assert after["traffic_split"] == {champion_id: 100}
    assert [m["id"] for m in after["deployed_models"]] == [champion_id]
    assert (
        restore.execute(context(restore, RUN_2, xcoms))["restored"] is False
    )  # a re-run finds nothing to do
    rollback = [r for r in events(local_platform.home) if r[0] == "rollback"]
    assert len(rollback) == 1 and rollback[0][2] == "support_assistant@1.1.0" and rollback[0][6] == RUN_2
    assert json.loads(rollback[0][4]) == {champion_id: 100} and "smoke test failed" in rollback[0][5]
