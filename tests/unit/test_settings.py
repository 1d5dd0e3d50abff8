from __future__ import annotations

import pytest

from llmops_factory.settings import SettingsError, current_target, get_settings, load_settings


def test_local_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMOPS_LOCAL__HOME", str(tmp_path))
    s = get_settings()
    assert s.target == "local"
    assert s.storage_root == (tmp_path / "storage").as_uri()
    assert s.local.warehouse_path == tmp_path / "warehouse.duckdb"
    assert s.local.mlflow_tracking_uri.startswith("sqlite:///")


def test_env_overrides_config_file(monkeypatch):
    monkeypatch.setenv("LLMOPS_THRESHOLDS__DEAD_LETTER_RATIO_MAX", "0.05")
    assert get_settings().thresholds.dead_letter_ratio_max == 0.05


def test_invalid_value_names_the_setting(monkeypatch):
    monkeypatch.setenv("LLMOPS_THRESHOLDS__DEAD_LETTER_RATIO_MAX", "1.5")
    with pytest.raises(SettingsError, match="thresholds.dead_letter_ratio_max"):
        load_settings()


def test_unknown_target_is_refused(monkeypatch):
    monkeypatch.setenv("LLMOPS_TARGET", "aws")
    with pytest.raises(SettingsError, match="LLMOPS_TARGET='aws'"):
        current_target()


def test_gcp_loads_without_cloud_settings_but_require_names_them(monkeypatch):
    monkeypatch.setenv("LLMOPS_TARGET", "gcp")
    s = load_settings()  # parse-time safe: nothing required yet
    assert s.gcp.training.machine_type == "a2-highgpu-1g"
    with pytest.raises(SettingsError) as err:
        s.require("gcp.project_id", "gcp.bucket")
    assert "gcp.project_id (env LLMOPS_GCP__PROJECT_ID)" in str(err.value)
    assert "gcp.bucket (env LLMOPS_GCP__BUCKET)" in str(err.value)
    with pytest.raises(SettingsError, match="gcp.bucket"):
        _ = s.storage_root


def test_gcp_storage_root(monkeypatch):
    monkeypatch.setenv("LLMOPS_TARGET", "gcp")
    monkeypatch.setenv("LLMOPS_GCP__BUCKET", "acme-data")
    assert get_settings().storage_root == "gs://acme-data"


def test_explicit_config_file(monkeypatch, tmp_path):
    cfg = tmp_path / "prod.yaml"
    cfg.write_text("target: gcp\nenvironment: prod-eu\ngcp: {project_id: p1, bucket: b1}\n")
    monkeypatch.setenv("LLMOPS_TARGET", "gcp")
    monkeypatch.setenv("LLMOPS_CONFIG_FILE", str(cfg))
    s = get_settings()
    assert (s.environment, s.gcp.project_id, s.storage_root) == ("prod-eu", "p1", "gs://b1")


def test_config_file_target_mismatch(monkeypatch, tmp_path):
    cfg = tmp_path / "x.yaml"
    cfg.write_text("target: local\n")
    monkeypatch.setenv("LLMOPS_TARGET", "gcp")
    monkeypatch.setenv("LLMOPS_CONFIG_FILE", str(cfg))
    with pytest.raises(SettingsError, match="says target='local'"):
        load_settings()


def test_missing_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMOPS_CONFIG_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()


def test_unknown_key_in_config_is_refused(monkeypatch, tmp_path):
    cfg = tmp_path / "x.yaml"
    cfg.write_text("target: local\nthreshold: {}\n")
    monkeypatch.setenv("LLMOPS_CONFIG_FILE", str(cfg))
    with pytest.raises(SettingsError, match="threshold"):
        load_settings()
