"""Monitoring stage: roles → day metrics + drift + prompt features + A/B decision → metrics, alerts → act
→ retire → report.

| step | local | gcp |
|---|---|---|
| ``ResolveRoles`` | target-neutral: endpoint (local server / Vertex AI Endpoint) + registry aliases | |
| ``ComputeMetrics`` | target-neutral: the ``sql/`` texts on DuckDB (sqlglot) / BigQuery, shared checks | |
| ``DetectDrift`` | target-neutral: MiniLM embeddings of the day vs the training snapshot | |
| ``ExtractFeatures`` | ``prompt_features`` / ``prompt_feature_reference`` in DuckDB | the same in BigQuery (load jobs) |
| ``WatchFeatures`` | per-feature Jensen-Shannon divergence vs the reference | the same + Vertex AI Model Monitoring (monitor + day's job) |
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
import hashlib
import json
import re
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

    template_fields: Sequence[str] = ("metrics", "drift", "roles", "features")

    def __init__(self, *, metrics: Any, drift: Any, roles: Any, features: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics, self.drift, self.roles, self.features = metrics, drift, roles, features

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring.report import metric_points, metric_rows

        start, end, day = _interval(context)
        rows = metric_rows(day, self.metrics, self.drift, context["run_id"], self.features)
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

    template_fields: Sequence[str] = ("metrics", "drift", "decision", "roles", "features")

    def __init__(
        self, *, metrics: Any, drift: Any, decision: Any, roles: Any, features: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.metrics, self.drift, self.decision, self.roles = metrics, drift, decision, roles
        self.features = features

    def run(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring.report import day_alerts, metric_rows

        start, end, day = _interval(context)
        rows = metric_rows(day, self.metrics, self.drift, context["run_id"], self.features)
        alerts = day_alerts(
            rows,
            self.metrics,
            self.drift,
            self.decision,
            self.roles,
            platform.settings.monitoring,
            self.features,
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

    template_fields: Sequence[str] = ("metrics", "drift", "decision", "alerts", "action", "features")

    def __init__(
        self,
        *,
        metrics: Any,
        drift: Any,
        decision: Any,
        alerts: Any,
        action: Any,
        features: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.features = features
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
            day,
            self.metrics,
            self.drift,
            self.decision,
            self.alerts,
            self.action,
            history,
            events,
            features=self.features,
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


# -- prompt features: the flattened numeric view of the logged prompts -----------------------------------
class ExtractFeatures(Step):
    """The day's logged prompts as flattened numeric features (``prompt_features``, the day replaced) and
    the champion's training reference as the same features (``prompt_feature_reference``, written once per
    reference), through a projection fitted once per reference (``monitoring/features/reference/``)."""

    template_fields: Sequence[str] = ("roles",)

    def __init__(self, *, roles: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roles = roles

    def local(self, context, platform) -> dict[str, Any]:
        out = self._features(context, platform)
        if out["computed"]:
            warehouse = platform.warehouse()
            warehouse.replace_partition(
                "prompt_feature_reference",
                {"reference_id": out["reference_id"]},
                [platform.storage_path / out["reference_file"]],
            )
            files = [platform.storage_path / out["file"]] if out["rows"] else []
            warehouse.replace_partition("prompt_features", {"feature_date": out["day"]}, files)
        return out

    def gcp(self, context, platform) -> dict[str, Any]:
        out = self._features(context, platform)
        if out["computed"]:
            out["jobs"] = load_features_gcp(platform, out, context["run_id"])
        return out

    def _features(self, context, platform) -> dict[str, Any]:
        from llmops_factory import layout
        from llmops_factory.monitoring import checks, embeddings, features

        start, end, day = _interval(context)
        m = platform.settings.monitoring
        champion = (self.roles or {}).get("champion_version")
        if not champion:
            self.log.warning("%s: no champion, so no training reference: prompt features not computed", day)
            return {"computed": False, "day": day, "reason": "no champion model version"}
        reference = feature_reference(platform, champion, m.feature_reference_size, day)
        if reference is None:
            reason = (
                f"the champion {champion} names no training snapshot in its model card (a model not trained "
                "by llmops_finetune): no feature reference, prompt-feature drift not computed"
            )
            self.log.warning("%s: %s", day, reason)
            return {"computed": False, "day": day, "reason": reason}
        projection = reference["projection"]
        logged = platform.query_monitoring(
            "feature_sample", {"start": start, "end": end, "limit": m.feature_sample}
        )
        texts = [checks.instance_text(r["instance"]) for r in logged]
        kept = [(r, t) for r, t in zip(logged, texts, strict=True) if t.strip()]
        no_text = [int(r["request_id"]) for r, t in zip(logged, texts, strict=True) if not t.strip()]
        if no_text:
            self.log.warning(
                "%s: %d logged request(s) carry no prompt text and have no features (excluded): %s",
                day,
                len(no_text),
                no_text[:20],
            )
        values = features.feature_rows(
            [t for _, t in kept], projection, embeddings.embed, ids=[r["request_id"] for r, _ in kept]
        )
        rows = [
            {
                "feature_date": day,
                "logging_time": _aware(r["logging_time"]).isoformat(),
                "request_id": int(r["request_id"]),
                "deployed_model_id": r["deployed_model_id"],
                "model_version": r["model_version"],
                "reference_id": projection.reference_id,
                **v,
                "dag_run_id": context["run_id"],
            }
            for (r, _), v in zip(kept, values, strict=True)
        ]
        relative = layout.prompt_features(day) + "features.jsonl"
        target = platform.storage_root() / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
        self.log.info(
            "%s: %d prompt feature rows against reference %s (%d reference rows)",
            day,
            len(rows),
            projection.reference_id,
            reference["rows"],
        )
        return {
            "computed": True,
            "day": day,
            "rows": len(rows),
            "no_text": len(no_text),
            "reference_id": projection.reference_id,
            "reference_rows": reference["rows"],
            "reference_file": reference["file"],
            "file": relative,
            "features": list(features.FEATURES),
        }


def feature_reference(platform, champion: str, size: int, day: str) -> dict[str, Any] | None:
    """The training reference of ``champion``: its snapshot's projection and reference features, read from
    storage, or fitted now (once per snapshot) on a deterministic sample of the snapshot's train prompts.
    The reference file is written before the projection, so a projection on storage means a whole
    reference."""
    from llmops_factory import layout
    from llmops_factory.monitoring import embeddings, features

    root = platform.storage_root()
    card_path = root / layout.model(champion) / "model_card.json"
    if not card_path.exists():
        raise features.FeatureError(
            f"{layout.model(champion)}model_card.json does not exist: the champion {champion!r} has no model "
            "card, so its training snapshot (the feature reference) is unknown"
        )
    snapshot = str((json.loads(card_path.read_text()).get("dataset") or {}).get("snapshot_version") or "")
    if not snapshot:
        return None  # not trained by llmops_finetune (e.g. built by hand): no training reference
    rid = features.reference_id(snapshot)
    folder = layout.feature_reference(rid)
    projection_path, reference_path = root / folder / "projection.json", root / folder / "reference.jsonl"
    if projection_path.exists() and reference_path.exists():
        projection = features.Projection.from_json(
            projection_path.read_text(), where=f"{folder}projection.json"
        )
        rows = sum(1 for line in reference_path.read_text().splitlines() if line.strip())
        return {"projection": projection, "rows": rows, "file": f"{folder}reference.jsonl"}
    ids, texts = snapshot_prompts(root, snapshot, size)
    vectors = embeddings.embed(texts)
    projection = features.fit_projection(
        vectors, reference=rid, embedding_model=embeddings.MODEL_NAME, fitted_date=day
    )
    values = features.feature_rows(texts, projection, lambda _texts: vectors, ids=ids)
    reference_path.parent.mkdir(parents=True, exist_ok=True)
    reference_path.write_text(
        "".join(
            json.dumps({"reference_id": rid, "fitted_date": day, "example_id": i, **v}, sort_keys=True) + "\n"
            for i, v in zip(ids, values, strict=True)
        )
    )
    projection_path.write_text(projection.to_json())
    return {"projection": projection, "rows": len(values), "file": f"{folder}reference.jsonl"}


def snapshot_prompts(root, snapshot: str, size: int) -> tuple[list[str], list[str]]:
    """A deterministic sample of at most ``size`` train prompts (instruction + input) of a snapshot, by
    ``example_id`` order; a line that is not JSON or an example without an instruction fails, naming it."""
    from llmops_factory import layout
    from llmops_factory.monitoring.features import FeatureError

    folder = root / layout.dataset_split(snapshot, "train")
    parts = (
        sorted(
            (p for p in folder.iterdir() if p.name.endswith(".jsonl")),
            key=lambda p: p.name,
        )
        if folder.exists()
        else []
    )
    examples = []
    for part in parts:
        for n, line in enumerate(part.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FeatureError(f"{part}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not str(row.get("instruction") or "").strip():
                raise FeatureError(f"{part}:{n}: a training example without an instruction")
            text = "\n".join(str(row[k]) for k in ("instruction", "input") if row.get(k))
            examples.append((str(row.get("example_id") or f"{part.name}:{n}"), text))
    if not examples:
        raise FeatureError(
            f"{layout.dataset_split(snapshot, 'train')} holds no training example: the feature reference "
            "cannot be built"
        )
    examples.sort()
    step = max(1, len(examples) // size)
    sample = examples[::step][:size]
    return [i for i, _ in sample], [t for _, t in sample]


def load_features_gcp(platform, out: Mapping[str, Any], run_id: str) -> list[str]:
    """BigQuery load jobs from the features' JSONL files: the day into ``prompt_features$YYYYMMDD``
    (``WRITE_TRUNCATE``: a re-run replaces the day; an empty day deletes it), and the reference into
    ``prompt_feature_reference`` (appended once: a load job is atomic, so a reference found there is whole)."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    from llmops_factory.warehouse import load_schema
    from llmops_plugins.stages.data import load_job_configuration

    settings = platform.settings
    bucket, project = settings.require("gcp.bucket", "gcp.project_id")
    hook = BigQueryHook(gcp_conn_id=settings.gcp.gcp_conn_id, location=settings.gcp.bigquery_location)
    dataset = settings.gcp.bigquery_dataset
    suffix = _dt.date.fromisoformat(out["day"]).strftime("%Y%m%d")
    jobs: list[str] = []

    def run(configuration: dict[str, Any], job_id: str) -> None:
        hook.insert_job(
            configuration=configuration,
            job_id=job_id,
            project_id=project,
            location=settings.gcp.bigquery_location,
        ).result()
        jobs.append(job_id)

    digest = hashlib.sha1(run_id.encode()).hexdigest()[:12]
    if not platform.warehouse().count("prompt_feature_reference", reference_id=out["reference_id"]):
        load = {
            "sourceUris": [f"gs://{bucket}/{out['reference_file']}"],
            "sourceFormat": "NEWLINE_DELIMITED_JSON",
            "destinationTable": {
                "projectId": project,
                "datasetId": dataset,
                "tableId": "prompt_feature_reference",
            },
            "schema": {"fields": load_schema("prompt_feature_reference")},
            "writeDisposition": "WRITE_APPEND",
            "ignoreUnknownValues": False,
            "maxBadRecords": 0,
        }
        run(
            {"load": load, "labels": {"app": "llmops-factory", "table": "prompt_feature_reference"}},
            f"llmops_load_prompt_feature_reference_{hashlib.sha1(out['reference_id'].encode()).hexdigest()[:12]}_{digest}",
        )
    if out["rows"]:
        configuration = load_job_configuration(
            settings, "prompt_features", out["day"], [f"gs://{bucket}/{out['file']}"]
        )
    else:  # nothing logged: empty the day, as WRITE_TRUNCATE of zero rows would
        configuration = {
            "query": {
                "query": f"DELETE FROM `{project}.{dataset}.prompt_features` WHERE feature_date = @day",
                "useLegacySql": False,
                "queryParameters": [
                    {
                        "name": "day",
                        "parameterType": {"type": "DATE"},
                        "parameterValue": {"value": out["day"]},
                    }
                ],
            }
        }
    run(configuration, f"llmops_load_prompt_features_{suffix}_{digest}")
    return jobs


