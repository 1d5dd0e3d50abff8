"""The metric catalogue the monitoring DAG writes and Terraform alerts on."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops_factory import observability as obs


def test_catalogue_loads_with_types_and_labels() -> None:
    assert obs.metric_type("unsafe_rate") == "custom.googleapis.com/llmops/unsafe_rate"
    assert obs.PREFIX == "custom.googleapis.com/llmops"
    m = obs.METRICS["latency_p95_ms"]
    assert (m.unit, m.kind, m.value_type) == ("ms", "GAUGE", "DOUBLE")
    assert set(m.labels) == {"environment", "endpoint_id", "model_version", "prompt_version", "role"}
    assert obs.METRICS["cost_per_1k_predictions"].alert.comparison == "COMPARISON_GT"


def test_metric_names_are_the_monitoring_table_vocabulary() -> None:
    # The monitoring_metrics table documents its metric values; the catalogue must cover those named there.
    import json

    from llmops_factory.warehouse.schemas import SCHEMA_DIR

    fields = json.loads((SCHEMA_DIR / "monitoring_metrics.json").read_text())
    described = next(f["description"] for f in fields if f["name"] == "metric")
    named = {n.strip(" .") for n in described.split(",") if n.strip(" .") and "..." not in n}
    named -= {"embedding_drift"}  # two methods: embedding_drift_auc and embedding_drift_mmd
    assert named <= set(obs.METRICS), named - set(obs.METRICS)


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown metric 'unsafe_ratio'.*unsafe_rate"):
        obs.metric_type("unsafe_ratio")


def test_alert_rule_breach_sides() -> None:
    unsafe = obs.METRICS["unsafe_rate"].alert
    assert unsafe.breached(0.03) and not unsafe.breached(0.02)
    assert unsafe.breached(0.015, threshold=0.01)
    rule = obs.AlertRule(comparison="COMPARISON_LT", threshold=0.5, severity="WARNING", runbook="r")
    assert rule.breached(0.4) and not rule.breached(0.6)


def test_point_labels_must_be_exactly_the_declared_ones() -> None:
    labels = dict(
        environment="prod", endpoint_id="1", model_version="v1", prompt_version="p@1", role="champion"
    )
    assert obs.point_labels(**labels) == labels
    with pytest.raises(ValueError, match=r"missing \['role'\], unknown \['variant'\]"):
        obs.point_labels(**{**{k: v for k, v in labels.items() if k != "role"}, "variant": "a"})
    with pytest.raises(ValueError, match=r"\['model_version'\] must be non-empty"):
        obs.point_labels(**{**labels, "model_version": ""})


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (
            (
                "    value_type: DOUBLE\n    alert:\n      comparison: COMPARISON_GT\n      threshold: 0.05",
                "    value_type: FLOAT\n    alert:\n      comparison: COMPARISON_GT\n      threshold: 0.05",
            ),
            "metric 'error_rate': field 'value_type' is 'FLOAT'",
        ),
        (("  latency_p50_ms:\n", "  latency-p50:\n"), "metric 'latency-p50': name must be lower_snake_case"),
        (
            ("      threshold: 2000\n", "      threshold: high\n"),
            "metric 'latency_p95_ms' alert: field 'threshold' must be a number",
        ),
        (
            ("prefix: custom.googleapis.com/llmops", "prefix: llmops"),
            "prefix 'llmops' is not under custom.googleapis.com/",
        ),
    ],
)
def test_bad_catalogue_names_file_metric_and_field(
    tmp_path: Path, mutation: tuple[str, str], message: str
) -> None:
    text = obs.METRICS_FILE.read_text()
    assert text.count(mutation[0]) == 1
    bad = tmp_path / "metrics.yaml"
    bad.write_text(text.replace(mutation[0], mutation[1]))
    with pytest.raises(obs.MetricsFileError) as err:
        obs.load(bad)
    assert str(bad) in str(err.value) and message in str(err.value)
