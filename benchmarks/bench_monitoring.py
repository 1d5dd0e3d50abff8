"""Monitoring benchmark: the day's metrics over 100k logged requests, the decision policy on
simulated A/B traffic (false-rollback rate, requests needed to roll back a 2x-unsafe challenger), and
the drift detector with the real embedder (all-MiniLM-L6-v2): detection rate on days with 10% and 30%
off-domain prompts and the false-alarm rate over in-domain days; and the same for the prompt features
of tabular monitoring (per-feature Jensen-Shannon divergence), with their extraction throughput.

    python benchmarks/bench_monitoring.py [--requests 100000] [--trials 200] [--drift-days 20]
    python benchmarks/bench_monitoring.py --only drift
    python benchmarks/bench_monitoring.py --only features [--feature-days 20] [--feature-sample 800]

Drift days: the reference is the customer questions of one generated day (the data generator's
support chats, as the training snapshot holds them); each in-domain day is another generated day (other
date and seed); off-domain prompts are the 252 human-written self-instruct instructions of
``../shared/data/real/`` (writing, e-mail, code, maths — text nobody here wrote), mixed in at 10% or 30%.
The detector, its thresholds and sample sizes are the production settings.

The log rows are synthetic (generated here, labelled so in the figures); the SQL, the shared toxicity
classifier and PII recognisers, the statistics and the policy are the real ones. Rates are computed on a
deterministic sample of ``monitoring.score_sample`` responses per model (counts and latency percentiles
over every row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

import duckdb
import numpy as np

from llmops_factory.endpoint.logsink import merge_rows
from llmops_factory.monitoring import checks, daily, sql
from llmops_factory.monitoring.policy import decide
from llmops_factory.settings import MonitoringSettings, Prices

DAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


QUESTIONS = [
    "How do I cancel plan {k}?",
    "Why was I charged twice for order {k}?",
    "Can I get a refund for invoice {k} after 10 days?",
    "How many devices can stream at once on account {k}?",
    "My download of episode {k} fails offline, what now?",
    "How do I reset the password of profile {k}?",
    "Is there a student discount for plan {k}?",
    "Can I share subscription {k} with my family?",
]
ANSWERS = [
    "Open Settings, choose Plan, then Cancel.",
    "Refunds are possible within 14 days of the charge; contact billing with the invoice number.",
    "The Premium plan streams on four devices at once, Standard on two.",
    "A double charge is usually a pending authorisation that disappears within three business days.",
    "Downloads expire after 48 hours offline; reconnect once to renew them.",
    "Use the Forgot password link on the sign-in page; the e-mail arrives within a few minutes.",
    "Student discounts apply to the Plus plan with a valid university e-mail address.",
    "Family sharing lets up to five members use one subscription with separate profiles.",
]


def synthetic_day(n: int, rng) -> list[dict]:
    """``n`` log rows of one day in the Vertex shape, 90/10 champion/challenger, varied prompts and answers."""
    rows = []
    for i in range(n):
        model = "2" if i % 10 == 0 else "1"
        k = int(rng.integers(1, 10_000))
        answer = " ".join(
            ANSWERS[int(j)] for j in rng.choice(len(ANSWERS), int(rng.integers(1, 4)), replace=False)
        )
        rows.append(
            {
                "endpoint": "ep",
                "deployed_model_id": model,
                "logging_time": DAY + dt.timedelta(seconds=i * 86400 / n),
                "request_id": i + 1,
                "request_payload": [json.dumps({"instruction": QUESTIONS[i % len(QUESTIONS)].format(k=k)})],
                "response_payload": [
                    json.dumps(
                        {
                            "model_version": f"v{model}",
                            "prompt_version": "1.0.0",
                            "tokens_in": 40,
                            "tokens_out": int(rng.integers(10, 80)),
                            "latency_ms": float(rng.gamma(4, 60)),
                            "text": f"{answer} (ref {k})",
                        }
                    )
                ],
            }
        )
    return rows


def bench_day(n: int) -> None:
    """What the DAG's three compute tasks do over one day of ``n`` logged requests, task by task:
    ``compute_metrics`` (SQL, scoring the sample, MiniLM relevance), ``detect_drift`` (MiniLM embeddings
    of the day's sample and of the reference, classifier AUC + MMD) and ``decide`` (A/B evidence over up
    to ``ab_max_per_arm`` requests per arm, the policy). Writing metrics and alerts (a few rows) and the
    report are not timed here."""
    from llmops_factory.monitoring import drift, embeddings
    from llmops_factory.monitoring.alerts import threshold

    rng = np.random.default_rng(0)
    rows = synthetic_day(n, rng)
    conn = duckdb.connect()
    t0 = time.perf_counter()
    merge_rows(conn, "prediction_log", rows)
    load = time.perf_counter() - t0
    roles = [
        daily.Role("1", "champion", "v1", "p@1.0.0", 90),
        daily.Role("2", "challenger", "v2", "p@1.0.0", 10),
    ]
    m = MonitoringSettings()
    interval = {"start": DAY, "end": DAY + dt.timedelta(days=1)}

    def query(q, p):
        return sql.run_duckdb(conn, q, p)

    t0 = time.perf_counter()
    embeddings.embed(["warm-up"])  # the model load, paid once per task process
    scorer = checks.ResponseChecks(m.toxicity_threshold)
    setup_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    result = daily.day_metrics(
        query, roles, **interval, monitoring=m, prices=Prices(), scorer=scorer, embed=embeddings.embed
    )
    metrics_s, metrics_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    sample = query("request_sample", {**interval, "per_model": m.drift_sample})
    current = [checks.instance_text(r["instance"]) for r in sample][: m.drift_sample]
    reference = [QUESTIONS[i % len(QUESTIONS)].format(k=i) for i in range(m.drift_reference_size)]
    drifted = drift.detect(
        embeddings.embed(reference),
        embeddings.embed(current),
        current,
        auc_threshold=threshold("embedding_drift_auc", m),
        mmd_alpha=m.drift_mmd_alpha,
        permutations=m.drift_permutations,
    )
    drift_s, drift_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    evidence, _ = daily.ab_evidence(query, roles, **interval, monitoring=m, prices=Prices(), scorer=scorer)
    action = daily.decision(evidence, m).action
    ab_s, ab_cpu = time.perf_counter() - t0, time.process_time() - c0
    total = metrics_s + drift_s + ab_s
    print(
        f"day over {n} synthetic logged requests (90/10 split; load into DuckDB {load:.1f} s, not part of "
        f"the DAG): compute_metrics {metrics_s:.1f} s / {metrics_cpu:.1f} CPU s (score sample {m.score_sample}/model, relevance "
        f"{m.relevance_sample}/model), detect_drift {drift_s:.1f} s / {drift_cpu:.1f} CPU s ({len(current)} vs {len(reference)} "
        f"prompts, drifted={drifted.drifted}), decide {ab_s:.1f} s / {ab_cpu:.1f} CPU s (A/B up to {m.ab_max_per_arm}/arm, "
        f"{action}); sum {total:.1f} s / {metrics_cpu + drift_cpu + ab_cpu:.1f} CPU s (load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}) plus {setup_s:.1f} s model loads per process; requests counted "
        f"{result['requests']}"
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


def _questions(day: str, seed: int, n: int, folder) -> list[str]:
    """The first customer message of each generated support chat of ``day`` (no injected defects)."""
    from llmops_factory.datagen.defects import KINDS
    from llmops_factory.datagen.generator import generate_day

    root = folder / f"{day}-{seed}"
    generate_day(
        root.as_uri(),
        day,
        seed=seed,
        scale=int(n * 1.8),
        rates={k: 0.0 for k in KINDS},
        sources=["support_chats"],
    )
    out = []
    for path in sorted((root / "raw" / "support_chats").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            messages = json.loads(line)["messages"]
            user = next((m["content"] for m in messages if m["role"] == "user"), None)
            if user:
                out.append(user)
    return out[:n]


def bench_drift(days: int) -> None:
    import random
    import tempfile
    from pathlib import Path

    from llmops_factory.datagen.traffic import off_domain_prompts
    from llmops_factory.monitoring import drift, embeddings
    from llmops_factory.monitoring.alerts import threshold

    m = MonitoringSettings()
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in cache})
        if missing:
            for t, v in zip(missing, embeddings.embed(missing), strict=True):
                cache[t] = v
        return np.stack([cache[t] for t in texts])

    off = [checks.instance_text(p) for p in off_domain_prompts()]
    auc_threshold = threshold("embedding_drift_auc", m)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        reference = _questions("2026-01-01", 1, m.drift_reference_size, folder)
        ref = embed(reference)
        start = dt.date(2026, 2, 1)
        results: dict[float, list] = {0.0: [], 0.1: [], 0.3: []}
        seconds = []
        for i in range(days):
            day = (start + dt.timedelta(days=i)).isoformat()
            today = _questions(day, 100 + i, m.drift_sample, folder)
            rng = random.Random(i)
            for share in results:
                if share and i >= max(10, days // 2):
                    continue  # injected days: the first half (at least 10) of the days
                k = round(len(today) * share)
                texts = rng.sample(off, k) + rng.sample(today, len(today) - k)
                t1 = time.perf_counter()
                r = drift.detect(
                    ref,
                    embed(texts),
                    texts,
                    auc_threshold=auc_threshold,
                    mmd_alpha=m.drift_mmd_alpha,
                    permutations=m.drift_permutations,
                    seed=i,
                )
                seconds.append(time.perf_counter() - t1)
                results[share].append(r)
                print(
                    f"  {day} off-domain {share:.0%}: AUC {r.auc:.3f}, MMD p {r.mmd_p_value:.3g} -> "
                    f"drifted={r.drifted}",
                    flush=True,
                )
        total = time.perf_counter() - t0
    for share, rs in results.items():
        hits = sum(r.drifted for r in rs)
        auc = np.array([r.auc for r in rs])
        label = "false alarms, in-domain days" if not share else f"detected, {share:.0%} off-domain days"
        print(
            f"drift {label}: {hits}/{len(rs)} = {hits / len(rs):.0%} (AUC alone {sum(r.auc_drifted for r in rs)}, "
            f"MMD alone {sum(r.mmd_drifted for r in rs)}; AUC mean {auc.mean():.3f}, max {auc.max():.3f})"
        )
    print(
        f"drift: {m.drift_sample} prompts/day vs {len(reference)} reference prompts, AUC threshold "
        f"{auc_threshold}, MMD alpha {m.drift_mmd_alpha}, {m.drift_permutations} permutations; "
        f"detect {np.median(seconds):.2f} s/day median (embeddings cached), {total:.0f} s in all "
        f"({len(cache)} texts embedded)"
    )


def bench_features(days: int, sample: int | None = None) -> None:
    """The prompt features of tabular monitoring on the same days: extraction throughput (embed +
    project) and the per-feature Jensen-Shannon check's false alarms and detections at the settings'
    threshold and a few others (a day alarms when any feature is above the threshold). ``sample``:
    prompts a day (default ``monitoring.feature_sample``); 30% off-domain needs ``sample`` ≤ 840 with the
    252 distinct off-domain prompts."""
    import random
    import tempfile
    from pathlib import Path

    from llmops_factory.datagen.traffic import off_domain_prompts
    from llmops_factory.monitoring import embeddings, features

    m = MonitoringSettings()
    cache: dict[str, np.ndarray] = {}

    def embed(texts) -> np.ndarray:
        missing = sorted({t for t in texts if t not in cache})
        if missing:
            for t, v in zip(missing, embeddings.embed(missing), strict=True):
                cache[t] = v
        return np.stack([cache[t] for t in texts])

    off = [checks.instance_text(p) for p in off_domain_prompts()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reference_texts = _questions("2026-01-01", 1, m.feature_reference_size, folder)
        t0 = time.perf_counter()
        vectors = embed(reference_texts)
        projection = features.fit_projection(
            vectors,
            reference="bench-pca8-v1",
            embedding_model=embeddings.MODEL_NAME,
            fitted_date="2026-01-01",
        )
        reference = features.feature_rows(reference_texts, projection, embed)
        fit_s = time.perf_counter() - t0
        start = dt.date(2026, 2, 1)
        results: dict[float, list] = {0.0: [], 0.1: [], 0.3: []}
        extract_s, check_s = [], []
        for i in range(days):
            day = (start + dt.timedelta(days=i)).isoformat()
            today = _questions(day, 100 + i, sample or m.feature_sample, folder)
            rng = random.Random(i)
            for share in results:
                if share and i >= max(10, days // 2):
                    continue
                k = min(round(len(today) * share), len(off))
                texts = rng.sample(off, k) + rng.sample(today, len(today) - k)
                t1 = time.perf_counter()
                rows = features.feature_rows(texts, projection, embed)
                if not share:  # a day's own prompts are embedded here first: the extraction throughput
                    extract_s.append((time.perf_counter() - t1) / len(texts) * 1000)
                t2 = time.perf_counter()
                r = features.feature_drift(
                    reference, rows, threshold=m.feature_drift_threshold, bins=m.feature_bins
                )
                check_s.append(time.perf_counter() - t2)
                results[share].append(r)
                top = max(r.divergence, key=r.divergence.get)
                print(
                    f"  {day} off-domain {k / len(texts):.0%} ({k} of {len(texts)}): max JS {r.divergence[top]:.3f} ({top}) -> "
                    f"drifted={r.drifted or 'none'}",
                    flush=True,
                )
    for share, rs in results.items():
        hits = sum(bool(r.drifted) for r in rs)
        worst = np.array([max(r.divergence.values()) for r in rs])
        label = "false alarms, in-domain days" if not share else f"detected, {share:.0%} off-domain days"
        print(
            f"features {label}: {hits}/{len(rs)} = {hits / len(rs):.0%} (max JS per day: mean "
            f"{worst.mean():.3f}, max {worst.max():.3f})"
        )
    for limit in (0.005, 0.0075, 0.01, 0.015, 0.02, 0.05, m.feature_drift_threshold):
        rates = ", ".join(
            f"{'false alarms' if not share else f'{share:.0%} detected'} "
            f"{sum(max(r.divergence.values()) > limit for r in rs)}/{len(rs)}"
            for share, rs in results.items()
        )
        print(f"features at JS threshold {limit}: {rates}")
    print(
        f"features: {sample or m.feature_sample} prompts/day vs {len(reference)} reference prompts, JS threshold "
        f"{m.feature_drift_threshold}, {m.feature_bins} bins; projection fitted in {fit_s:.1f} s (embeddings "
        f"included); extraction {np.median(extract_s):.1f} s per 1000 prompts (embed + project, uncached, "
        f"median); JS check {np.median(check_s) * 1000:.0f} ms/day median"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--drift-days", type=int, default=20)
    parser.add_argument("--feature-days", type=int, default=20)
    parser.add_argument("--feature-sample", type=int, default=None)
    parser.add_argument("--only", choices=["policy", "day", "drift", "features"], default=None)
    args = parser.parse_args()
    if args.only in (None, "policy"):
        bench_policy(args.trials)
    if args.only in (None, "day"):
        bench_day(args.requests)
    if args.only in (None, "drift"):
        bench_drift(args.drift_days)
    if args.only in (None, "features"):
        bench_features(args.feature_days, args.feature_sample)


if __name__ == "__main__":
    main()
