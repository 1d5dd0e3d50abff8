"""Contract tests of the prompt-feature monitoring on gcp: the Vertex AI Model Monitoring (v2) requests
(model monitor, daily monitoring job; idempotent) and the BigQuery load jobs of the feature tables."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest import mock

import pytest

from llmops_factory.monitoring.features import FEATURES
from llmops_factory.settings import get_settings

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
MODEL = "projects/acme-llmops/locations/europe-west4/models/777"
RID = "snap-abc-pca8-v1"
CHANNEL = "projects/acme-llmops/notificationChannels/123"


@pytest.fixture
def env(gcp_env, monkeypatch):
    monkeypatch.setenv("LLMOPS_ALERT_EMAIL", "oncall@acme.example")
    monkeypatch.setenv("LLMOPS_GCP__MODEL_MONITORING__NOTIFICATION_CHANNELS", f'["{CHANNEL}"]')
    monkeypatch.setenv("LLMOPS_MONITORING__FEATURE_DRIFT_THRESHOLD", "0.15")
    return gcp_env


def _monitor_requests():
    from llmops_plugins.stages.monitoring import model_monitor_request, monitoring_job_request

    settings = get_settings()
    monitor = model_monitor_request(settings, "support-assistant-prompt-features", MODEL, "4", RID)
    job = monitoring_job_request(
        settings, "support-assistant-prompt-features-2026-01-05", "2026-01-05", START, END, RID
    )
    return monitor, job


def test_the_model_monitor_watches_the_features_against_the_training_reference(env):
    from google.cloud import aiplatform_v1beta1

    monitor, job = _monitor_requests()
    # the requests are valid Vertex AI v1beta1 messages (proto-plus rejects an unknown field)
    aiplatform_v1beta1.ModelMonitor(monitor)
    aiplatform_v1beta1.ModelMonitoringJob(job)
    assert monitor["model_monitoring_target"] == {"vertex_model": {"model": MODEL, "model_version_id": "4"}}
    assert monitor["training_dataset"]["columnized_dataset"]["bigquery_source"]["query"] == (
        f"SELECT {', '.join(FEATURES)} FROM `acme-llmops.llmops.prompt_feature_reference` "
        f"WHERE reference_id = '{RID}'"
    )
    assert monitor["model_monitoring_schema"]["feature_fields"] == [
        {"name": f, "data_type": "float"} for f in FEATURES
    ]
    drift = monitor["tabular_objective"]["feature_drift_spec"]
    assert drift["features"] == list(FEATURES) and drift["numeric_metric_type"] == "jensen_shannon_divergence"
    assert drift["default_numeric_alert_condition"] == {"threshold": 0.15}
    assert monitor["notification_spec"] == {
        "enable_cloud_logging": True,
        "email_config": {"user_emails": ["oncall@acme.example"]},
        "notification_channel_configs": [{"notification_channel": CHANNEL}],
    }
    assert monitor["output_spec"] == {
        "gcs_base_directory": {"output_uri_prefix": "gs://acme-llmops-data/monitoring/vertex/"}
    }
    target = job["model_monitoring_spec"]["objective_spec"]["target_dataset"]
    assert target["columnized_dataset"] == {
        "bigquery_source": {
            "query": f"SELECT logging_time, {', '.join(FEATURES)} FROM `acme-llmops.llmops.prompt_features` "
            f"WHERE feature_date = DATE '2026-01-05' AND reference_id = '{RID}'"
        },
        "timestamp_field": "logging_time",
    }
    assert target["time_interval"] == {
        "start_time": {"seconds": int(START.timestamp())},
        "end_time": {"seconds": int(END.timestamp())},
    }
    assert job["model_monitoring_spec"]["objective_spec"]["baseline_dataset"] == monitor["training_dataset"]


def test_a_reference_id_that_is_not_plain_never_reaches_a_query(env):
    from llmops_factory.errors import TaskInputError
    from llmops_plugins.stages.monitoring import model_monitor_request

    with pytest.raises(TaskInputError, match="not a plain identifier"):
        model_monitor_request(get_settings(), "m", MODEL, "4", "x' OR '1'='1")


def _ensure(monitors, jobs):
    from google.cloud import aiplatform_v1beta1

    from llmops_plugins.platform.gcp import VertexModelRegistry
    from llmops_plugins.stages.monitoring import VertexFeatureMonitor

    client = mock.MagicMock()
    client.list_model_monitors.return_value = monitors
    client.list_model_monitoring_jobs.return_value = jobs
    created = aiplatform_v1beta1.ModelMonitor(name="projects/p/locations/r/modelMonitors/9")
    client.create_model_monitor.return_value.result.return_value = created
    client.update_model_monitor.return_value.result.return_value = created
    client.create_model_monitoring_job.return_value = SimpleNamespace(
        name=f"{created.name}/modelMonitoringJobs/1"
    )
    with (
        mock.patch.object(VertexFeatureMonitor, "client", return_value=client),
        mock.patch.object(VertexModelRegistry, "_parent", return_value=MODEL),
    ):
        out = VertexFeatureMonitor(get_settings()).ensure("2026-01-05", START, END, RID, "4")
    return out, client


def test_a_missing_monitor_is_created_then_the_days_job(env):
    out, client = _ensure([], [])
    monitor, job = _monitor_requests()
    client.list_model_monitors.assert_called_once_with(
        request={
            "parent": "projects/acme-llmops/locations/europe-west4",
            "filter": 'display_name="support-assistant-prompt-features"',
        }
    )
    client.create_model_monitor.assert_called_once_with(
        request={"parent": "projects/acme-llmops/locations/europe-west4", "model_monitor": monitor}
    )
    client.create_model_monitoring_job.assert_called_once_with(
        request={"parent": "projects/p/locations/r/modelMonitors/9", "model_monitoring_job": job}
    )
    client.update_model_monitor.assert_not_called()
    assert out["job_created"] and out["model_monitor"] == "projects/p/locations/r/modelMonitors/9"


def test_a_rerun_finds_the_monitor_and_the_days_job_and_changes_nothing(env):
    from google.cloud import aiplatform_v1beta1

    monitor, _ = _monitor_requests()
    existing = aiplatform_v1beta1.ModelMonitor({**monitor, "name": "projects/p/locations/r/modelMonitors/5"})
    day_job = SimpleNamespace(display_name="support-assistant-prompt-features-2026-01-05", name="j/1")
    out, client = _ensure([existing], [SimpleNamespace(display_name="other", name="j/0"), day_job])
    client.create_model_monitor.assert_not_called()
    client.update_model_monitor.assert_not_called()
    client.create_model_monitoring_job.assert_not_called()
    client.list_model_monitoring_jobs.assert_called_once_with(
        request={"parent": "projects/p/locations/r/modelMonitors/5"}
    )
    assert out == {
        "model_monitor": "projects/p/locations/r/modelMonitors/5",
        "updated": [],
        "job": "j/1",
        "job_created": False,
    }


def test_a_new_champion_and_threshold_update_the_monitor_in_place(env, monkeypatch):
    from google.cloud import aiplatform_v1beta1

    monitor, _ = _monitor_requests()
    old = {**monitor, "name": "projects/p/locations/r/modelMonitors/5"}
    old["model_monitoring_target"] = {"vertex_model": {"model": MODEL, "model_version_id": "3"}}
    old["tabular_objective"] = {
        "feature_drift_spec": {
            **monitor["tabular_objective"]["feature_drift_spec"],
            "default_numeric_alert_condition": {"threshold": 0.3},
        }
    }
    out, client = _ensure([aiplatform_v1beta1.ModelMonitor(old)], [])
    kw = client.update_model_monitor.call_args.kwargs["request"]
    assert kw["update_mask"] == {"paths": ["model_monitoring_target", "tabular_objective"]}
    assert kw["model_monitor"] == {**monitor, "name": "projects/p/locations/r/modelMonitors/5"}
    client.create_model_monitor.assert_not_called()
    assert out["updated"] == ["model_monitoring_target", "tabular_objective"] and out["job_created"]


def test_the_feature_tables_are_loaded_by_partition_and_the_reference_once(env):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    from llmops_plugins.platform.gcp import BigQueryWarehouse, GcpPlatform
    from llmops_plugins.stages.monitoring import load_features_gcp

    out = {
        "day": "2026-01-05",
        "rows": 40,
        "reference_id": RID,
        "reference_file": f"monitoring/features/reference/{RID}/reference.jsonl",
        "file": "monitoring/features/dt=2026-01-05/features.jsonl",
    }
    platform = GcpPlatform(get_settings())
    with (
        mock.patch.object(BigQueryHook, "insert_job") as insert,
        mock.patch.object(BigQueryWarehouse, "count", return_value=0) as count,
    ):
        jobs = load_features_gcp(platform, out, "scheduled__2026-01-06")
    count.assert_called_once_with("prompt_feature_reference", reference_id=RID)
    ref, day = (c.kwargs["configuration"] for c in insert.call_args_list)
    assert ref["load"]["destinationTable"]["tableId"] == "prompt_feature_reference"
    assert ref["load"]["writeDisposition"] == "WRITE_APPEND"
    assert ref["load"]["sourceUris"] == [f"gs://acme-llmops-data/{out['reference_file']}"]
    assert day["load"]["destinationTable"]["tableId"] == "prompt_features$20260105"
    assert day["load"]["writeDisposition"] == "WRITE_TRUNCATE"
    assert day["load"]["sourceUris"] == [
        "gs://acme-llmops-data/monitoring/features/dt=2026-01-05/features.jsonl"
    ]
    assert len(jobs) == 2 and jobs[1].startswith("llmops_load_prompt_features_20260105_")

    with (
        mock.patch.object(BigQueryHook, "insert_job") as insert,
        mock.patch.object(BigQueryWarehouse, "count", return_value=1000),
    ):
        load_features_gcp(platform, {**out, "rows": 0}, "scheduled__2026-01-06")
    (only,) = (c.kwargs["configuration"] for c in insert.call_args_list)  # the reference is there already
    assert (
        only["query"]["query"] == "DELETE FROM `acme-llmops.llmops.prompt_features` WHERE feature_date = @day"
    )


def _watch(monkeypatch, enabled: bool):
    import numpy as np

    from llmops_plugins.platform.gcp import GcpPlatform
    from llmops_plugins.stages.monitoring import VertexFeatureMonitor, WatchFeatures

    monkeypatch.setenv("LLMOPS_GCP__MODEL_MONITORING__ENABLED", str(enabled).lower())
    rng = np.random.default_rng(0)

    def rows(table, columns, **where):
        return [{c: float(rng.normal()) for c in columns} for _ in range(30)]

    context = {
        "run_id": "scheduled__2026-01-06",
        "dag": SimpleNamespace(dag_id="llmops_monitoring"),
        "task": SimpleNamespace(task_id="watch_features"),
        "data_interval_start": END,
        "data_interval_end": END,
    }
    step = WatchFeatures(
        task_id="watch_features",
        roles={"champion_version": "v1", "registry_versions": {"champion": "4"}},
        features={"computed": True, "reference_id": RID, "day": "2026-01-05"},
    )
    with (
        mock.patch.object(GcpPlatform, "warehouse") as warehouse,
        mock.patch.object(VertexFeatureMonitor, "ensure", return_value={"job": "j/1"}) as ensure,
    ):
        warehouse.return_value.rows.side_effect = rows
        out = step.execute(context)
    return out, ensure, warehouse


def test_watch_features_on_gcp_checks_the_day_and_drives_the_monitor(env, monkeypatch):
    out, ensure, warehouse = _watch(monkeypatch, enabled=True)
    ensure.assert_called_once_with("2026-01-05", START, END, RID, "4")
    assert out["computed"] and out["vertex"] == {"job": "j/1"} and set(out["divergence"]) == set(FEATURES)
    tables = [c.args[0] for c in warehouse.return_value.rows.call_args_list]
    assert tables == ["prompt_feature_reference", "prompt_features"]
    assert warehouse.return_value.rows.call_args_list[1].kwargs == {"feature_date": "2026-01-05"}


def test_vertex_model_monitoring_can_be_turned_off(env, monkeypatch):
    out, ensure, _ = _watch(monkeypatch, enabled=False)
    ensure.assert_not_called()
    assert out["computed"] and "vertex" not in out
