"""Monitoring stage: roles → day metrics + drift + A/B decision → metrics, alerts → act → retire → report.

| step | local | gcp |
|---|---|---|
| ``ResolveRoles`` | target-neutral: endpoint (local server / Vertex AI Endpoint) + registry aliases | |
| ``ComputeMetrics`` | target-neutral: the ``sql/`` texts on DuckDB (sqlglot) / BigQuery, shared checks | |
| ``DetectDrift`` | target-neutral: MiniLM embeddings of the day vs the training snapshot | |
| ``DecideAB`` | target-neutral: A/B tests over the window, the pure decision policy | |
| ``WriteMetrics`` | ``monitoring_metrics`` (DuckDB) | ``monitoring_metrics`` (BigQuery) + Cloud Monitoring custom metrics |
| ``RaiseAlerts`` | alerts table + outbox messages (+ webhook) | alerts table; Cloud Monitoring alert policies notify |
| ``ActOnDecision`` | target-neutral: promote / rollback through the platform endpoint and registry | |
| ``RetireFallback`` | target-neutral: undeploy an old champion kept past ``fallback_hours`` | |
| ``WriteReport`` | target-neutral: HTML with plots under ``reports/monitoring/<ds>/`` | |

Tasks that read or move endpoint traffic run in the deployment pool (``llmops_endpoint``).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from llmops_factory.errors import TaskInputError
from llmops_plugins.stages.base import Step, fail_fast

ROLE_KEYS = ("deployed_model_id", "role", "model_version", "prompt", "traffic_percent", "trained_prompt")


def _interval(context) -> tuple[_dt.datetime, _dt.datetime, str]:
    """The monitored day ``[start, end)`` and its date. Airflow 3's ``@daily`` (a cron trigger) gives a
    run an empty data interval at its logical date ``D``: the run then monitors the day before it,
    ``[D - 1 day, D)``, which is complete when the run starts. A timetable with real intervals
    (``create_cron_data_intervals``) is used as it is."""
    start, end = context["data_interval_start"], context["data_interval_end"]
    if start >= end:
        start = end - _dt.timedelta(days=1)
    return start, end, start.strftime("%Y-%m-%d")


def _roles(value: Any, platform) -> list:
    from llmops_factory.monitoring.daily import Role

    if not isinstance(value, Mapping) or "roles" not in value:
        raise TaskInputError(f"resolve_roles: expected {{'roles': [...]}}, got {type(value).__name__}")
    machine = platform.serving_machine()
    return [Role(**{k: r.get(k) for k in ROLE_KEYS}, machine=machine) for r in value["roles"]]


class ResolveRoles(Step):
    """Which deployed model is the champion and which the challenger: registry aliases matched to the
    endpoint's deployed models; the old champion kept at 0% after a promotion is the ``fallback``."""

    def run(self, context, platform) -> dict[str, Any]:
        view = platform.endpoint().describe()
        registry = platform.registry()
        alias_version, registry_version = {}, {}
        for alias in ("champion", "challenger"):
            found = registry.get_by_alias(alias)
            alias_version[alias] = (found.labels or {}).get("model_version") if found else None
            registry_version[alias] = found.version if found else None
        split = view["traffic_split"]
        deployed = sorted(view["deployed_models"], key=lambda m: -int(split.get(m["id"], 0)))
        roles, taken = [], set()
        for alias in ("champion", "challenger"):
            version = alias_version[alias]
            if alias == "challenger" and version == alias_version["champion"]:
                continue  # first deployment: both aliases on one version, no challenger
            match = next(
                (m for m in deployed if m["model_version"] == version and m["id"] not in taken), None
            )
            if match is not None:
                taken.add(match["id"])
                roles.append((alias, match))
        roles += [
            ("fallback" if int(split.get(m["id"], 0)) == 0 else "other", m)
            for m in deployed
            if m["id"] not in taken
        ]
        out = []
        for role, m in roles:
            out.append(
                {
                    "deployed_model_id": m["id"],
                    "role": role,
                    "model_version": m["model_version"],
                    "prompt": m["prompt"],
                    "traffic_percent": int(split.get(m["id"], 0)),
                    "trained_prompt": _trained_prompt(platform, m["model_version"]),
                }
            )
        missing = "champion" not in {r["role"] for r in out}
        self.log.info(
            "endpoint %s roles %s (champion alias %s, challenger alias %s)",
            view["endpoint"],
            [(r["role"], r["deployed_model_id"], r["model_version"]) for r in out],
            alias_version["champion"],
            alias_version["challenger"],
        )
        return {
            "endpoint": view["endpoint"],
            "traffic_split": split,
            "roles": out,
            "champion_version": alias_version["champion"],
            "challenger_version": alias_version["challenger"],
            "registry_versions": registry_version,
            "champion_missing": missing,
        }


