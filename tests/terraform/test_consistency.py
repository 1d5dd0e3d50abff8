"""Terraform and the code agree: table schemas, metric names, settings, Composer packages.

Each check runs on the repository and on a copy with one drift injected, where it must name the drift.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.terraform import consistency as c
from tests.terraform.conftest import REPO, edit

PLATFORM_MAIN = "terraform/modules/platform/main.tf"


# -- every .tf parses -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", c.tf_files(REPO), ids=lambda p: str(p.relative_to(REPO)))
def test_every_tf_file_parses(path: Path) -> None:
    assert c.parse_file(path) is not None


def test_tree_has_every_module_and_environment() -> None:
    dirs = {str(d.relative_to(REPO)) for d in c.module_dirs(REPO)}
    modules = (
        "storage",
        "bigquery",
        "service_accounts",
        "artifact_registry",
        "composer",
        "vertex_endpoint",
        "monitoring",
        "platform",
    )
    assert {f"terraform/modules/{m}" for m in modules} | {
        "terraform/envs/dev",
        "terraform/envs/prod",
        "terraform/bootstrap",
    } <= dirs
    for module in modules:
        files = {p.name for p in (REPO / "terraform/modules" / module).glob("*.tf")}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= files, module


def test_unparseable_file_is_named(mutable_repo: Path) -> None:
    (mutable_repo / "terraform/modules/storage/broken.tf").write_text(
        'resource "google_storage_bucket" "x" {\n  name = \n'
    )
    problems = c.check_parse(mutable_repo)
    assert len(problems) == 1 and "terraform/modules/storage/broken.tf" in problems[0]


# -- every variable typed and described ------------------------------------------------------------
def test_every_variable_is_typed_and_described() -> None:
    assert c.check_variables(REPO) == []


def test_untyped_or_undescribed_variable_is_named(mutable_repo: Path) -> None:
    path = mutable_repo / "terraform/modules/storage/variables.tf"
    edit(
        path,
        '  type        = string\n  description = "Location (region) of every bucket."\n',
        '  description = "Location (region) of every bucket."\n',
    )
    edit(path, '  description = "Labels put on every bucket."\n', "")
    problems = c.check_variables(mutable_repo)
    assert any("variable 'location' has no type" in p for p in problems), problems
    assert any("variable 'labels' has no description" in p for p in problems), problems


# -- BigQuery tables from the code's schema files ---------------------------------------------------
def test_bigquery_tables_are_the_code_tables() -> None:
    assert c.check_bigquery(REPO) == []
    from llmops_factory.warehouse import schemas

    # Terraform creates every code table but the one Vertex AI request-response logging creates itself.
    assert c.terraform_tables(REPO) == set(schemas.table_names()) - {"prediction_log"}


def test_code_table_without_schema_file_fails(mutable_repo: Path) -> None:
    tables = mutable_repo / c.TABLES_FILE
    tables.write_text(
        tables.read_text()
        + "\nexperiments:\n  description: x\n  time_partitioning: {type: DAY, field: t}\n  clustering: [a]\n  replace_key: [a]\n"
    )
    problems = c.check_bigquery(mutable_repo)
    assert any("table 'experiments' has no schema file" in p for p in problems), problems


def test_schema_file_without_table_entry_fails(mutable_repo: Path) -> None:
    (mutable_repo / c.SCHEMAS_DIR / "orphan.json").write_text('[{"name": "a", "type": "STRING"}]')
    problems = c.check_bigquery(mutable_repo)
    assert any("orphan.json: table 'orphan' is not in" in p for p in problems), problems


def test_table_with_inline_schema_fails(mutable_repo: Path) -> None:
    edit(
        mutable_repo / "terraform/modules/bigquery/main.tf",
        'schema              = file("${var.schemas_dir}/${each.key}.json")',
        'schema              = jsonencode([{ name = "a", type = "STRING" }])',
    )
    problems = c.check_bigquery(mutable_repo)
    assert any("google_bigquery_table.main: schema is" in p for p in problems), problems


def test_partitioning_not_from_tables_yaml_fails(mutable_repo: Path) -> None:
    edit(
        mutable_repo / "terraform/modules/bigquery/main.tf",
        "field = each.value.time_partitioning.field",
        'field = "created_at"',
    )
    problems = c.check_bigquery(mutable_repo)
    assert any("time_partitioning.field" in p for p in problems), problems


def test_schema_dir_elsewhere_fails(mutable_repo: Path) -> None:
    edit(
        mutable_repo / PLATFORM_MAIN,
        'schemas_dir       = "${local.repo_root}/include/llmops_factory/warehouse/schemas"',
        'schemas_dir       = "${path.module}/schemas"',
    )
    problems = c.check_bigquery(mutable_repo)
    assert any("module bigquery schemas_dir resolves to" in p for p in problems), problems


def test_log_table_must_keep_vertex_shape(mutable_repo: Path) -> None:
    path = mutable_repo / c.SCHEMAS_DIR / "prediction_log.json"
    fields = json.loads(path.read_text())
    fields[0]["name"] = "endpoint_name"
    path.write_text(json.dumps(fields))
    problems = c.check_bigquery(mutable_repo)
    assert any("are not Vertex AI's request-response log" in p for p in problems), problems


def test_table_left_to_nobody_fails(mutable_repo: Path) -> None:
    edit(
        mutable_repo / PLATFORM_MAIN,
        "externally_created_tables = [local.prediction_log_table]",
        'externally_created_tables = [local.prediction_log_table, "feedback"]',
    )
    problems = c.check_bigquery(mutable_repo)
    assert any("table 'feedback' is neither created by Terraform" in p for p in problems), problems


# -- alert policies on the metrics the code writes ------------------------------------------------
def test_alert_policies_use_the_code_metrics() -> None:
    assert c.check_alerts(REPO) == []


def test_issue_metrics_have_alert_policies() -> None:
    from llmops_factory import observability

    alerting = set(observability.alerting_metrics())
    assert {
        "cost_per_1k_predictions",
        "unsafe_rate",
        "latency_p95_ms",
        "embedding_drift_auc",
        "error_rate",
    } <= alerting


def test_hand_written_policy_on_unknown_metric_fails(mutable_repo: Path) -> None:
    (mutable_repo / "terraform/modules/monitoring/extra.tf").write_text(
        'resource "google_monitoring_alert_policy" "typo" {\n'
        '  display_name = "p95"\n  combiner = "OR"\n'
        '  conditions {\n    display_name = "p95"\n    condition_threshold {\n'
        '      filter     = "metric.type=\\"custom.googleapis.com/llmops/latency_p95\\""\n'
        '      comparison = "COMPARISON_GT"\n      duration   = "0s"\n    }\n  }\n}\n'
    )
    problems = c.check_alerts(mutable_repo)
    assert any("metric custom.googleapis.com/llmops/latency_p95 is not in" in p for p in problems), problems


def test_renamed_metric_breaks_threshold_override(mutable_repo: Path) -> None:
    edit(mutable_repo / c.METRICS_FILE, "  unsafe_rate:\n", "  unsafe_response_rate:\n")
    problems = c.check_alerts(mutable_repo)
    assert any(
        "terraform/envs/prod/terraform.tfvars.example: alert_thresholds names 'unsafe_rate'" in p
        for p in problems
    ), problems


def test_policy_not_built_from_metrics_file_fails(mutable_repo: Path) -> None:
    edit(
        mutable_repo / "terraform/modules/monitoring/main.tf",
        "catalogue          = yamldecode(file(var.metrics_file))",
        'catalogue          = yamldecode(file("${path.module}/metrics.yaml"))',
    )
    problems = c.check_alerts(mutable_repo)
    assert any("is not the alerting metrics of var.metrics_file" in p for p in problems), problems


def test_malformed_metrics_file_is_named(mutable_repo: Path) -> None:
    edit(
        mutable_repo / c.METRICS_FILE,
        "      comparison: COMPARISON_GT\n      threshold: 0.05\n",
        "      comparison: ABOVE\n      threshold: 0.05\n",
    )
    problems = c.check_alerts(mutable_repo)
    assert len(problems) == 1 and "metric 'error_rate' alert: field 'comparison' is 'ABOVE'" in problems[0]


# -- Composer environment covers the settings the gcp code requires -------------------------------
def test_required_settings_are_found_by_scanning() -> None:
    required = c.required_settings(REPO)
    assert {
        "gcp.project_id",
        "gcp.bucket",
        "gcp.staging_bucket",
        "gcp.service_account",
        "gcp.training.container_uri",
    } <= set(required)


def test_env_var_mapping_matches_settings() -> None:
    from llmops_factory.settings import SettingsError, load_settings

    assert c.env_var("gcp.training.container_uri") == "LLMOPS_GCP__TRAINING__CONTAINER_URI"
    assert c.settings_field_for("LLMOPS_GCP__TRAINING__CONTAINER_URI") == "gcp.training.container_uri"
    assert c.settings_field_for("LLMOPS_GCP__BUKCET") is None
    # The same mapping is what settings.py reports for a missing setting.
    with pytest.raises(SettingsError, match="LLMOPS_GCP__STAGING_BUCKET"):
        load_settings().require("gcp.staging_bucket")


def test_composer_env_covers_required_settings() -> None:
    assert c.check_composer_env(REPO) == []


def test_composer_env_values_load_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_factory.settings import load_settings

    env = c.composer_env(REPO)
    for name in env:
        # Values are Terraform expressions here; a stand-in of the right type shows every name loads.
        value = (
            "1"
            if name.endswith(("_COUNT", "_WORKERS", "_PERCENT"))
            else ('["x"]' if name.endswith("_CHANNELS") else ("gcp" if name == "LLMOPS_TARGET" else "x"))
        )
        monkeypatch.setenv(name, value)
    settings = load_settings()
    for dotted in c.required_settings(REPO):
        assert settings.require(dotted)


def test_new_required_setting_without_env_fails(mutable_repo: Path) -> None:
    (mutable_repo / "plugins/llmops_plugins/new_stage.py").write_text(
        'def body(settings):\n    return settings.require("gcp.endpoint_id", "gcp.model_monitoring_email")\n'
    )
    edit(
        mutable_repo / PLATFORM_MAIN,
        "      LLMOPS_GCP__ENDPOINT_ID                 = module.vertex_endpoint.endpoint_id\n",
        "",
    )
    problems = c.check_composer_env(mutable_repo)
    assert any(
        "setting gcp.endpoint_id (required at plugins/llmops_plugins/new_stage.py:2)" in p for p in problems
    ), problems
    assert any("LLMOPS_GCP__MODEL_MONITORING_EMAIL" in p for p in problems), problems


def test_env_var_that_is_no_setting_fails(mutable_repo: Path) -> None:
    edit(
        mutable_repo / PLATFORM_MAIN,
        "LLMOPS_GCP__BUCKET                      =",
        "LLMOPS_GCP__BUKCET                      =",
    )
    problems = c.check_composer_env(mutable_repo)
    assert any("sets LLMOPS_GCP__BUKCET, which is no field" in p for p in problems), problems
    assert any("setting gcp.bucket" in p for p in problems), problems


# -- Composer PyPI packages come from requirements.txt --------------------------------------------
def test_requirements_txt_feeds_composer() -> None:
    assert c.check_requirements(REPO) == []


def test_unpinned_or_drifted_requirement_fails(mutable_repo: Path) -> None:
    path = mutable_repo / "requirements.txt"
    path.write_text(path.read_text().replace("PyYAML==6.0.4", "PyYAML==6.0.1") + "requests>=2\n")
    problems = c.check_requirements(mutable_repo)
    assert any("PyYAML==6.0.1 differs from requirements/local.lock (6.0.4)" in p for p in problems), problems
    assert any("'requests>=2' is not one pin" in p for p in problems), problems


def test_composer_reads_pypi_packages_like_terraform() -> None:
    # The Composer module splits "name[extras]==version" into name => "[extras]==version" with this regex.
    import re

    text = (REPO / "terraform/modules/composer/main.tf").read_text()
    assert 'regex("^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$", line)' in text
    packages = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, rest = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$", line.strip()).groups()
            packages[name.lower()] = rest
    assert packages["apache-beam"] == "[gcp]==2.77.0"
    assert all(v.startswith(("==", "[")) for v in packages.values())


# -- validations --------------------------------------------------------------------------------
CONSTRAINED = {
    "region": "terraform/modules/platform",
    "training_machine_type": "terraform/modules/platform",
    "training_accelerator_type": "terraform/modules/platform",
    "serving_machine_type": "terraform/modules/platform",
    "canary_traffic_percent": "terraform/modules/platform",
    "endpoint_id": "terraform/modules/platform",
    "project_id": "terraform/modules/platform",
    "image_version": "terraform/modules/composer",
    "notification_emails": "terraform/modules/monitoring",
}


def test_constrained_variables_validate_with_a_message_naming_them() -> None:
    assert c.check_constrained_variables(REPO, CONSTRAINED) == []


def test_missing_validation_is_named(mutable_repo: Path) -> None:
    path = mutable_repo / "terraform/modules/platform/variables.tf"
    edit(
        path,
        'error_message = "canary_traffic_percent must be a whole number',
        'error_message = "must be a whole number',
    )
    problems = c.check_constrained_variables(mutable_repo, CONSTRAINED) + c.check_variables(mutable_repo)
    assert any("'canary_traffic_percent': no validation message names it" in p for p in problems), problems


def test_canary_bounds_match_the_setting() -> None:
    from llmops_factory.settings import DeploySettings

    metadata = DeploySettings.model_fields["canary_percent"].metadata
    ge = next(m.ge for m in metadata if getattr(m, "ge", None) is not None)
    le = next(m.le for m in metadata if getattr(m, "le", None) is not None)
    variable = next(
        v
        for v in c.blocks(REPO / "terraform/modules/platform", "variable")
        if v.name == "canary_traffic_percent"
    )
    condition = variable.body["validation"][0]["condition"]
    assert (
        f"var.canary_traffic_percent >= {ge}" in condition
        and f"var.canary_traffic_percent <= {le}" in condition
    )
