"""Contract tests of the monitoring stage on gcp: Cloud Monitoring metric writes, the BigQuery jobs, and
the Vertex AI endpoint updates of promote / rollback (hooks and clients mocked, requests asserted)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest import mock

from llmops_factory import observability
from llmops_factory.settings import get_settings

END = dt.datetime(2026, 1, 6, tzinfo=dt.UTC)


def _platform():
    from llmops_plugins.platform.gcp import GcpPlatform

    return GcpPlatform(get_settings())


def test_metric_points_are_written_as_the_catalogue_metric_types(gcp_env):
    from llmops_factory.monitoring.report import metric_points, metric_rows

    metrics = {
        "requests": 10,
        "unparseable": 1,
        "models": [
            {
                "deployed_model_id": "1",
                "role": "champion",
                "model_version": "v1",
                "prompt_version": "1.0.0",
                "endpoint": "projects/p/locations/r/endpoints/42",
                "metrics": {"unsafe_rate": (0.1, 10), "request_count": (10, 10)},
            }
        ],
    }
    rows = metric_rows(
        "2026-01-05", metrics, {"computed": True, "auc": 0.8, "mmd": 0.01, "n_current": 50}, "run"
    )
    points = metric_points(rows, metrics, END, "prod", "acme-llmops")
    client = mock.MagicMock()
    with (
        mock.patch("google.cloud.monitoring_v3.MetricServiceClient", return_value=client),
        mock.patch("airflow.providers.google.common.hooks.base_google.GoogleBaseHook.get_credentials"),
    ):
        assert _platform().write_metric_points(points) == 4  # unparseable_rows is not a catalogue metric
    kw = client.create_time_series.call_args.kwargs
    assert kw["name"] == "projects/acme-llmops"
    by_type = {s["metric"]["type"]: s for s in kw["time_series"]}
    assert set(by_type) == {
        observability.metric_type(n)
        for n in ("unsafe_rate", "request_count", "embedding_drift_auc", "embedding_drift_mmd")
    }
    unsafe = by_type["custom.googleapis.com/llmops/unsafe_rate"]
    assert set(unsafe["metric"]["labels"]) == set(observability.LABELS)
    assert (
        unsafe["metric"]["labels"]["endpoint_id"] == "42" and unsafe["metric"]["labels"]["role"] == "champion"
    )
    assert unsafe["points"][0]["value"] == {"double_value": 0.1}
    assert by_type["custom.googleapis.com/llmops/request_count"]["points"][0]["value"] == {"int64_value": 10}
    assert unsafe["points"][0]["interval"]["end_time"]["seconds"] == int(END.timestamp())


def test_day_metrics_replace_their_day_in_one_bigquery_script(gcp_env):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    rows = [
        {"metric_date": "2026-01-05", "model_version": "v1", "metric": "unsafe_rate", "value": 0.1, "n": 10}
    ]
    with mock.patch.object(BigQueryHook, "insert_job") as insert:
        _platform().replace_day_metrics("2026-01-05", rows)
    q = insert.call_args.kwargs["configuration"]["query"]
    assert "DELETE FROM `acme-llmops.llmops.monitoring_metrics` WHERE metric_date = @day;" in q["query"]
    assert q["query"].index("DELETE") < q["query"].index("INSERT")
    params = {p["name"]: p for p in q["queryParameters"]}
    assert (
        params["day"]["parameterType"]["type"] == "DATE"
        and params["r0_value"]["parameterValue"]["value"] == "0.1"
    )


def test_monitoring_query_is_the_bigquery_text_with_typed_parameters(gcp_env):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    with mock.patch.object(BigQueryHook, "insert_job") as insert:
        insert.return_value.result.return_value = []
        _platform().query_monitoring("day_metrics", {"start": END - dt.timedelta(days=1), "end": END})
    q = insert.call_args.kwargs["configuration"]["query"]
    assert "APPROX_QUANTILES" in q["query"] and "`acme-llmops.llmops.prediction_log`" in q["query"]
    assert [p["parameterType"]["type"] for p in q["queryParameters"]] == ["TIMESTAMP", "TIMESTAMP"]


def _endpoint(split):
    deployed = [SimpleNamespace(id=k, display_name=f"v{k}+p@{k}") for k in split]
    return SimpleNamespace(
        name="projects/acme-llmops/locations/europe-west4/endpoints/42",
        deployed_models=deployed,
        traffic_split=dict(split),
    )


ROLES = {
    "roles": [
        {"deployed_model_id": "1", "role": "champion", "model_version": "v1", "prompt": "p@1"},
        {"deployed_model_id": "2", "role": "challenger", "model_version": "v2", "prompt": "p@2"},
    ],
    "registry_versions": {"champion": "3", "challenger": "4"},
}
CONTEXT = {
    "dag": SimpleNamespace(dag_id="llmops_monitoring"),
    "run_id": "scheduled__2026-01-05",
    "data_interval_end": END,
}


def _act(action, before, after):
    from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook

    from llmops_factory.monitoring import actions

    platform = _platform()
    registry = mock.MagicMock()
    with (
        mock.patch.object(
            EndpointServiceHook,
            "list_endpoints",
            side_effect=[[_endpoint(before)], [_endpoint(before)], [_endpoint(after)]] * 2,
        ),
        mock.patch.object(EndpointServiceHook, "update_endpoint") as update,
        mock.patch.object(EndpointServiceHook, "undeploy_model") as undeploy,
        mock.patch.object(type(platform), "registry", return_value=registry),
        mock.patch.object(type(platform), "warehouse") as warehouse,
    ):
        out = actions.act(platform, CONTEXT, {"action": action, "reasons": ["why"]}, ROLES)
    return out, update, undeploy, registry, warehouse


def test_promote_sends_the_full_split_to_the_challenger_and_moves_the_champion_alias(gcp_env):
    out, update, undeploy, registry, warehouse = _act("promote", {"1": 90, "2": 10}, {"1": 0, "2": 100})
    kw = update.call_args.kwargs
    assert kw["endpoint"]["traffic_split"] == {"1": 0, "2": 100}
    assert kw["update_mask"] == {"paths": ["traffic_split"]} and kw["endpoint_id"] == "42"
    undeploy.assert_not_called()
    registry.set_alias.assert_called_once_with("champion", "4")
    (row,) = warehouse.return_value.upsert.call_args.args[1]
    assert row["action"] == "promote" and row["target"] == "gcp" and out["done"]


def test_rollback_undeploys_the_challenger_with_the_champion_at_100(gcp_env):
    out, update, undeploy, registry, warehouse = _act("rollback", {"1": 90, "2": 10}, {"1": 100})
    kw = undeploy.call_args.kwargs
    assert kw["deployed_model_id"] == "2" and kw["traffic_split"] == {"1": 100} and kw["endpoint"] == "42"
    update.assert_not_called()
    registry.set_alias.assert_called_once_with("challenger", "3")
    assert warehouse.return_value.upsert.call_args.args[1][0]["action"] == "rollback"
