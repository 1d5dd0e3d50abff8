"""Alerts of one monitoring day: threshold breaches, drift, the decision, bad input — one row each.

Thresholds are the metric catalogue's (``llmops_factory/observability/metrics.yaml``, the numbers
Terraform's alert policies use), unless ``settings.monitoring`` overrides them. Every alert carries
what happened, why, and what to check (the catalogue's runbook line, or the DAG runbook's). Ids are
stable per day, model and metric, so a re-run rewrites its own alerts instead of adding more; a day
without traffic raises one ``no_traffic`` alert, never one per metric.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from llmops_factory import observability

#: settings.monitoring field that overrides the catalogue threshold of a metric
OVERRIDES = {
    "unsafe_rate": "max_unsafe_rate",
    "error_rate": "max_error_rate",
    "latency_p95_ms": "latency_p95_slo_ms",
    "cost_per_1k_predictions": "cost_budget_per_1k_usd",
    "embedding_drift_auc": "drift_auc_threshold",
}

SEVERITY = {"CRITICAL": "critical", "ERROR": "critical", "WARNING": "warning"}


def threshold(metric: str, monitoring: Any) -> float:
    """The alert threshold of ``metric``: the settings override if set, else the catalogue's."""
    field = OVERRIDES.get(metric)
    override = getattr(monitoring, field, None) if field else None
    if override is not None:
        return float(override)
    rule = observability.metric(metric).alert
    if rule is None:
        raise KeyError(f"metric {metric!r} has no alert in {observability.METRICS_FILE}")
    return rule.threshold


@dataclasses.dataclass(frozen=True)
class Alert:
    metric: str
    severity: str
    message: str
    model_version: str | None = None
    value: float | None = None
    threshold: float | None = None

    def row(self, day: str, alert_time: _dt.datetime, dag_id: str, run_id: str) -> dict[str, Any]:
        key = f"{day}|{self.metric}|{self.model_version or ''}"
        return {
            "alert_id": hashlib.sha1(key.encode()).hexdigest()[:32],
            "alert_time": alert_time,
            "severity": self.severity,
            "metric": self.metric,
            "value": None if self.value is None or math.isnan(self.value) else float(self.value),
            "threshold": self.threshold,
            "model_version": self.model_version,
            "message": self.message,
            "dag_id": dag_id,
            "run_id": run_id,
        }


def threshold_alerts(metrics: Sequence[Mapping[str, Any]], monitoring: Any) -> list[Alert]:
    """One alert per (model version, metric) whose value is on the bad side of its threshold.

    ``metrics`` are ``monitoring_metrics`` rows (``model_version``, ``metric``, ``value``).
    """
    out = []
    for row in metrics:
        name = row["metric"]
        if name not in observability.METRICS:
            continue
        rule = observability.metric(name).alert
        if rule is None or row["value"] is None:
            continue
        limit = threshold(name, monitoring)
        value = float(row["value"])
        if rule.breached(value, limit):
            out.append(
                Alert(
                    metric=name,
                    severity=SEVERITY[rule.severity],
                    model_version=row.get("model_version"),
                    value=value,
                    threshold=limit,
                    message=(
                        f"{name} of {row.get('model_version')} ({row.get('role', 'model')}) is {value:.4g}, "
                        f"{'above' if rule.comparison == 'COMPARISON_GT' else 'below'} {limit:.4g}. "
                        f"{rule.runbook}"
                    ),
                )
            )
    return out