def _trained_prompt(platform, model_version: str) -> str | None:
    from llmops_factory import layout

    card = platform.storage_root() / layout.model(model_version) / "model_card.json"
    if not card.exists():
        return None
    prompt = json.loads(card.read_text()).get("prompt") or {}
    return f"{prompt['name']}@{prompt['version']}" if prompt.get("name") and prompt.get("version") else None


class ComputeMetrics(Step):
    """The day's figures of every deployed model (one SQL text for both targets, shared response checks)."""

    template_fields: Sequence[str] = ("roles",)

    def __init__(self, *, roles: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roles = roles

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring import checks, daily, embeddings

        start, end, day = _interval(context)
        settings = platform.settings
        scorer = checks.ResponseChecks(settings.monitoring.toxicity_threshold)
        result = daily.day_metrics(
            platform.query_monitoring,
            _roles(self.roles, platform),
            start=start,
            end=end,
            monitoring=settings.monitoring,
            prices=settings.prices,
            scorer=scorer,
            embed=embeddings.embed,
        )
        self.log.info(
            "%s: %d requests, %d unparseable; %s",
            day,
            result["requests"],
            result["unparseable"],
            [(m["role"], m["model_version"], m["metrics"].get("request_count")) for m in result["models"]],
        )
        return result


class DetectDrift(Step):
    """The day's prompts against the training snapshot's prompts (domain-classifier AUC and MMD)."""

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring import checks, drift, embeddings
        from llmops_factory.monitoring.alerts import threshold

        start, end, day = _interval(context)
        m = platform.settings.monitoring
        rows = platform.query_monitoring(
            "request_sample", {"start": start, "end": end, "per_model": m.drift_sample}
        )
        current = [checks.instance_text(r["instance"]) for r in rows][: m.drift_sample]
        reference = reference_prompts(platform, m.drift_reference_size)
        if len(current) < 10 or len(reference) < 10:
            self.log.warning(
                "drift not computed: %d prompts today, %d reference prompts (need 10 each)",
                len(current),
                len(reference),
            )
            return {"computed": False, "n_current": len(current), "n_reference": len(reference)}
        result = drift.detect(
            embeddings.embed(reference),
            embeddings.embed(current),
            current,
            auc_threshold=threshold("embedding_drift_auc", m),
            mmd_alpha=m.drift_mmd_alpha,
            permutations=m.drift_permutations,
        )
        self.log.info(
            "%s drift: AUC %.3f, MMD %.4f (p=%.3g) -> drifted=%s",
            day,
            result.auc,
            result.mmd,
            result.mmd_p_value,
            result.drifted,
        )
        return {"computed": True, **result.to_dict()}


def reference_prompts(platform, size: int) -> list[str]:
    """A deterministic sample of the training split's prompts (instruction + input)."""
    rows = platform.warehouse().rows(
        "instruction_examples", ["example_id", "instruction", "input"], split="train"
    )
    rows.sort(key=lambda r: r["example_id"])
    step = max(1, len(rows) // size) if rows else 1
    return [("\n".join(x for x in (r["instruction"], r["input"]) if x)) for r in rows[::step][:size]]


class DecideAB(Step):
    """A/B evidence over the window and the policy's decision, with every reason."""

    template_fields: Sequence[str] = ("roles",)

    def __init__(self, *, roles: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roles = roles

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring import checks, daily

        start, end, day = _interval(context)
        m = platform.settings.monitoring
        roles = _roles(self.roles, platform)
        scorer = checks.ResponseChecks(m.toxicity_threshold)
        evidence, summary = daily.ab_evidence(
            platform.query_monitoring,
            roles,
            start=end - _dt.timedelta(days=m.ab_window_days),
            end=end,
            monitoring=m,
            prices=platform.settings.prices,
            scorer=scorer,
        )
        decision = daily.decision(evidence, m)
        self.log.info("%s decision: %s — %s", day, decision.action, "; ".join(decision.reasons))
        return {**decision.to_dict(), "ab": json.loads(json.dumps(summary, default=float))}


class WriteMetrics(Step):
    """The day's rows of ``monitoring_metrics`` (re-runs replace the day); on gcp the same figures as
    Cloud Monitoring custom metric points."""

    template_fields: Sequence[str] = ("metrics", "drift", "roles")

    def __init__(self, *, metrics: Any, drift: Any, roles: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics, self.drift, self.roles = metrics, drift, roles

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring.report import metric_points, metric_rows

        start, end, day = _interval(context)
        rows = metric_rows(day, self.metrics, self.drift, context["run_id"])
        written = platform.replace_day_metrics(day, rows)
        points = metric_points(
            rows,
            self.metrics,
            end,
            platform.settings.environment,
            platform.settings.gcp.project_id or "local",
        )
        platform.write_metric_points(points)
        return {"rows": written, "points": len(points)}


class RaiseAlerts(Step):
    """Threshold breaches, drift, the decision and bad input as alert rows, delivered by the platform."""

    template_fields: Sequence[str] = ("metrics", "drift", "decision", "roles")

    def __init__(self, *, metrics: Any, drift: Any, decision: Any, roles: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics, self.drift, self.decision, self.roles = metrics, drift, decision, roles

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring.report import day_alerts, metric_rows

        start, end, day = _interval(context)
        rows = metric_rows(day, self.metrics, self.drift, context["run_id"])
        alerts = day_alerts(
            rows, self.metrics, self.drift, self.decision, self.roles, platform.settings.monitoring
        )
        out = [a.row(day, end, context["dag"].dag_id, context["run_id"]) for a in alerts]
        platform.publish_alerts(out)
        return {
            "alerts": [{k: out_row[k] for k in ("severity", "metric", "model_version")} for out_row in out]
        }


class ActOnDecision(Step):
    """Promote or roll back within policy, verify by reading the endpoint back, record the event.
    Idempotent: a re-run finds the endpoint already moved and does not act twice."""

    template_fields: Sequence[str] = ("decision", "roles")

    def __init__(self, *, decision: Any, roles: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decision, self.roles = decision, roles

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring.actions import act

        return act(platform, context, self.decision, self.roles)


class RetireFallback(Step):
    """Undeploy an old champion kept at 0% for longer than ``monitoring.fallback_hours`` after promotion."""

    template_fields: Sequence[str] = ("roles",)

    def __init__(self, *, roles: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roles = roles

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring.actions import retire_fallbacks

        return retire_fallbacks(platform, context)


EVENT_COLUMNS = (
    "event_time",
    "action",
    "model_version",
    "prompt_version",
    "traffic_split",
    "reason",
    "run_id",
)


def _aware(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


class WriteReport(Step):
    """The day's HTML report with plots, stored under ``reports/monitoring/<ds>/report.html``."""

    template_fields: Sequence[str] = ("metrics", "drift", "decision", "alerts", "action")

    def __init__(
        self, *, metrics: Any, drift: Any, decision: Any, alerts: Any, action: Any, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.metrics, self.drift, self.decision, self.alerts, self.action = (
            metrics,
            drift,
            decision,
            alerts,
            action,
        )

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring.report import render_html

        start, end, day = _interval(context)
        history = platform.warehouse().rows(
            "monitoring_metrics", ["metric_date", "model_version", "metric", "value"]
        )
        since = end - _dt.timedelta(days=platform.settings.monitoring.ab_window_days)
        events = [
            ev
            for ev in platform.warehouse().rows("deployment_events", list(EVENT_COLUMNS))
            if _aware(ev["event_time"]) >= since
        ]
        html = render_html(
            day, self.metrics, self.drift, self.decision, self.alerts, self.action, history, events
        )
        relative = f"reports/monitoring/{day}/report.html"
        target = platform.storage_root() / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html)
        uri = platform.uri(relative)
        self.log.info("report: %s", uri)
        return {"report": uri}


# -- by hand (llmops_traffic) ---------------------------------------------------------------------
@fail_fast
def decide_by_hand(roles_value: Mapping[str, Any], action: str | None, reason: str | None, user: str) -> dict:
    """The decision an operator asked for, checked against the endpoint before anything moves: an action,
    a reason, and the champion and challenger it needs. Fails without retries, naming what is missing."""
    if action not in ("promote", "rollback"):
        raise TaskInputError(f"action must be promote or rollback, got {action!r}: set the action param")
    if not (reason or "").strip():
        raise TaskInputError("reason is empty: say why in the reason param (it goes to deployment_events)")
    if not isinstance(roles_value, Mapping) or "roles" not in roles_value:
        raise TaskInputError(f"resolve_roles: expected {{'roles': [...]}}, got {type(roles_value).__name__}")
    roles = {r["role"]: r for r in roles_value["roles"]}
    if "champion" not in roles:
        raise TaskInputError(
            f"the champion ({roles_value.get('champion_version')}) is not on the endpoint: redeploy it with "
            "llmops_deploy before moving traffic"
        )
    if "challenger" not in roles:
        raise TaskInputError(
            f"no challenger on the endpoint (split {roles_value.get('traffic_split')}): nothing to {action}"
        )
    return {"action": action, "reasons": [f"by hand ({user}): {reason.strip()}"]}
