"""Contract tests of the deploy stage on gcp: the exact Vertex AI requests (no cloud account is used).

The model upload registers the serving container exactly as ``python -m llmops_trainer serve`` expects
it (command, args, routes, port, environment); the deploy sends ``traffic_split`` (canary from the
existing deployed-model ids, sums to 100), the machine / accelerator and the replica range; the restore
teardown undeploys with the previous split; deployment events are an idempotent BigQuery script.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest import mock

import pytest

RUN_ID = "manual__2026-01-05T00:00:00+00:00"
MODEL = "projects/acme-llmops/locations/europe-west4/models/77"
ENDPOINT = "projects/acme-llmops/locations/europe-west4/endpoints/4242"


def _context(task, xcoms=None):
    ti = mock.MagicMock(try_number=1, task_id=task.task_id, map_index=-1)
    ti.xcom_pull.side_effect = lambda task_ids=None, **kw: (xcoms or {}).get(task_ids)
    return {
        "run_id": RUN_ID,
        "dag": SimpleNamespace(dag_id="llmops_deploy"),
        "task": task,
        "ti": ti,
        "logical_date": dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    }


def _release(**overrides):
    from llmops_factory.deployment import Release

    values = dict(
        model_name=MODEL,
        model_version="support-assistant-20260105-aa-t0",
        registry_version="3",
        model_uri="gs://acme-llmops-data/models/support-assistant-20260105-aa-t0/merged/",
        prompt_ref="support_assistant@1.1.0",
        prompt_version="1.1.0",
        prompt_hash="0" * 64,
        canary_percent=10,
        machine={},
        reason="approved model",
    )
    values.update(overrides)
    return Release(**values).to_dict()


def _view(split=None, models=None):
    models = (
        models
        if models is not None
        else [
            {
                "id": "111",
                "model_version": "support-assistant-20260101-bb-t0",
                "prompt": "support_assistant@1.0.0",
                "display_name": "support-assistant-20260101-bb-t0+support_assistant@1.0.0",
            }
        ]
    )
    return {
        "endpoint": ENDPOINT,
        "deployed_models": models,
        "traffic_split": split if split is not None else {"111": 100},
    }


def test_serving_container_spec_matches_the_entrypoint(gcp_env):
    from llmops_factory.settings import get_settings
    from llmops_plugins.platform.gcp import model_upload_request
    from llmops_trainer.__main__ import COMMANDS
    from llmops_trainer.serve import DEFAULT_HEALTH_ROUTE, DEFAULT_PORT, DEFAULT_PREDICT_ROUTE, parse_config

    body = model_upload_request(get_settings(), "v7", "key", None, {}, prompt_ref="support_assistant@1.1.0")
    spec = body["container_spec"]
    assert spec["command"] == ["python", "-m", "llmops_trainer"] and spec["args"] == ["serve"]
    assert spec["args"][0] in COMMANDS
    assert spec["predict_route"] == DEFAULT_PREDICT_ROUTE == "/v1/predict"
    assert spec["health_route"] == DEFAULT_HEALTH_ROUTE == "/v1/health"
    assert spec["ports"] == [{"container_port": DEFAULT_PORT}]
    env = {e["name"]: e["value"] for e in spec["env"]}
    assert env == {
        "LLMOPS_TARGET": "gcp",
        "LLMOPS_MODEL_VERSION": "v7",
        "LLMOPS_PROMPT_ROOT": "gs://acme-llmops-data",
        "LLMOPS_PROMPT": "support_assistant@1.1.0",
    }
    assert body["artifact_uri"] == "gs://acme-llmops-data/models/v7/merged/" and body["version_aliases"] == []
    assert body["labels"]["prompt"] == "support_assistant-1-1-0"
    # what Vertex AI sets from this spec is exactly what the entrypoint reads
    config = parse_config(
        [],
        {
            **env,
            "AIP_HTTP_PORT": str(DEFAULT_PORT),
            "AIP_HEALTH_ROUTE": spec["health_route"],
            "AIP_PREDICT_ROUTE": spec["predict_route"],
            "AIP_STORAGE_URI": body["artifact_uri"],
        },
    )
    assert (config.model_version, config.prompt, config.port) == ("v7", "support_assistant@1.1.0", 8080)


def test_ensure_registered_uploads_a_prompt_specific_version_once(gcp_env):
    from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

    from llmops_plugins.stages.serving import EnsureServingVersion

    step = EnsureServingVersion(
        task_id="ensure_registered", release=_release(model_name="support-assistant", registry_version=None)
    )
    parent = SimpleNamespace(name=MODEL)
    op = mock.MagicMock()
    op.result.return_value = SimpleNamespace(model=MODEL, model_version_id="4")
    with (
        mock.patch.object(ModelServiceHook, "list_models", return_value=[parent]),
        mock.patch.object(ModelServiceHook, "list_model_versions", return_value=[]),
        mock.patch.object(ModelServiceHook, "upload_model", return_value=op) as upload,
    ):
        result = step.execute(_context(step))
    kw = upload.call_args.kwargs
    assert kw["parent_model"] == MODEL
    env = {e["name"]: e["value"] for e in kw["model"]["container_spec"]["env"]}
    assert env["LLMOPS_PROMPT"] == "support_assistant@1.1.0"
    assert result["registry_version"] == "4" and result["model_name"] == MODEL
    done = SimpleNamespace(labels=kw["model"]["labels"], version_id="4", version_aliases=[])
    with (
        mock.patch.object(ModelServiceHook, "list_models", return_value=[parent]),
        mock.patch.object(ModelServiceHook, "list_model_versions", return_value=[done]),
        mock.patch.object(ModelServiceHook, "upload_model") as upload_again,
    ):
        again = step.execute(_context(step))
    upload_again.assert_not_called()
    assert again["registry_version"] == "4"


def _deploy(release=None, view=None):
    from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook

    from llmops_plugins.stages.serving import DeployModel

    step = DeployModel(task_id="deploy_model", release=release or _release(), endpoint=view or _view())
    result_body = {"deployed_model": {"id": "222"}}
    with (
        mock.patch.object(EndpointServiceHook, "deploy_model") as deploy,
        mock.patch.object(EndpointServiceHook, "wait_for_operation", return_value=mock.MagicMock()),
        mock.patch(
            "google.cloud.aiplatform_v1.types.endpoint_service.DeployModelResponse.to_dict",
            return_value=result_body,
        ),
        mock.patch("airflow.providers.google.cloud.operators.vertex_ai.endpoint_service.VertexAIModelLink"),
    ):
        result = step.execute(_context(step))
    return deploy, result


def test_deploy_sends_the_canary_split_machine_and_replicas(gcp_env):
    deploy, result = _deploy()
    kw = deploy.call_args.kwargs
    assert kw["project_id"] == "acme-llmops" and kw["region"] == "europe-west4" and kw["endpoint"] == "4242"
    assert kw["traffic_split"] == {"111": 90, "0": 10}
    assert sum(kw["traffic_split"].values()) == 100
    model = kw["deployed_model"]
    assert model["model"] == f"{MODEL}@3"
    assert model["display_name"] == "support-assistant-20260105-aa-t0+support_assistant@1.1.0"
    assert model["dedicated_resources"] == {
        "machine_spec": {
            "machine_type": "g2-standard-8",
            "accelerator_type": "NVIDIA_L4",
            "accelerator_count": 1,
        },
        "min_replica_count": 1,
        "max_replica_count": 2,
    }
    assert result["deployed_model_id"] == "222"
    assert result["traffic_split"] == {"111": 90, "222": 10} and result["previous_split"] == {"111": 100}
    assert result["first_deployment"] is False


def test_form_overrides_the_serving_machine_and_first_deployment_takes_all(gcp_env):
    release = _release(
        machine={
            "machine_type": "n1-standard-8",
            "accelerator_type": "NVIDIA_TESLA_T4",
            "accelerator_count": 2,
            "min_replica_count": 2,
            "max_replica_count": 5,
        }
    )
    deploy, result = _deploy(release, _view(split={}, models=[]))
    kw = deploy.call_args.kwargs
    assert kw["traffic_split"] == {"0": 100}
    assert kw["deployed_model"]["dedicated_resources"] == {
        "machine_spec": {
            "machine_type": "n1-standard-8",
            "accelerator_type": "NVIDIA_TESLA_T4",
            "accelerator_count": 2,
        },
        "min_replica_count": 2,
        "max_replica_count": 5,
    }
    assert result["first_deployment"] is True and result["traffic_split"] == {"222": 100}


def test_a_release_already_on_the_endpoint_is_not_deployed_again(gcp_env):
    view = _view(
        split={"111": 90, "222": 10},
        models=[
            *_view()["deployed_models"],
            {
                "id": "222",
                "model_version": "support-assistant-20260105-aa-t0",
                "prompt": "support_assistant@1.1.0",
                "display_name": "support-assistant-20260105-aa-t0+support_assistant@1.1.0",
            },
        ],
    )
    deploy, result = _deploy(view=view)
    deploy.assert_not_called()
    assert result["already_deployed"] is True and result["deployed_model_id"] == "222"


def test_restore_undeploys_the_new_model_with_the_previous_split(gcp_env):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook

    from llmops_plugins.stages.serving import RestoreEndpoint

    after = SimpleNamespace(
        name=ENDPOINT,
        traffic_split={"111": 90, "222": 10},
        deployed_models=[
            SimpleNamespace(
                id="111", display_name="support-assistant-20260101-bb-t0+support_assistant@1.0.0"
            ),
            SimpleNamespace(
                id="222", display_name="support-assistant-20260105-aa-t0+support_assistant@1.1.0"
            ),
        ],
    )
    step = RestoreEndpoint(task_id="restore_endpoint")
    xcoms = {"ensure_registered": _release(), "read_endpoint": _view(), "smoke_test": None}
    with (
        mock.patch.object(EndpointServiceHook, "list_endpoints", return_value=[after]),
        mock.patch.object(EndpointServiceHook, "undeploy_model") as undeploy,
        mock.patch.object(BigQueryHook, "insert_job") as insert,
    ):
        result = step.execute(_context(step, xcoms))
    kw = undeploy.call_args.kwargs
    assert (
        kw["endpoint"] == "4242" and kw["deployed_model_id"] == "222" and kw["traffic_split"] == {"111": 100}
    )
    assert result == {"restored": True, "undeployed": ["222"], "traffic_split": {"111": 100}}
    query = insert.call_args.kwargs["configuration"]["query"]
    assert query["query"].startswith(
        "DELETE FROM `acme-llmops.llmops.deployment_events` WHERE event_id = @r0_event_id;"
    )
    params = {p["name"]: p["parameterValue"]["value"] for p in query["queryParameters"]}
    assert params["r0_action"] == "rollback" and params["r0_traffic_split"] == '{"111": 100}'
    assert params["r0_target"] == "gcp" and params["r0_run_id"] == RUN_ID
    types = {p["name"]: p["parameterType"]["type"] for p in query["queryParameters"]}
    assert types["r0_event_time"] == "TIMESTAMP"


def test_restore_does_nothing_after_a_passed_smoke_test(gcp_env):
    from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook

    from llmops_plugins.stages.serving import RestoreEndpoint

    step = RestoreEndpoint(task_id="restore_endpoint")
    with mock.patch.object(EndpointServiceHook, "undeploy_model") as undeploy:
        result = step.execute(_context(step, {"smoke_test": {"passed": True}}))
    undeploy.assert_not_called()
    assert result["restored"] is False


def test_missing_endpoint_names_the_setting(gcp_env):
    from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook
    from airflow.sdk.exceptions import AirflowFailException

    from llmops_plugins.stages.serving import ReadEndpoint

    step = ReadEndpoint(task_id="read_endpoint")
    with (
        mock.patch.object(EndpointServiceHook, "list_endpoints", return_value=[]) as lst,
        pytest.raises(AirflowFailException, match="gcp.serving.endpoint_display_name"),
    ):
        step.execute(_context(step))
    assert lst.call_args.kwargs["filter"] == 'display_name="support-assistant"'
