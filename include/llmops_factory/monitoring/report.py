"""The day's outputs: ``monitoring_metrics`` rows, Cloud Monitoring points, alerts and the HTML report."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from llmops_factory import observability
from llmops_factory.monitoring.alerts import Alert, threshold, threshold_alerts

#: drift figures are endpoint-wide: written once, under this model_version
ENDPOINT_WIDE = "*"


def metric_rows(
    day: str,
    metrics: Mapping[str, Any],
    drift: Mapping[str, Any] | None,
    run_id: str,
    features: Mapping[str, Any] | None = None,
) -> list[dict]:
    """``monitoring_metrics`` rows of the day (one per model version and metric; drift and the prompt
    features' Jensen-Shannon divergences, ``feature_js_<feature>``, once for the endpoint)."""
    rows = []
    for model in metrics.get("models", []):
        for name, (value, n) in sorted(model["metrics"].items()):
            rows.append(
                {
                    "metric_date": day,
                    "endpoint": model.get("endpoint"),
                    "model_version": model["model_version"],
                    "prompt_version": model.get("prompt_version"),
                    "metric": name,
                    "value": float(value),
                    "n": int(n),
                    "dag_run_id": run_id,
                    "role": model["role"],
                }
            )
    if metrics.get("unparseable"):
        rows.append(
            {
                "metric_date": day,
                "endpoint": None,
                "model_version": ENDPOINT_WIDE,
                "prompt_version": None,
                "metric": "unparseable_rows",
                "value": float(metrics["unparseable"]),
                "n": metrics["requests"],
                "dag_run_id": run_id,
                "role": "endpoint",
            }
        )
    if drift and drift.get("computed"):
        for name, key in (("embedding_drift_auc", "auc"), ("embedding_drift_mmd", "mmd")):
            rows.append(
                {
                    "metric_date": day,
                    "endpoint": None,
                    "model_version": ENDPOINT_WIDE,
                    "prompt_version": None,
                    "metric": name,
                    "value": float(drift[key]),
                    "n": int(drift["n_current"]),
                    "dag_run_id": run_id,
                    "role": "endpoint",
                }
            )
    if features and features.get("computed"):
        for name, value in sorted(features["divergence"].items()):
            rows.append(
                {
                    "metric_date": day,
                    "endpoint": None,
                    "model_version": ENDPOINT_WIDE,
                    "prompt_version": None,
                    "metric": f"feature_js_{name}",
                    "value": float(value),
                    "n": int(features["n_current"]),
                    "dag_run_id": run_id,
                    "role": "endpoint",
                }
            )
    return rows


def metric_points(
    rows: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    end: _dt.datetime,
    environment: str,
    project_id: str,
) -> list[dict]:
    """Cloud Monitoring points of the catalogue's metrics (labels: the catalogue's keys)."""
    endpoint = (
        next((m.get("endpoint") for m in metrics.get("models", []) if m.get("endpoint")), None) or "endpoint"
    )
    points = []
    for r in rows:
        if r["metric"] not in observability.METRICS:
            continue
        labels = {
            "environment": environment,
            "endpoint_id": str(endpoint).rsplit("/", 1)[-1],
            "model_version": r["model_version"] or ENDPOINT_WIDE,
            "prompt_version": r.get("prompt_version") or "none",
            "role": r.get("role") or "endpoint",
        }
        points.append(
            {
                "metric": r["metric"],
                "value": r["value"],
                "labels": labels,
                "end_time": end,
                "project_id": project_id,
            }
        )
    return points


def day_alerts(
    rows: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    drift: Mapping[str, Any] | None,
    decision: Mapping[str, Any] | None,
    roles: Mapping[str, Any],
    monitoring: Any,
    features: Mapping[str, Any] | None = None,
) -> list[Alert]:
    """Every alert of the day (see :mod:`llmops_factory.monitoring.alerts`)."""
    out: list[Alert] = []
    if not metrics.get("requests"):
        out.append(
            Alert(
                "no_traffic",
                "info",
                "No request was logged for the day: no figures, no decision. "
                "Check the endpoint is up and request-response logging is on (prediction_log).",
            )
        )
    else:
        out += threshold_alerts([r for r in rows if r["metric"] != "embedding_drift_auc"], monitoring)
    if metrics.get("unparseable"):
        out.append(
            Alert(
                "unparseable_payload",
                "warning",
                f"{metrics['unparseable']} logged response(s) were not "
                "JSON: counted and excluded from every figure. Check the serving container's response "
                "shape and the logging config.",
                value=float(metrics["unparseable"]),
            )
        )
    if drift and drift.get("computed") and drift.get("drifted"):
        top = "; ".join(f"{t[:80]!r}" for t, _ in drift.get("top_examples", [])[:3])
        out.append(
            Alert(
                "embedding_drift_auc",
                "warning",
                f"Today's prompts drifted from the training data (domain-classifier AUC {drift['auc']:.3f} vs "
                f"{threshold('embedding_drift_auc', monitoring):.2f}; MMD p={drift['mmd_p_value']:.3g} vs "
                f"{drift['mmd_alpha']}). Most drifted: {top}. "
                f"{observability.metric('embedding_drift_auc').alert.runbook}",
                value=float(drift["auc"]),
                threshold=threshold("embedding_drift_auc", monitoring),
            )
        )
    if features and features.get("computed") and features.get("drifted"):
        listed = ", ".join(f"{f} {features['divergence'][f]:.3f}" for f in features["drifted"][:5])
        out.append(
            Alert(
                "prompt_feature_drift",
                "warning",
                f"{len(features['drifted'])} prompt feature(s) drifted from the training reference "
                f"{features.get('reference_id')} (Jensen-Shannon divergence above "
                f"{features['threshold']:.3f}): {listed}. Watching only, no action is taken: compare with "
                "embedding_drift_auc and the report's most drifted prompts; prompt_chars / prompt_words "
                "mean longer or shorter prompts, emb_residual / emb_center_cos prompts unlike the training data, "
                "emb_pc* another mix of known topics. On gcp the Vertex AI Model "
                "Monitoring job of the day has the distributions.",
                value=float(features["max_divergence"]),
                threshold=float(features["threshold"]),
            )
        )
    if roles.get("champion_missing") and roles.get("champion_version"):
        out.append(
            Alert(
                "champion_missing",
                "critical",
                f"The champion alias points at {roles['champion_version']}, which is not deployed on the "
                "endpoint: monitoring takes no action. Redeploy it with llmops_deploy or move the alias.",
                model_version=roles["champion_version"],
            )
        )
    action = (decision or {}).get("action")
    if action in ("promote", "rollback"):
        challenger = next((r for r in roles.get("roles", []) if r["role"] == "challenger"), {})
        out.append(
            Alert(
                f"decision_{action}",
                "critical" if action == "rollback" else "info",
                f"Challenger {challenger.get('model_version')} {action}: "
                + "; ".join(decision.get("reasons", [])),
                model_version=challenger.get("model_version"),
            )
        )
    return out


def _plot(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def render_html(
    day: str,
    metrics: Mapping[str, Any],
    drift: Mapping[str, Any] | None,
    decision: Mapping[str, Any] | None,
    alerts: Mapping[str, Any] | None,
    action: Mapping[str, Any] | None,
    history: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]] = (),
    features: Mapping[str, Any] | None = None,
) -> str:
    """A self-contained HTML page: figures, latency distribution, cost / unsafe / drift trends, A/B table,
    ``events``: the deployment events (deploy, promote, rollback, …) of the A/B window, and the prompt
    features' divergence from their training reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = html.escape
    parts = [
        f"<html><head><meta charset='utf-8'><title>Monitoring {e(day)}</title></head><body>",
        f"<h1>Monitoring report {e(day)}</h1>",
        f"<p>{metrics.get('requests', 0)} requests, {metrics.get('unparseable', 0)} unparseable.</p>",
    ]
    decision = decision or {}
    parts.append(
        f"<h2>Decision: {e(str(decision.get('action', 'none')))}</h2><ul>"
        + "".join(f"<li>{e(r)}</li>" for r in decision.get("reasons", []))
        + "</ul>"
    )
    if action:
        parts.append(f"<p>Action: {e(str(action))}</p>")
    names = sorted({n for m in metrics.get("models", []) for n in m["metrics"]})
    head = "".join(f"<th>{e(m['role'])}<br>{e(m['model_version'])}</th>" for m in metrics.get("models", []))
    body = ""
    for n in names:
        cells = ""
        for m in metrics.get("models", []):
            v = m["metrics"].get(n)
            cells += f"<td>{'' if v is None else f'{v[0]:.4g} (n={v[1]})'}</td>"
        body += f"<tr><th>{e(n)}</th>{cells}</tr>"
    parts.append(f"<h2>Figures per deployed model</h2><table border=1><tr><th></th>{head}</tr>{body}</table>")
    ab = decision.get("ab") or {}
    if ab:
        parts.append("<h2>A/B comparison</h2><pre>" + e(str(ab)) + "</pre>")
    lat = [
        (m["role"] + " " + m["model_version"], m.get("latencies") or []) for m in metrics.get("models", [])
    ]
    lat = [(k, v) for k, v in lat if v]
    if lat:
        fig, ax = plt.subplots(figsize=(6, 3))
        for label, values in lat:
            ax.hist(values, bins=40, alpha=0.5, label=label)
        ax.set_xlabel("latency (ms)")
        ax.legend()
        parts.append("<h2>Latency distribution</h2>" + _plot(fig))
    for metric, title in (
        ("cost_per_1k_predictions", "Cost per 1000 predictions (USD)"),
        ("unsafe_rate", "Unsafe-response rate"),
        ("embedding_drift_auc", "Drift (domain-classifier AUC)"),
    ):
        series: dict[str, list[tuple[Any, float]]] = {}
        for r in history:
            if r["metric"] == metric and r["value"] is not None and not math.isnan(r["value"]):
                series.setdefault(r["model_version"], []).append((r["metric_date"], r["value"]))
        if series:
            fig, ax = plt.subplots(figsize=(6, 2.5))
            for version, points in sorted(series.items()):
                points.sort()
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=version)
            ax.set_title(title)
            ax.legend(fontsize=7)
            fig.autofmt_xdate()
            parts.append(f"<h2>{e(title)}</h2>" + _plot(fig))
    if drift and drift.get("computed"):
        parts.append(
            f"<h2>Drift</h2><p>AUC {drift['auc']:.3f}, MMD {drift['mmd']:.4f} (p={drift['mmd_p_value']:.3g}); "
            f"drifted: {drift['drifted']}</p><ol>"
            + "".join(f"<li>{e(t)} ({p:.2f})</li>" for t, p in drift.get("top_examples", []))
            + "</ol>"
        )
    if features and features.get("computed"):
        cells = "".join(
            f"<tr><td>{e(name)}</td><td>{value:.4f}</td><td>{'drifted' if value > features['threshold'] else ''}"
            "</td></tr>"
            for name, value in sorted(features["divergence"].items(), key=lambda kv: -kv[1])
        )
        parts.append(
            f"<h2>Prompt features</h2><p>Jensen-Shannon divergence of {features['n_current']} prompts against "
            f"the training reference {e(str(features.get('reference_id')))} ({features['n_reference']} "
            f"prompts); threshold {features['threshold']:.3f}. Watching only.</p>"
            f"<table border=1><tr><th>feature</th><th>JS divergence</th><th></th></tr>{cells}</table>"
        )
    if events:
        cols = (
            "event_time",
            "action",
            "model_version",
            "prompt_version",
            "traffic_split",
            "reason",
            "run_id",
        )
        rows = "".join(
            "<tr>" + "".join(f"<td>{e(str(ev.get(c, '')))}</td>" for c in cols) + "</tr>"
            for ev in sorted(events, key=lambda ev: str(ev.get("event_time")))
        )
        parts.append(
            "<h2>Deployment events</h2><table border=1><tr>"
            + "".join(f"<th>{c}</th>" for c in cols)
            + f"</tr>{rows}</table>"
        )
    if alerts:
        parts.append(
            "<h2>Alerts</h2><ul>"
            + "".join(f"<li>{e(str(a))}</li>" for a in alerts.get("alerts", []))
            + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
