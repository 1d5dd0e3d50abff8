"""Monitoring benchmark: the day's metrics over 100k logged requests, and the decision policy on
simulated A/B traffic (false-rollback rate, requests needed to roll back a 2x-unsafe challenger).

    python benchmarks/bench_monitoring.py [--requests 100000] [--trials 200]

The log rows are synthetic (generated here, labelled so in the figures); the SQL, the shared toxicity
classifier and PII recognisers, the statistics and the policy are the real ones. Rates are computed on a
deterministic sample of ``monitoring.score_sample`` responses per model (counts and latency percentiles
over every row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import duckdb
import numpy as np

from llmops_factory.endpoint.logsink import merge_rows
from llmops_factory.monitoring import checks, daily, sql
from llmops_factory.monitoring.policy import decide
from llmops_factory.settings import MonitoringSettings, Prices

DAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def bench_day(n: int) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        model = "2" if i % 10 == 0 else "1"
        rows.append(
            {
                "endpoint": "ep",
                "deployed_model_id": model,
                "logging_time": DAY + dt.timedelta(seconds=i * 86400 / n),
                "request_id": i + 1,
                "request_payload": [json.dumps({"instruction": f"How do I cancel plan {i % 97}?"})],
                "response_payload": [
                    json.dumps(
                        {
                            "model_version": f"v{model}",
                            "prompt_version": "1.0.0",
                            "tokens_in": 40,
                            "tokens_out": int(rng.integers(10, 80)),
                            "latency_ms": float(rng.gamma(4, 60)),
                            "text": "Open Settings, choose Plan, then Cancel.",
                        }
                    )
                ],
            }
        )
    conn = duckdb.connect()
    t0 = time.perf_counter()
    merge_rows(conn, "prediction_log", rows)
    load = time.perf_counter() - t0
    roles = [
        daily.Role("1", "champion", "v1", "p@1.0.0", 90),
        daily.Role("2", "challenger", "v2", "p@1.0.0", 10),
    ]
    m = MonitoringSettings()
    t0 = time.perf_counter()
    scorer = checks.ResponseChecks(m.toxicity_threshold)
    result = daily.day_metrics(
        lambda q, p: sql.run_duckdb(conn, q, p),
        roles,
        start=DAY,
        end=DAY + dt.timedelta(days=1),
        monitoring=m,
        prices=Prices(),
        scorer=scorer,
    )
    metrics_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    evidence, _ = daily.ab_evidence(
        lambda q, p: sql.run_duckdb(conn, q, p),
        roles,
        start=DAY,
        end=DAY + dt.timedelta(days=1),
        monitoring=m,
        prices=Prices(),
        scorer=scorer,
    )
    ab_s = time.perf_counter() - t0
    print(
        f"day over {n} synthetic logged requests: load {load:.1f} s (not part of the DAG), metrics "
        f"{metrics_s:.1f} s (score sample {m.score_sample}/model), A/B evidence {ab_s:.1f} s "
        f"(up to {m.ab_max_per_arm}/arm); requests counted {result['requests']}"
    )


def simulate(n: int, unsafe: tuple[float, float], m: MonitoringSettings, rng) -> str:
    c0 = int(rng.binomial(n, unsafe[0]))
    c1 = int(rng.binomial(n, unsafe[1]))
    pos0, pos1 = int(rng.binomial(n // 5, 0.7)), int(rng.binomial(n // 5, 0.7))
    lat0, lat1 = rng.gamma(4, 60, 500), rng.gamma(4, 60, 500)

    def arm(c, pos, lat):
        return {
            "requests": n,
            "errors": (int(rng.binomial(n, 0.005)), n),
            "unsafe": (c, n),  # noqa: E731
            "positive": (pos, n // 5),
            "latencies": lat,
            "cost_per_1k": 1.0,
        }

    evidence, _ = daily.evidence_from_counts(arm(c0, pos0, lat0), arm(c1, pos1, lat1), m)
    return decide(evidence, daily.limits_of(m)).action


def bench_policy(trials: int) -> None:
    m = MonitoringSettings()
    rng = np.random.default_rng(1)
    base = 0.01
    false = sum(simulate(2000, (base, base), m, rng) == "rollback" for _ in range(trials))
    print(
        f"policy, challenger as good (unsafe {base:.0%} both, 2000 requests/arm): false rollback "
        f"{false}/{trials} = {false / trials:.1%}"
    )
    for n in (300, 500, 1000, 2000, 4000, 8000):
        hits = sum(simulate(n, (base, 2 * base), m, rng) == "rollback" for _ in range(trials))
        print(
            f"policy, challenger 2x unsafe ({base:.0%} -> {2 * base:.0%}), {n} requests/arm: rolled back "
            f"{hits}/{trials} = {hits / trials:.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    bench_policy(args.trials)
    bench_day(args.requests)


if __name__ == "__main__":
    main()
