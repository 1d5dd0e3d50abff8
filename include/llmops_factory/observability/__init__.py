"""The custom metrics the monitoring DAG writes: one source of truth for code and Terraform.

``metrics.yaml`` beside this module lists each metric (short name, description, unit, kind, value
type, optional alert). This module loads it into frozen types for the code; Terraform's monitoring
module reads the same file into metric descriptors and alert policies, so a metric Terraform alerts on
is always one the code writes. The short names are also the ``metric`` values of the
``monitoring_metrics`` warehouse table.

    from llmops_factory.observability import METRICS, metric_type
    metric_type("unsafe_rate")          # 'custom.googleapis.com/llmops/unsafe_rate'
    METRICS["unsafe_rate"].alert.threshold
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

METRICS_FILE = Path(__file__).resolve().parent / "metrics.yaml"

KINDS = ("GAUGE",)
VALUE_TYPES = ("DOUBLE", "INT64")
COMPARISONS = ("COMPARISON_GT", "COMPARISON_LT")
SEVERITIES = ("CRITICAL", "ERROR", "WARNING")
# Cloud Monitoring: custom metric paths and label keys are lower-case letters, digits and underscores.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_METRIC_FIELDS = {"description", "unit", "kind", "value_type", "alert"}
_ALERT_FIELDS = {"comparison", "threshold", "severity", "runbook"}


class MetricsFileError(ValueError):
    """The metrics file is malformed; the message names the file, the metric and the field."""


@dataclass(frozen=True)
class AlertRule:
    comparison: str
    threshold: float
    severity: str
    runbook: str

    def breached(self, value: float, threshold: float | None = None) -> bool:
        """Whether ``value`` is on the bad side of the threshold (``threshold`` overrides the default)."""
        limit = self.threshold if threshold is None else threshold
        return value > limit if self.comparison == "COMPARISON_GT" else value < limit


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    description: str
    unit: str
    kind: str
    value_type: str
    labels: tuple[str, ...]
    alert: AlertRule | None = None


@dataclass(frozen=True)
class Catalogue:
    prefix: str
    monitored_resource: str
    labels: Mapping[str, str]
    metrics: Mapping[str, Metric]


def _fail(path: Path, where: str, problem: str) -> MetricsFileError:
    return MetricsFileError(f"{path}: {where}: {problem}")


def _require(
    path: Path, where: str, data: Mapping[str, Any], field: str, allowed: tuple[str, ...] = ()
) -> Any:
    value = data.get(field)
    if value in (None, ""):
        raise _fail(path, where, f"field {field!r} is missing")
    if allowed and value not in allowed:
        raise _fail(path, where, f"field {field!r} is {value!r}, not one of {', '.join(allowed)}")
    return value


def _alert(path: Path, name: str, data: Any) -> AlertRule:
    where = f"metric {name!r} alert"
    if not isinstance(data, dict):
        raise _fail(path, where, "must be a mapping")
    unknown = set(data) - _ALERT_FIELDS
    if unknown:
        raise _fail(path, where, f"unknown field(s) {', '.join(sorted(unknown))}")
    threshold = data.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise _fail(path, where, f"field 'threshold' must be a number, got {threshold!r}")
    return AlertRule(
        comparison=_require(path, where, data, "comparison", COMPARISONS),
        threshold=float(threshold),
        severity=_require(path, where, data, "severity", SEVERITIES),
        runbook=str(_require(path, where, data, "runbook")).strip(),
    )


def load(path: Path = METRICS_FILE) -> Catalogue:
    """Parse and validate a metrics file (errors name the file, the metric and the field)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MetricsFileError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise MetricsFileError(f"{path}: must be a mapping with prefix, monitored_resource, labels, metrics")
    prefix = _require(path, "top level", data, "prefix")
    if not re.fullmatch(r"custom\.googleapis\.com/[a-z0-9_/]+", prefix):
        raise _fail(path, "top level", f"prefix {prefix!r} is not under custom.googleapis.com/")
    labels = _require(path, "top level", data, "labels")
    metrics = _require(path, "top level", data, "metrics")
    if not isinstance(labels, dict) or not isinstance(metrics, dict):
        raise _fail(path, "top level", "labels and metrics must be mappings")
    for label in labels:
        if not _NAME.match(str(label)):
            raise _fail(path, f"label {label!r}", "must be lower_snake_case")
    parsed: dict[str, Metric] = {}
    for name, spec in metrics.items():
        where = f"metric {name!r}"
        if not _NAME.match(str(name)):
            raise _fail(path, where, "name must be lower_snake_case (letters, digits, underscores)")
        if not isinstance(spec, dict):
            raise _fail(path, where, "must be a mapping")
        unknown = set(spec) - _METRIC_FIELDS
        if unknown:
            raise _fail(path, where, f"unknown field(s) {', '.join(sorted(unknown))}")
        parsed[name] = Metric(
            name=name,
            type=f"{prefix}/{name}",
            description=str(_require(path, where, spec, "description")).strip(),
            unit=str(_require(path, where, spec, "unit")),
            kind=_require(path, where, spec, "kind", KINDS),
            value_type=_require(path, where, spec, "value_type", VALUE_TYPES),
            labels=tuple(labels),
            alert=_alert(path, name, spec["alert"]) if spec.get("alert") is not None else None,
        )
    return Catalogue(
        prefix=prefix,
        monitored_resource=_require(path, "top level", data, "monitored_resource"),
        labels=MappingProxyType(dict(labels)),
        metrics=MappingProxyType(parsed),
    )


@functools.lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    return load()


def __getattr__(name: str) -> Any:
    # METRICS / PREFIX / LABELS are loaded on first use, never at import (DAG files may import this).
    if name == "METRICS":
        return catalogue().metrics
    if name == "PREFIX":
        return catalogue().prefix
    if name == "LABELS":
        return tuple(catalogue().labels)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def metric(name: str) -> Metric:
    """The metric called ``name``; an unknown name fails with the list of known ones."""
    metrics = catalogue().metrics
    if name not in metrics:
        raise KeyError(f"unknown metric {name!r} (known: {', '.join(sorted(metrics))}; see {METRICS_FILE})")
    return metrics[name]


def metric_type(name: str) -> str:
    """The Cloud Monitoring metric type of ``name`` (``custom.googleapis.com/llmops/<name>``)."""
    return metric(name).type


def alerting_metrics() -> dict[str, Metric]:
    """The metrics that have an alert policy, by name."""
    return {name: m for name, m in catalogue().metrics.items() if m.alert is not None}


def point_labels(**labels: str) -> dict[str, str]:
    """Validate the labels of a point to write: exactly the declared label keys, all non-empty strings."""
    declared = set(catalogue().labels)
    given = set(labels)
    if given != declared:
        missing, extra = sorted(declared - given), sorted(given - declared)
        raise ValueError(f"metric labels: missing {missing}, unknown {extra} (declared in {METRICS_FILE})")
    empty = sorted(k for k, v in labels.items() if not isinstance(v, str) or not v)
    if empty:
        raise ValueError(f"metric labels {empty} must be non-empty strings")
    return dict(labels)
