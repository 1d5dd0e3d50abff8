"""
# llmops_monitoring — daily monitoring, A/B decision, alerts, promote or rollback (runbook)

**What it does.** Every day (and for any backfilled day) it reads the day's prompts and responses from
the prediction log (BigQuery on gcp, DuckDB locally; one SQL text, `include/llmops_factory/monitoring/sql/`)
and, per deployed model: request and error counts, latency p50/p95/p99, tokens in/out, cost per 1000
predictions, unsafe-response rate (the shared toxicity classifier), PII-leak rate, answer relevance,
user-feedback score and the prompt-version skew check. It compares the challenger with the champion and
promotes it or rolls it back within policy. Outputs are keyed by the data interval: a re-run replaces
its day (metrics, alerts, report, deployment event) and never acts twice.

1. `resolve_roles` — the endpoint's deployed models matched to the registry aliases `champion` /
   `challenger`; an old champion kept at 0% is the `fallback`.
2. `compute_metrics` — the figures above (rates over a deterministic sample of `monitoring.score_sample`
   responses per model; counts and latency over every logged request).
3. `detect_drift` — MiniLM embeddings of a sample of the day's prompts against the training split's
   prompts: domain-classifier AUC and MMD permutation test, thresholds from settings.
4. `extract_features` — the day's prompts as flattened numeric features for tabular monitoring
   (`prompt_features`, the day replaced): characters, words, the MiniLM embedding projected on 8
   principal components of the champion's training snapshot, its cosine to the snapshot's centroid and
   its PCA reconstruction error (a PCA fitted once per snapshot, kept in
   `monitoring/features/reference/<reference_id>/` with the reference's own features,
   `prompt_feature_reference`). A deterministic sample of `monitoring.feature_sample` requests.
5. `watch_features` — each feature's Jensen-Shannon divergence against the reference (threshold
   `monitoring.feature_drift_threshold`), as `feature_js_<feature>` metrics; on gcp it also sets up
   Vertex AI Model Monitoring over the same tables (one model monitor `<use_case>-prompt-features`,
   updated in place when the champion or the settings change, and one monitoring job per day) which
   e-mails `alert_email` and the `gcp.model_monitoring.notification_channels`. Watching only: the
   decision below never reads it.
6. `decide` — A/B tests over the last `monitoring.ab_window_days` days (two-proportion tests on unsafe,
   error and positive-feedback rates, Mann-Whitney and bootstrap on latency, cost) and the decision
   policy: `promote`, `hold`, `rollback` or `none`, with every reason.
7. `write_metrics` — the day's `monitoring_metrics` rows (replaced); on gcp also Cloud Monitoring custom
   metrics `custom.googleapis.com/llmops/<metric>`, on which Terraform's alert policies fire.
8. `raise_alerts` — the `alerts` table; locally also a message per alert in `.llmops/outbox/alerts/`
   (and a webhook POST when `monitoring.webhook_url` is set).
9. `act` — promote (100% to the challenger, `champion` alias moves, old champion kept at 0% as
   fallback) or rollback (100% to the champion, challenger undeployed, `challenger` alias back on the
   champion); the endpoint is read back to verify, then a `deployment_events` row is written.
10. `retire_fallback` — undeploys a fallback once its promotion is older than `monitoring.fallback_hours`.
11. `write_report` — HTML with plots at `reports/monitoring/<ds>/report.html` (path in the task's XCom).

`resolve_roles`, `act` and `retire_fallback` run in the `llmops_endpoint` pool shared with
`llmops_deploy`, so two DAGs never move traffic at the same time.

**Alerts and what to do.**
- `no_traffic` (info): nothing was logged for the day. Check the endpoint is up and request-response
  logging is on; no decision is taken on an empty day.
- `error_rate` (critical): too many failed requests. Read the endpoint's and serving containers' logs;
  a challenger is rolled back automatically — see `act` and `deployment_events`.
- `latency_p95_ms` (error): p95 above the SLO. Check replicas / autoscaling, machine and tokens_out.
- `cost_per_1k_predictions` (warning): above budget. Check idle replicas, a fallback still deployed,
  the machine type.
- `unsafe_rate` (critical): too many unsafe responses. A challenger is rolled back; if the champion is
  unsafe, redeploy the previous champion with `llmops_deploy`; flagged examples are in the report.
- `pii_leak_rate` (critical): a response contained personal data. Find it in the report, check data
  preparation's PII counters, roll back the version that served it.
- `prompt_version_skew` (error): the served prompt differs from the training prompt. Redeploy with the
  training prompt, or deploy the new prompt as its own challenger.
- `embedding_drift_auc` (warning): today's prompts differ from the training data. The report lists the
  most drifted prompts; if the traffic is legitimate, add it to the raw data and retrain.
- `prompt_feature_drift` (warning): prompt features moved away from the training reference (which
  features, by how much). Nothing is acted on. `prompt_chars` / `prompt_words`: prompts got longer or
  shorter (a client change, pasted documents); `emb_residual` / `emb_center_cos`: prompts unlike the
  training data (new topics, other languages); `emb_pc*`: a different mix of known topics — read it with
  `embedding_drift_auc` and the report's most drifted prompts. On gcp, Vertex AI Model Monitoring sends
  its own e-mail for the same day; its job (`<use_case>-prompt-features-<day>`) shows the distributions.
- `unparseable_payload` (warning): logged responses that are not JSON were counted and excluded. Check
  the serving container's response shape.
- `champion_missing` (critical): the champion alias points at a version not on the endpoint. Nothing is
  moved; redeploy the champion with `llmops_deploy` or move the alias.
- `decision_rollback` (critical) / `decision_promote` (info): what `act` did and every reason.

**Failures and what to do.**
- `resolve_roles` *no Vertex AI Endpoint*: apply Terraform. Locally the endpoint server is started.
- `compute_metrics` / `decide` *missing price*: set `prices.machine_hourly_usd.<machine>`; fails without
  retries. A query error names the SQL file.
- `detect_drift` with fewer than 10 prompts or reference prompts: logged, drift not computed (no alert).
- `extract_features` *… model_card.json does not exist*: the champion's training snapshot is unknown,
  so there is no reference; check `models/<version>/`. A champion whose card names no dataset
  snapshot (a model not trained by `llmops_finetune`) is skipped with a warning in the log. *…
  holds no training example* / *not valid JSON*: the snapshot's train split named in the message is
  missing or damaged; rebuild it with `llmops_finetune`. No champion yet: skipped (logged, no alert).
  Requests without prompt text are counted in the log and excluded.
- `watch_features` with fewer than 10 feature rows: logged, not computed. On gcp *Vertex AI Model
  Monitoring needs the champion's registry model*: deploy a champion, or set
  `gcp.model_monitoring.enabled=false`. A re-run finds the monitor and the day's job by display name
  and creates neither twice; to make Vertex AI re-read a day, delete that day's job first.
- `act` *split after the move is …*: the endpoint changed under the run. Read it back (admin API / console)
  and re-run the day: the action is idempotent.
- `write_metrics` / `raise_alerts` / `write_report`: safe to clear; each replaces its own day.

**Which day.** The run of logical date `D` (it starts at `D` 00:00 UTC) monitors the complete day before,
`[D - 1 day, D)`; metrics, alerts and the report are dated `D - 1`.

**Backfill.** `airflow dags backfill llmops_monitoring -s 2026-01-02 -e 2026-01-08` monitors 1 to 7
January: each day reads only its own interval. A backfilled day decides on the traffic of its own window, so run backfills in date
order (`max_active_runs=1`).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag

from llmops_plugins.defaults import DEFAULT_ARGS, START_DATE, tags
from llmops_plugins.stages.monitoring import (
    ActOnDecision,
    ComputeMetrics,
    DecideAB,
    DetectDrift,
    ExtractFeatures,
    RaiseAlerts,
    ResolveRoles,
    RetireFallback,
    WatchFeatures,
    WriteMetrics,
    WriteReport,
)
from llmops_plugins.stages.serving import ENDPOINT_POOL


@dag(
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("monitoring"),
    doc_md=__doc__,
    render_template_as_native_obj=True,
)
def llmops_monitoring():
    endpoint_task = {"pool": ENDPOINT_POOL}
    roles = ResolveRoles(task_id="resolve_roles", **endpoint_task)
    metrics = ComputeMetrics(
        task_id="compute_metrics", roles=roles.output, execution_timeout=dt.timedelta(minutes=30)
    )
    drift = DetectDrift(task_id="detect_drift", execution_timeout=dt.timedelta(minutes=30))
    extracted = ExtractFeatures(
        task_id="extract_features", roles=roles.output, execution_timeout=dt.timedelta(minutes=30)
    )
    watched = WatchFeatures(
        task_id="watch_features",
        roles=roles.output,
        features=extracted.output,
        execution_timeout=dt.timedelta(minutes=30),
    )
    decision = DecideAB(task_id="decide", roles=roles.output, execution_timeout=dt.timedelta(minutes=30))
    written = WriteMetrics(
        task_id="write_metrics",
        metrics=metrics.output,
        drift=drift.output,
        roles=roles.output,
        features=watched.output,
    )
    alerts = RaiseAlerts(
        task_id="raise_alerts",
        metrics=metrics.output,
        drift=drift.output,
        decision=decision.output,
        roles=roles.output,
        features=watched.output,
    )
    action = ActOnDecision(task_id="act", decision=decision.output, roles=roles.output, **endpoint_task)
    retire = RetireFallback(task_id="retire_fallback", roles=roles.output, **endpoint_task)
    report = WriteReport(
        task_id="write_report",
        metrics=metrics.output,
        drift=drift.output,
        decision=decision.output,
        alerts=alerts.output,
        action=action.output,
        features=watched.output,
    )

    roles >> [metrics, drift, extracted, decision]
    extracted >> watched
    [metrics, drift, watched] >> written
    [metrics, drift, watched, decision] >> alerts
    decision >> action >> retire
    [written, alerts, retire] >> report


llmops_monitoring()