class WatchFeatures(Step):
    """Feature drift of the day's prompt features against the training reference: per-feature
    Jensen-Shannon divergence on both targets (the figures of ``monitoring_metrics`` and the
    ``prompt_feature_drift`` alert); on gcp also Vertex AI Model Monitoring over the same tables (one
    model monitor, found by display name and updated in place, and one monitoring job per day), whose
    alerts go to the e-mails and notification channels of ``gcp.model_monitoring``. Watching only: the
    DAG's own drift check and A/B decision drive promote and rollback."""

    template_fields: Sequence[str] = ("roles", "features")

    def __init__(self, *, roles: Any, features: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roles, self.features = roles, features

    def local(self, context, platform) -> dict[str, Any]:
        return self._drift(context, platform)

    def gcp(self, context, platform) -> dict[str, Any]:
        out = self._drift(context, platform)
        if platform.settings.gcp.model_monitoring.enabled and (self.features or {}).get("computed"):
            start, end, day = _interval(context)
            version = ((self.roles or {}).get("registry_versions") or {}).get("champion")
            out["vertex"] = VertexFeatureMonitor(platform.settings).ensure(
                day, start, end, self.features["reference_id"], version
            )
        return out

    def _drift(self, context, platform) -> dict[str, Any]:
        from llmops_factory.monitoring import features

        start, end, day = _interval(context)
        extracted = self.features or {}
        if not extracted.get("computed"):
            return {"computed": False, "reason": extracted.get("reason") or "no prompt features"}
        m = platform.settings.monitoring
        warehouse = platform.warehouse()
        rid = extracted["reference_id"]
        reference = warehouse.rows(
            "prompt_feature_reference", ["example_id", *features.FEATURES], reference_id=rid
        )
        current = warehouse.rows("prompt_features", ["request_id", *features.FEATURES], feature_date=day)
        if len(reference) < features.MIN_REFERENCE or len(current) < features.MIN_CURRENT:
            self.log.warning(
                "%s: feature drift not computed: %d prompts, %d reference rows (need %d and %d)",
                day,
                len(current),
                len(reference),
                features.MIN_CURRENT,
                features.MIN_REFERENCE,
            )
            return {
                "computed": False,
                "reason": f"{len(current)} prompts, {len(reference)} reference rows",
                "reference_id": rid,
            }
        result = features.feature_drift(
            reference, current, threshold=m.feature_drift_threshold, bins=m.feature_bins
        )
        self.log.info(
            "%s feature drift (JS divergence, threshold %.3f): %s; drifted: %s",
            day,
            result.threshold,
            {k: round(v, 4) for k, v in result.divergence.items()},
            result.drifted or "none",
        )
        return {"computed": True, "reference_id": rid, **result.to_dict()}


class VertexFeatureMonitor:
    """Vertex AI Model Monitoring (v2, ``aiplatform_v1beta1``) over ``prompt_features``: one model monitor
    per use case (found by display name; its spec updated in place when the champion, its reference or the
    settings change) and one monitoring job per day (found by display name; a re-run does not start a
    second one)."""

    #: the monitor fields this project owns (compared and updated; everything else is left alone)
    OWNED = (
        "model_monitoring_target",
        "training_dataset",
        "model_monitoring_schema",
        "tabular_objective",
        "notification_spec",
        "output_spec",
    )

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.project = settings.require("gcp.project_id")
        self.region = settings.gcp.region
        self.parent = f"projects/{self.project}/locations/{self.region}"
        self.display_name = (
            settings.gcp.model_monitoring.display_name or f"{settings.use_case}-prompt-features"
        )

    def client(self):
        from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
        from google.api_core.client_options import ClientOptions
        from google.cloud import aiplatform_v1beta1

        credentials = GoogleBaseHook(gcp_conn_id=self.settings.gcp.gcp_conn_id).get_credentials()
        return aiplatform_v1beta1.ModelMonitoringServiceClient(
            credentials=credentials,
            client_options=ClientOptions(api_endpoint=f"{self.region}-aiplatform.googleapis.com"),
        )

    def ensure(
        self,
        day: str,
        start: _dt.datetime,
        end: _dt.datetime,
        reference_id: str,
        registry_version: str | None,
    ) -> dict[str, Any]:
        from google.cloud import aiplatform_v1beta1

        from llmops_factory.errors import TaskInputError
        from llmops_plugins.platform.gcp import VertexModelRegistry

        model = VertexModelRegistry(self.settings).model_resource()
        if model is None or not registry_version:
            raise TaskInputError(
                f"Vertex AI Model Monitoring needs the champion's registry model: model "
                f"{self.settings.use_case!r} {'missing' if model is None else 'found'}, champion version "
                f"{registry_version!r}; deploy a champion with llmops_deploy or set "
                "gcp.model_monitoring.enabled=false (LLMOPS_GCP__MODEL_MONITORING__ENABLED)"
            )
        client = self.client()
        desired = model_monitor_request(
            self.settings, self.display_name, model, registry_version, reference_id
        )
        wanted = aiplatform_v1beta1.ModelMonitor(desired)
        found = [
            m
            for m in client.list_model_monitors(
                request={"parent": self.parent, "filter": f'display_name="{self.display_name}"'}
            )
            if m.display_name == self.display_name
        ]
        changed: list[str] = []
        if not found:
            monitor = client.create_model_monitor(
                request={"parent": self.parent, "model_monitor": desired}
            ).result(timeout=600)
            changed = list(self.OWNED)
        else:
            monitor = found[0]
            changed = [f for f in self.OWNED if getattr(monitor, f) != getattr(wanted, f)]
            if changed:
                monitor = client.update_model_monitor(
                    request={
                        "model_monitor": {**desired, "name": monitor.name},
                        "update_mask": {"paths": changed},
                    }
                ).result(timeout=600)
        job_name = f"{self.display_name}-{day}"
        job = next(
            (
                j
                for j in client.list_model_monitoring_jobs(request={"parent": monitor.name})
                if j.display_name == job_name
            ),
            None,
        )
        created = job is None
        if created:
            job = client.create_model_monitoring_job(
                request={
                    "parent": monitor.name,
                    "model_monitoring_job": monitoring_job_request(
                        self.settings, job_name, day, start, end, reference_id
                    ),
                }
            )
        return {
            "model_monitor": monitor.name,
            "updated": changed,
            "job": job.name,
            "job_created": created,
        }


_REFERENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _feature_queries(settings: Any, reference_id: str, day: str | None = None) -> str:
    from llmops_factory.monitoring.features import FEATURES

    if not _REFERENCE_ID.match(reference_id):
        raise TaskInputError(f"reference id {reference_id!r} is not a plain identifier")
    dataset = f"`{settings.require('gcp.project_id')}.{settings.gcp.bigquery_dataset}"
    columns = ", ".join(FEATURES)
    if day is None:
        return (
            f"SELECT {columns} FROM {dataset}.prompt_feature_reference` WHERE reference_id = '{reference_id}'"
        )
    day = _dt.date.fromisoformat(day).isoformat()
    return (
        f"SELECT logging_time, {columns} FROM {dataset}.prompt_features` "
        f"WHERE feature_date = DATE '{day}' AND reference_id = '{reference_id}'"
    )


def _objective(settings: Any) -> dict[str, Any]:
    from llmops_factory.monitoring.features import FEATURES

    return {
        "feature_drift_spec": {
            "features": list(FEATURES),
            "numeric_metric_type": "jensen_shannon_divergence",
            "default_numeric_alert_condition": {"threshold": settings.monitoring.feature_drift_threshold},
        }
    }


def _notification(settings: Any) -> dict[str, Any]:
    mm = settings.gcp.model_monitoring
    emails = list(mm.alert_emails) or ([settings.alert_email] if settings.alert_email else [])
    spec: dict[str, Any] = {"enable_cloud_logging": mm.enable_cloud_logging}
    if emails:
        spec["email_config"] = {"user_emails": emails}
    if mm.notification_channels:
        spec["notification_channel_configs"] = [{"notification_channel": c} for c in mm.notification_channels]
    return spec


def _output(settings: Any) -> dict[str, Any]:
    prefix = (
        settings.gcp.model_monitoring.output_prefix
        or f"gs://{settings.require('gcp.bucket')}/monitoring/vertex/"
    )
    return {"gcs_base_directory": {"output_uri_prefix": prefix}}


def model_monitor_request(
    settings: Any, display_name: str, model: str, registry_version: str, reference_id: str
) -> dict[str, Any]:
    """The ``ModelMonitor`` of the prompt features: the champion's registry version as target, the
    training reference's features as baseline (a BigQuery query), every feature numeric, Jensen-Shannon
    drift with the settings' threshold, and the alert e-mails / channels."""
    from llmops_factory.monitoring.features import FEATURES

    return {
        "display_name": display_name,
        "model_monitoring_target": {
            "vertex_model": {"model": model, "model_version_id": str(registry_version)}
        },
        "training_dataset": {
            "columnized_dataset": {"bigquery_source": {"query": _feature_queries(settings, reference_id)}}
        },
        "model_monitoring_schema": {"feature_fields": [{"name": f, "data_type": "float"} for f in FEATURES]},
        "tabular_objective": _objective(settings),
        "notification_spec": _notification(settings),
        "output_spec": _output(settings),
    }


def monitoring_job_request(
    settings: Any, display_name: str, day: str, start: _dt.datetime, end: _dt.datetime, reference_id: str
) -> dict[str, Any]:
    """The ``ModelMonitoringJob`` of one day: the day's features (``logging_time`` in ``[start, end)``)
    against the training reference, with the monitor's objective, alerts and output."""
    return {
        "display_name": display_name,
        "model_monitoring_spec": {
            "objective_spec": {
                "tabular_objective": _objective(settings),
                "baseline_dataset": {
                    "columnized_dataset": {
                        "bigquery_source": {"query": _feature_queries(settings, reference_id)}
                    }
                },
                "target_dataset": {
                    "columnized_dataset": {
                        "bigquery_source": {"query": _feature_queries(settings, reference_id, day)},
                        "timestamp_field": "logging_time",
                    },
                    "time_interval": {
                        "start_time": {"seconds": int(start.timestamp())},
                        "end_time": {"seconds": int(end.timestamp())},
                    },
                },
            },
            "notification_spec": _notification(settings),
            "output_spec": _output(settings),
        },
    }
