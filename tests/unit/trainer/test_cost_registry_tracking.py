"""Run cost from settings prices; the MLflow registry (idempotent versions, aliases); tracking backends."""

from __future__ import annotations

import sys
import types

import pytest

from llmops_factory import cost, registry
from llmops_factory.settings import Prices, SettingsError


def test_cost_is_hours_times_replicas_times_machine_plus_accelerators():
    prices = Prices(
        machine_hourly_usd={"a2-highgpu-1g": 3.0}, accelerator_hourly_usd={"NVIDIA_TESLA_A100": 2.0}
    )
    assert cost.run_cost_usd(1800, "a2-highgpu-1g", "NVIDIA_TESLA_A100", 2, 3, prices) == pytest.approx(
        0.5 * 3 * (3.0 + 2 * 2.0)
    )
    assert cost.run_cost_usd(3600, "a2-highgpu-1g", "NONE", 0, 1, prices) == pytest.approx(3.0)


def test_missing_price_names_the_setting():
    prices = Prices(machine_hourly_usd={"m": 1.0}, accelerator_hourly_usd={})
    with pytest.raises(SettingsError, match=r"prices\.machine_hourly_usd\.n1-standard-4"):
        cost.run_cost_usd(10, "n1-standard-4", prices=prices)
    with pytest.raises(SettingsError, match=r"prices\.accelerator_hourly_usd\.NVIDIA_L4"):
        cost.run_cost_usd(10, "m", "NVIDIA_L4", 1, prices=prices)


def test_local_settings_price_the_local_machine():
    assert cost.run_cost_usd(100, "local-cpu") == 0.0


@pytest.fixture()
def mlflow_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_register_is_idempotent_per_key_and_sets_the_alias(mlflow_uri, tmp_path):
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri)
    with mlflow.start_run() as run:
        mlflow.log_param("lora_r", 8)
    src = (tmp_path / "merged").as_uri()
    v1 = registry.register_version("support-assistant", src, run.info.run_id, "run-1:0", {"dataset": "s1"})
    again = registry.register_version("support-assistant", src, run.info.run_id, "run-1:0", {"dataset": "s1"})
    v2 = registry.register_version("support-assistant", src, None, "run-1:1", alias="challenger")
    assert v1 == again == "1" and v2 == "2"
    versions = registry.list_versions("support-assistant")
    assert [v.version for v in versions] == ["1", "2"]
    assert versions[0].tags["dataset"] == "s1" and versions[0].run_id == run.info.run_id
    assert registry.get_version_by_alias("support-assistant", "candidate").version == "1"
    assert registry.get_version_by_alias("support-assistant", "challenger").version == "2"
    registry.set_alias("support-assistant", "candidate", "2")
    assert registry.get_version_by_alias("support-assistant", "candidate").version == "2"
    assert registry.get_version_by_alias("support-assistant", "champion") is None
    assert registry.list_versions("no-such-model") == []


def test_registry_rejects_unknown_alias_and_empty_key(mlflow_uri):
    with pytest.raises(registry.RegistryError, match="alias 'prod'"):
        registry.set_alias("m", "prod", "1")
    with pytest.raises(registry.RegistryError, match="idempotency_key"):
        registry.register_version("m", "file:///x", None, "")


def test_mlflow_tracker_logs_params_and_step_metrics(mlflow_uri, tmp_path):
    from mlflow import MlflowClient

    from llmops_trainer.tracking import make_tracker

    tracker = make_tracker("mlflow", None, "exp")
    run_id = tracker.start("run-a", {"lora_r": 8, "lora_target_modules": ["q_proj", "v_proj"], "x": None})
    tracker.log_metrics({"train_loss": 2.0}, step=1)
    tracker.log_metrics({"train_loss": 1.5}, step=2)
    tracker.log_metrics({"eval_loss": 1.2})
    card = tmp_path / "model_card.json"
    card.write_text("{}")
    tracker.log_artifact(card)
    tracker.end(True)
    client = MlflowClient(mlflow_uri)
    run = client.get_run(run_id)
    assert run.data.params["lora_target_modules"] == "q_proj,v_proj" and run.data.params["lora_r"] == "8"
    assert [m.value for m in client.get_metric_history(run_id, "train_loss")] == [2.0, 1.5]
    assert run.data.metrics["eval_loss"] == 1.2 and run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run_id)] == ["model_card.json"]


def test_vertex_tracker_sends_the_same_names_to_vertex_experiments(monkeypatch):
    """Contract at the client boundary: the calls aiplatform receives."""
    calls = []
    fake = types.ModuleType("google.cloud.aiplatform")
    for name in ("init", "start_run", "log_params", "log_metrics", "log_time_series_metrics", "end_run"):
        setattr(fake, name, lambda *a, _n=name, **k: calls.append((_n, a, k)))
    monkeypatch.setitem(sys.modules, "google.cloud.aiplatform", fake)
    import google.cloud

    monkeypatch.setattr(google.cloud, "aiplatform", fake, raising=False)
    monkeypatch.setenv("CLOUD_ML_PROJECT_ID", "proj")
    monkeypatch.setenv("CLOUD_ML_REGION", "europe-west4")
    from llmops_trainer.tracking import VertexTracker

    tracker = VertexTracker("LLMOps Finetune")
    tracker.start("Run_1", {"lora_r": 8, "lora_target_modules": ["q_proj"]})
    tracker.log_metrics({"train_loss": 2.0}, step=3)
    tracker.log_metrics({"eval_loss": 1.0})
    assert calls[0] == (
        "init",
        (),
        {"experiment": "llmops-finetune", "project": "proj", "location": "europe-west4"},
    )
    assert calls[1] == ("start_run", ("run-1",), {"resume": False})
    assert calls[2] == ("log_params", ({"lora_r": 8, "lora_target_modules": "q_proj"},), {})
    assert calls[3] == ("log_time_series_metrics", ({"train_loss": 2.0},), {"step": 3})
    assert calls[4] == ("log_metrics", ({"eval_loss": 1.0},), {})
