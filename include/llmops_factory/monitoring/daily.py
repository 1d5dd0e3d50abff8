"""One monitoring day, Airflow-free: figures per deployed model, drift, A/B evidence and decision.

Every function takes ``query(name, params) -> rows`` (the target's runner of the ``sql/`` texts), so the
same code runs on BigQuery and on DuckDB, and tests drive it with a real DuckDB file.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmops_factory.monitoring import abtest, checks
from llmops_factory.monitoring.cost import ServingMachine, cost_per_1k, day_cost_usd
from llmops_factory.monitoring.policy import Decision, Evidence, Limits, decide

Query = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Role:
    """A deployed model on the endpoint and its role (champion, challenger, fallback, other)."""

    deployed_model_id: str
    role: str
    model_version: str
    prompt: str
    traffic_percent: int
    trained_prompt: str | None = None
    machine: ServingMachine = ServingMachine("local-cpu")


def limits_of(monitoring: Any) -> Limits:
    from llmops_factory.monitoring.alerts import threshold

    return Limits(
        min_samples=monitoring.min_samples,
        alpha=monitoring.alpha,
        feedback_margin=monitoring.feedback_margin,
        unsafe_margin=monitoring.unsafe_margin,
        max_unsafe_rate=threshold("unsafe_rate", monitoring),
        max_error_rate=threshold("error_rate", monitoring),
        latency_p95_slo_ms=threshold("latency_p95_ms", monitoring),
        cost_budget_per_1k_usd=threshold("cost_per_1k_predictions", monitoring),
    )


def _rate(n: int, count: int) -> float | None:
    return count / n if n else None


def day_metrics(
    query: Query,
    roles: Sequence[Role],
    *,
    start: _dt.datetime,
    end: _dt.datetime,
    monitoring: Any,
    prices: Any,
    scorer: checks.ResponseChecks | None,
    embed=None,
) -> dict[str, Any]:
    """The day's figures of every deployed model: ``{"models": [...], "unparseable": n, "requests": n}``.

    Each model entry has ``role``, ``model_version``, ``prompt_version`` and ``metrics`` (catalogue
    name → (value, n)); rates are over a deterministic sample of ``monitoring.score_sample`` responses.
    A deployed model without traffic still gets ``request_count`` 0; rates without data are absent.
    """
    params = {"start": start, "end": end}
    figures = {r["deployed_model_id"]: r for r in query("day_metrics", params)}
    sample = query("request_sample", {**params, "per_model": monitoring.score_sample}) if figures else []
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in sample:
        by_model.setdefault(row["deployed_model_id"], []).append(row)
    hours = (end - start).total_seconds() / 3600
    known = {r.deployed_model_id for r in roles}
    extra = [
        Role(i, "unknown", figures[i]["model_version"] or "?", figures[i]["prompt_version"] or "?", 0)
        for i in sorted(figures)
        if i not in known
    ]
    models = []
    for role in [*roles, *extra]:
        f = figures.get(role.deployed_model_id) or {}
        n = int(f.get("requests") or 0)
        ok = int(f.get("ok") or 0)
        m: dict[str, tuple[float, int]] = {"request_count": (n, n)}
        if n:
            m["error_rate"] = (
                int(f["errors"]) / (n - int(f["unparseable"])) if n > int(f["unparseable"]) else 1.0,
                n,
            )
            m["rejected_rate"] = (
                int(f.get("rejected") or 0) / (n - int(f["unparseable"]))
                if n > int(f["unparseable"])
                else 0.0,
                n,
            )
            for q in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
                if f.get(q) is not None:
                    m[q] = (float(f[q]), ok)
            m["tokens_in"] = (int(f.get("tokens_in") or 0), ok)
            m["tokens_out"] = (int(f.get("tokens_out") or 0), ok)
        if role.role != "unknown" and n:
            cost = day_cost_usd(
                role.machine,
                hours,
                int(f.get("tokens_in") or 0),
                int(f.get("tokens_out") or 0),
                prices=prices,
                token_price_in_per_1k=monitoring.token_price_in_per_1k_usd,
                token_price_out_per_1k=monitoring.token_price_out_per_1k_usd,
            )
            value = cost_per_1k(cost, ok)
            if math.isfinite(value):
                m["cost_per_1k_predictions"] = (value, ok)
        if int(f.get("rated") or 0):
            m["feedback_score"] = (float(f["feedback_score"]), int(f["rated"]))
        served = f.get("prompt_version")
        if role.trained_prompt and served:
            skew = int(f.get("prompt_versions") or 1) > 1 or served != role.trained_prompt.rpartition("@")[2]
            m["prompt_version_skew"] = (int(skew), n)
        rows = [r for r in by_model.get(role.deployed_model_id, []) if not r["is_error"]]
        if rows and scorer is not None:
            prompts = [checks.instance_text(r["instance"]) for r in rows]
            scores = scorer.score(prompts, [r["response_text"] or "" for r in rows])
            m["unsafe_rate"] = (sum(scores.unsafe) / len(rows), len(rows))
            m["pii_leak_rate"] = (sum(scores.pii) / len(rows), len(rows))
            if scores.hallucinated is not None:
                m["hallucination_rate"] = (sum(scores.hallucinated) / len(rows), len(rows))
            if embed is not None:
                k = monitoring.relevance_sample
                rel = checks.relevance(embed, prompts[:k], [r["response_text"] or "" for r in rows[:k]])
                m["answer_relevance"] = (sum(rel) / len(rel), len(rel))
        models.append(
            {
                "deployed_model_id": role.deployed_model_id,
                "role": role.role,
                "model_version": role.model_version,
                "prompt_version": served or role.prompt,
                "endpoint": f.get("endpoint"),
                "metrics": m,
                "latencies": [float(r["latency_ms"]) for r in rows if r["latency_ms"] is not None][:2000],
            }
        )
    return {
        "models": models,
        "requests": sum(int(f.get("requests") or 0) for f in figures.values()),
        "unparseable": sum(int(f.get("unparseable") or 0) for f in figures.values()),
    }


def ab_evidence(
    query: Query,
    roles: Sequence[Role],
    *,
    start: _dt.datetime,
    end: _dt.datetime,
    monitoring: Any,
    prices: Any,
    scorer: checks.ResponseChecks,
) -> tuple[Evidence, dict[str, Any]]:
    """Counts and tests of the challenger against the champion over ``[start, end)``."""
    champion = next((r for r in roles if r.role == "champion"), None)
    challenger = next((r for r in roles if r.role == "challenger"), None)
    if champion is None or challenger is None:
        return Evidence(champion is not None, challenger is not None), {}
    params = {"start": start, "end": end}
    figures = {r["deployed_model_id"]: r for r in query("day_metrics", params)}
    rows = query("request_sample", {**params, "per_model": monitoring.ab_max_per_arm})
    arms: dict[str, dict[str, Any]] = {}
    for role in (champion, challenger):
        mine = [r for r in rows if r["deployed_model_id"] == role.deployed_model_id]
        ok = [r for r in mine if not r["is_error"]]
        unsafe = scorer.score([""] * len(ok), [r["response_text"] or "" for r in ok]).unsafe if ok else []
        rated = [r for r in mine if r["rating"] is not None]
        f = figures.get(role.deployed_model_id) or {}
        n_ok = int(f.get("ok") or 0)
        hours = (end - start).total_seconds() / 3600
        cost = day_cost_usd(
            role.machine,
            hours,
            int(f.get("tokens_in") or 0),
            int(f.get("tokens_out") or 0),
            prices=prices,
            token_price_in_per_1k=monitoring.token_price_in_per_1k_usd,
            token_price_out_per_1k=monitoring.token_price_out_per_1k_usd,
        )
        arms[role.role] = {
            "requests": int(f.get("requests") or 0),
            "errors": (
                int(f.get("errors") or 0),
                int(f.get("requests") or 0) - int(f.get("unparseable") or 0),
            ),
            "unsafe": (sum(unsafe), len(ok)),
            "positive": (sum(1 for r in rated if r["rating"] > 0), len(rated)),
            "latencies": [float(r["latency_ms"]) for r in ok if r["latency_ms"] is not None],
            "cost_per_1k": cost_per_1k(cost, n_ok) if n_ok else math.nan,
        }
    return evidence_from_counts(arms["champion"], arms["challenger"], monitoring)


def evidence_from_counts(
    champ: Mapping[str, Any], chall: Mapping[str, Any], monitoring: Any
) -> tuple[Evidence, dict]:
    """Run the A/B tests on per-arm counts (``requests``, ``errors``/``unsafe``/``positive`` as
    ``(count, n)``, ``latencies``, ``cost_per_1k``)."""
    limits = limits_of(monitoring)
    unsafe = abtest.rate_test(
        "unsafe", champ["unsafe"], chall["unsafe"], alpha=limits.alpha, limit=limits.max_unsafe_rate
    )
    errors = abtest.rate_test(
        "errors", champ["errors"], chall["errors"], alpha=limits.alpha, limit=limits.max_error_rate
    )
    feedback = abtest.rate_test(
        "positive feedback", champ["positive"], chall["positive"], alpha=limits.alpha, higher_is_worse=False
    )
    latency = abtest.latency_test(champ["latencies"], chall["latencies"], alpha=limits.alpha)
    evidence = Evidence(
        True,
        True,
        champ["requests"],
        chall["requests"],
        unsafe,
        errors,
        feedback,
        latency,
        champ["cost_per_1k"],
        chall["cost_per_1k"],
    )
    summary = {
        "champion": {
            "requests": champ["requests"],
            "unsafe_rate": unsafe.champion_rate,
            "error_rate": errors.champion_rate,
            "positive_rate": feedback.champion_rate,
            "latency_p95_ms": latency.champion_p95,
            "cost_per_1k": champ["cost_per_1k"],
        },
        "challenger": {
            "requests": chall["requests"],
            "unsafe_rate": unsafe.challenger_rate,
            "error_rate": errors.challenger_rate,
            "positive_rate": feedback.challenger_rate,
            "latency_p95_ms": latency.challenger_p95,
            "cost_per_1k": chall["cost_per_1k"],
        },
        "tests": {
            "unsafe_p_worse": unsafe.p_worse,
            "unsafe_p_over_limit": unsafe.p_over_limit,
            "errors_p_worse": errors.p_worse,
            "feedback_p_worse": feedback.p_worse,
            "feedback_diff_ci": [feedback.diff_low, feedback.diff_high],
            "unsafe_diff_ci": [unsafe.diff_low, unsafe.diff_high],
            "latency_p_slower": latency.p_slower,
        },
    }
    return evidence, summary


def decision(evidence: Evidence, monitoring: Any) -> Decision:
    return decide(evidence, limits_of(monitoring))
