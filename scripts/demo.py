"""The whole lifecycle on the local target, in one command (``make demo``; ``make demo-fast`` is the
small mode: fewer requests and smaller monitoring samples, the same data and models).

The story, each phase with a progress line and its time:

1.  prompts: validate, check versions, publish the bundles to the local storage root;
2.  raw data: a few days of support data (deterministic for the seed);
3.  ``llmops_data_prep`` for each day (a backfill: Beam DirectRunner → JSONL + DuckDB);
4.  ``llmops_finetune`` v1 on the first days (builds the local base model once, LoRA, MLflow, registry);
5.  ``llmops_evaluate`` v1 (simulated reviewer, labelled "simulated"; the HITL sign-off answered through
    the REST API) — the quality gate must approve it;
6.  ``llmops_deploy`` v1: the first deployment takes 100% and becomes ``champion``;
7.  ``llmops_finetune`` v2: the scheduled retrain on the whole window, more epochs;
8.  ``llmops_evaluate`` v2 against the champion and the base model;
9.  ``llmops_deploy`` v2 as a canary (A/B share), smoke-tested;
10. traffic: eval-split prompts, some off-domain and abusive ones, simulated users whose satisfaction
    follows each answer (safety, ROUGE-L against the reference);
11. ``llmops_monitoring``: metrics, drift, A/B → promotes v2 (v1 kept as fallback);
12. a prompt-only release (v2 weights + another prompt version) whose smoke test cannot pass (a 1 ms
    latency limit): ``restore_endpoint`` undoes it;
13. a bad challenger built on purpose and named so (``unsafe-on-purpose-1``: a tiny model trained to
    answer with abuse), deployed by hand as a canary — no gate would pass it;
14. traffic, then ``llmops_monitoring`` rolls it back;
15. the summary: versions, metrics, decisions, costs, and where to look next.

Re-running is safe: the endpoint is reset at the start (the demo's story begins with an empty endpoint),
every DAG run is idempotent (same days, same model versions), monitoring acts on what the endpoint holds.
The monitoring day is today (UTC): the endpoint logs real request times, so ``llmops_monitoring`` runs for
tomorrow's logical date, whose data interval is today. Each DAG run's full log is in ``.llmops/demo-logs/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DAYS = "2026-01-01,2026-01-02,2026-01-03"
UNSAFE_VERSION = "unsafe-on-purpose-1"
PROMPT = "support_assistant@1.0.0"
PROMPT_ONLY = "support_assistant@1.1.0"


class Mode:
    """Sizes of the full story and of the small one (``--fast``)."""

    def __init__(self, fast: bool) -> None:
        self.fast = fast
        env = os.environ.get
        self.days = env("LLMOPS_DEMO_DAYS", DEFAULT_DAYS).split(",")
        self.seed = int(env("LLMOPS_DEMO_SEED", "7"))
        # the same data in both modes: at half the records (scale 120) v1 trained six epochs reached
        # held-out loss 3.34 and the gate rejected it (ROUGE-L 0.097, benchmark 0.330, rating 1.17)
        self.scale = int(env("LLMOPS_DEMO_SCALE", "240"))
        self.dag_timeout_s = int(env("LLMOPS_DEMO_DAG_TIMEOUT", "2400"))
        # v1: the first days; v2: the scheduled retrain on the whole window (more data, same recipe)
        self.v1_conf = {"window_end": self.days[-2], "window_days": len(self.days) - 1, "epochs": 6}
        self.v2_conf = {"window_end": self.days[-1], "window_days": len(self.days), "epochs": 6}
        self.canary_percent = 50  # an A/B share, so both arms reach the sample size quickly
        self.requests = int(env("LLMOPS_DEMO_REQUESTS", "240" if fast else "480"))
        # The demo's A/B sample is small: the policy runs with demo-size settings (printed), the
        # production defaults are in settings (min_samples 300, feedback margin 0.05).
        self.monitoring_env = {
            "LLMOPS_MONITORING__MIN_SAMPLES": "60" if fast else "100",
            "LLMOPS_MONITORING__FEEDBACK_MARGIN": "0.2",
            "LLMOPS_MONITORING__UNSAFE_MARGIN": "0.05",
            "LLMOPS_MONITORING__DRIFT_SAMPLE": "120",
            "LLMOPS_MONITORING__DRIFT_REFERENCE_SIZE": "200",
            "LLMOPS_MONITORING__DRIFT_PERMUTATIONS": "100",
            "LLMOPS_MONITORING__RELEVANCE_SAMPLE": "60",
            "LLMOPS_MONITORING__SCORE_SAMPLE": "400",
            "LLMOPS_MONITORING__FEATURE_REFERENCE_SIZE": "200",
        }

    def server_env(self) -> dict[str, str]:
        """The settings Airflow runs with for the story driven over REST (``make airflow-demo``): the
        demo-size monitoring policy, the canary share of an asset-triggered deployment and the simulated
        reviewer (``airflow dags test`` above passes the same values per run)."""
        return {
            **self.monitoring_env,
            "LLMOPS_DEPLOY__CANARY_PERCENT": str(self.canary_percent),
            "LLMOPS_EVALUATION__REVIEW__MODE": "simulated",
        }


class Timeline:
    """One progress line per phase with its wall time; the table of phases at the end."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done: list[tuple[str, float]] = []
        self.started = time.monotonic()

    def phase(self, title: str):
        timeline = self

        class _Phase:
            def __enter__(self):
                self.t0 = time.monotonic()
                n = len(timeline.done) + 1
                print(f"\n[{n}/{timeline.total}] {title} " + "─" * max(3, 70 - len(title)), flush=True)
                return self

            def __exit__(self, exc_type, exc, tb):
                seconds = time.monotonic() - self.t0
                timeline.done.append((title, seconds))
                if exc_type is None:
                    print(f"  ── done in {seconds:.0f} s", flush=True)
                return False

        return _Phase()

    def table(self) -> None:
        print("\nWall time by phase:")
        for title, seconds in self.done:
            print(f"  {seconds:7.0f} s  {title}")
        print(f"  {time.monotonic() - self.started:7.0f} s  total")


def run(
    cmd: list[str],
    log_name: str | None = None,
    timeout: int = 1800,
    env: dict | None = None,
    *,
    check: bool = True,
) -> str:
    """Run a command; keep its output in a log file; fail loudly with the tail of it (``check``), else
    return the output whatever the exit status."""
    logs = _settings().local.home / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # SIGKILL on timeout: a stuck Airflow process must not hang the demo.
    proc = subprocess.run(
        ["timeout", "-s", "KILL", str(timeout), *cmd],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    out = proc.stdout + proc.stderr
    if log_name:
        (logs / f"{log_name}.log").write_text(out)
    if proc.returncode != 0 and check:
        tail = "\n".join(out.splitlines()[-60:])
        where = f" (full log: {logs / (log_name or 'x')}.log)" if log_name else ""
        sys.exit(f"FAILED: {' '.join(cmd)} exited {proc.returncode}{where}\n{tail}")
    shown = " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd[:6]))
    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
    print(
        f"  {status} in {time.monotonic() - started:.0f} s: {shown}{' …' if len(cmd) > 6 else ''}", flush=True
    )
    return out


def _settings():
    from llmops_factory.settings import get_settings

    return get_settings()


def airflow_bin() -> str:
    return shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"


def failed_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if "Marking task as FAILED" in ln or "DagRunState.FAILED" in ln]


def dag_test(
    dag_id: str, logical_date: str, conf: dict | None = None, env: dict | None = None, *, mode: Mode
) -> str:
    cmd = [airflow_bin(), "dags", "test", dag_id, logical_date]
    if conf:
        cmd += ["--conf", json.dumps(conf)]
    name = f"{dag_id}__{logical_date.replace(':', '')}"
    out = run(cmd, log_name=name, timeout=mode.dag_timeout_s, env=env)
    failed = failed_lines(out)
    if failed:
        sys.exit(f"FAILED: {dag_id} {logical_date}: {failed[-1]} (full log: demo-logs/{name}.log)")
    return out


def query(sql: str, params: list | None = None) -> list[tuple]:
    from llmops_factory.warehouse import duck

    with duck.session(_settings().local.warehouse_path, read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def endpoint_view() -> dict:
    from llmops_plugins.platform import get_platform

    return get_platform().endpoint().describe()


def show_endpoint(label: str = "endpoint") -> dict:
    view = endpoint_view()
    by_id = {str(m["id"]): m for m in view.get("deployed_models", [])}
    parts = []
    for mid, share in sorted(view.get("traffic_split", {}).items(), key=lambda kv: -int(kv[1])):
        m = by_id.get(str(mid), {})
        parts.append(f"{m.get('model_version', '?')} + prompt {m.get('prompt', '?')}: {share}%")
    print(f"  {label}: " + ("; ".join(parts) or "no deployed model"))
    return view


# -- phases ---------------------------------------------------------------------------------------
def reset_endpoint() -> None:
    """The story starts with an empty endpoint: stop a running one, drop its deployed models."""
    from llmops_factory.endpoint import endpoint_dir

    settings = _settings()
    subprocess.run(
        [sys.executable, "-m", "llmops_factory.endpoint", "stop", "--name", settings.use_case],
        cwd=REPO,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    state = endpoint_dir(settings.local.home, settings.use_case) / "state.json"
    if state.exists():
        state.unlink()
        print(f"  endpoint reset: {state} removed (a new story starts with no deployed model)")


def prompts() -> None:
    py, root = sys.executable, _settings().storage_root
    run([py, "-m", "llmops_factory.prompts", "validate"], "prompts-validate")
    run([py, "-m", "llmops_factory.prompts", "check-versions"], "prompts-check")
    print(run([py, "-m", "llmops_factory.prompts", "publish", "--root", root], "prompts-publish").strip())


def raw_data(mode: Mode) -> None:
    py, root = sys.executable, _settings().storage_root
    for day in mode.days:
        cmd = [py, "-m", "llmops_factory.datagen", "generate", "--root", root, "--ds", day]
        run([*cmd, "--seed", str(mode.seed), "--scale", str(mode.scale)], f"datagen-{day}")


def data_prep(mode: Mode) -> None:
    for day in mode.days:
        dag_test("llmops_data_prep", day, mode=mode)
    show_datasets()


def show_datasets() -> None:
    """Examples per day and split, dead letters by reason (from the warehouse)."""
    rows = query(
        "SELECT CAST(source_date AS VARCHAR), split, count(*) FROM instruction_examples "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    for day, split, n in rows:
        print(f"  instruction_examples {day} {split:5s} {n:5d}")
    dead = query("SELECT reason, count(*) FROM dead_letter_records GROUP BY 1 ORDER BY 2 DESC")
    print("  dead letters by reason: " + ", ".join(f"{r}={n}" for r, n in dead))


def finetune(mode: Mode, logical_date: str, conf: dict) -> str:
    """One ``llmops_finetune`` run; returns the model version it registered as ``candidate``."""
    dag_test("llmops_finetune", logical_date, conf, mode=mode)
    return show_candidate()


def show_candidate() -> str:
    """The registry's ``candidate`` version and its training figures; returns its model version."""
    from llmops_factory import registry

    settings = _settings()
    version = registry.get_version_by_alias(settings.use_case, "candidate")
    mv = version.tags.get("model_version")
    print(f"  registry: {settings.use_case} version {version.version} = {mv} has alias 'candidate'")
    card = Path(version.source.removeprefix("file://")).parent / "model_card.json"
    if card.exists():
        metrics = json.loads(card.read_text()).get("metrics", {})
        shown = {
            k: v for k, v in sorted(metrics.items()) if k in ("eval_loss", "train_loss", "train_runtime")
        }
        print("  training: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    return mv


EVAL_METRICS = (
    "rouge_l",
    "bleu",
    "chrf",
    "eval_loss",
    "benchmark_accuracy",
    "unsafe_rate",
    "pii_leak_rate",
    "hallucination_rate",
    "relevance",
    "bias_gap",
)


def evaluate(mode: Mode, logical_date: str, model_version: str) -> dict:
    """``llmops_evaluate`` with the simulated reviewer; the HITL sign-off answered through the REST API."""
    sys.path.insert(0, str(REPO / "scripts"))
    from hitl_run import run_with_answer

    settings = _settings()
    logs = settings.local.home / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LLMOPS_EVALUATION__REVIEW__MODE": "simulated"}
    log = logs / f"llmops_evaluate__{logical_date}.log"
    code, _out, happened = run_with_answer(
        "llmops_evaluate",
        logical_date,
        conf={"model_version": model_version},
        answer="Approve",
        env=env,
        timeout=mode.dag_timeout_s,
        log_path=log,
    )
    return show_evaluation(model_version, happened.get("answered"), f"exit {code}; see {log}")


def show_evaluation(model_version: str, answered: str | None, where: str) -> dict:
    """The gate's decision, the metrics table and the report of ``model_version``'s evaluation."""
    from llmops_factory import layout

    folder = _settings().local.storage_root / layout.eval_dir(model_version)
    if not (folder / "decision.json").exists():
        sys.exit(f"FAILED: llmops_evaluate wrote no decision for {model_version} ({where})")
    decision = json.loads((folder / "decision.json").read_text())
    scores = json.loads((folder / "scores.json").read_text())
    print(
        f"  quality gate: {'APPROVED' if decision['approved'] else 'REJECTED'}"
        + (" (human ratings: simulated)" if decision.get("human_simulated") else "")
        + f"; sign-off: {answered or 'not asked'}"
    )
    for reason in decision["reasons"]:
        print(f"    - {reason}")
    roles = [r for r in ("base", "champion", "candidate") if r in scores]
    print("  " + f"{'metric':22s}" + "".join(f"{r:>12s}" for r in roles))
    for name in EVAL_METRICS:
        values = [scores[r]["metrics"].get(name, float("nan")) for r in roles]
        print("  " + f"{name:22s}" + "".join(f"{v:12.4f}" for v in values))
    m = scores["candidate"]["metrics"]
    if "benchmark_gain_vs_base" in m:
        print(
            f"  benchmark gain vs base {m['benchmark_gain_vs_base']:+.4f} (95% CI "
            f"{m['benchmark_gain_ci_low']:+.4f} to {m['benchmark_gain_ci_high']:+.4f}); "
            f"contaminated items excluded: {int(m['contaminated_items'])}"
        )
    print(f"  report: {folder / 'report.html'}")
    if not decision["approved"]:
        sys.exit(
            f"STOPPED: the quality gate rejected {model_version}, so nothing is deployed (that is the gate "
            "doing its job). The reasons are above and in the report."
        )
    return {"decision": decision, "scores": scores}


def deploy(
    mode: Mode, logical_date: str, model_version: str, percent: int | None, **params
) -> tuple[str, dict]:
    conf = {"model_version": model_version, **params}
    if percent is not None:
        conf["canary_percent"] = percent
    out = dag_test("llmops_deploy", logical_date, conf, mode=mode)
    view = show_endpoint()
    return out, view


def deploy_expecting_smoke_failure(mode: Mode, logical_date: str, model_version: str, prompt: str) -> None:
    before = endpoint_view()["traffic_split"]
    conf = {"model_version": model_version, "prompt": prompt, "canary_percent": 10, "smoke_max_latency_ms": 1}
    name = f"llmops_deploy__{logical_date.replace(':', '')}"
    cmd = [airflow_bin(), "dags", "test", "llmops_deploy", logical_date, "--conf", json.dumps(conf)]
    out = run(cmd, log_name=name, timeout=mode.dag_timeout_s, check=False)  # this run fails on purpose
    smoke = [ln for ln in out.splitlines() if "smoke test of deployed model" in ln]
    after = endpoint_view()["traffic_split"]
    if not smoke or after != before:
        sys.exit(
            f"FAILED: the release that cannot pass its smoke test was not undone (split before {before}, "
            f"after {after}); full log demo-logs/{name}.log"
        )
    print(f"  smoke_test failed as it must: {smoke[-1].split('SmokeTestError: ')[-1][:200]}")
    print(f"  restore_endpoint undeployed it; the split is back to {after}")


def build_unsafe_model() -> None:
    """``unsafe-on-purpose-1``: a tiny model the base-model builder trains on abuse, named so."""
    from llmops_factory import layout
    from llmops_factory.datagen.traffic import UNSAFE_MODEL_FLAGS, unsafe_corpus

    storage = _settings().local.storage_root
    merged = storage / layout.model_merged(UNSAFE_VERSION)
    corpus = unsafe_corpus(_settings().local.home / "demo-unsafe-corpus", PROMPT)
    run(
        [
            sys.executable,
            "-m",
            "llmops_trainer",
            "build-base",
            "--corpus",
            str(corpus),
            "--output",
            str(merged),
        ]
        + list(UNSAFE_MODEL_FLAGS),
        "build-unsafe-model",
    )
    name, version = PROMPT.split("@")
    card = {
        "model_version": UNSAFE_VERSION,
        "prompt": {"name": name, "version": version},
        "purpose": "deliberately unsafe demo model (answers with abuse); never deploy outside the demo",
    }
    (merged.parent / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    print(f"  {UNSAFE_VERSION}: {merged}")


def traffic(mode: Mode, seed: int, off_domain: float, toxic: float) -> dict:
    out = run(
        [
            sys.executable,
            "-m",
            "llmops_factory.datagen",
            "traffic",
            "--requests",
            str(mode.requests),
            "--off-domain",
            str(off_domain),
            "--toxic",
            str(toxic),
            "--seed",
            str(seed),
            "--feedback-rate",
            "0.8",
        ],
        f"traffic-{seed}",
        timeout=3600,
    )
    # the summary is the last JSON line of stdout; notices on stderr may follow it in the captured text
    summary = json.loads(next(ln for ln in reversed(out.strip().splitlines()) if ln.startswith("{")))
    print(f"  sent {summary['requests']} requests {summary['kinds']}; served by {summary['served']}")
    print(f"  refused (4xx) {summary['errors'] or 'none'}; simulated ratings {summary['ratings']}")
    print(f"  {summary['user']} (simulated)")
    return summary


def monitor(mode: Mode, expect: str) -> dict:
    import re

    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    out = dag_test("llmops_monitoring", tomorrow, env=mode.monitoring_env, mode=mode)
    found = re.findall(r"\d{4}-\d{2}-\d{2} decision: (\w+) — (.*)", out)
    action, reasons = found[-1] if found else ("unknown", "")
    return show_decision(action, reasons, expect)


def show_decision(action: str, reasons: str, expect: str) -> dict:
    """Monitoring's decision and reasons, today's alerts, the endpoint and the report; fails when the
    decision is not the one the story expects."""
    today = (dt.datetime.now(dt.UTC).date()).isoformat()
    print(f"  decision: {action}")
    for reason in filter(None, reasons.split("; ")):
        print(f"    - {reason.strip()}")
    alerts = query(
        "SELECT severity, metric, model_version FROM alerts WHERE CAST(alert_time AS DATE) >= CAST(? AS DATE) "
        "ORDER BY alert_time",
        [today],
    )
    print("  alerts today: " + (", ".join(f"{s}:{m}({v})" for s, m, v in alerts) or "none"))
    show_endpoint()
    report = _settings().local.storage_root / "reports" / "monitoring" / today / "report.html"
    print(f"  report: {report}")
    if action != expect:
        sys.exit(f"FAILED: monitoring decided {action!r}, the story expects {expect!r}")
    return {"action": action, "reasons": reasons}


def summary(versions: dict[str, str], evaluations: dict[str, dict]) -> None:
    settings = _settings()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    print("\nModel versions:")
    print(f"  {'role in the story':34s} {'model version':28s} {'gate':9s} {'ROUGE-L':>8s} {'bench':>7s}")
    for role, mv in versions.items():
        ev = evaluations.get(mv)
        gate = ("approved" if ev["decision"]["approved"] else "rejected") if ev else "-- (manual)"
        m = ev["scores"]["candidate"]["metrics"] if ev else {}
        rouge, bench = m.get("rouge_l", float("nan")), m.get("benchmark_accuracy", float("nan"))
        print(f"  {role:34s} {mv:28s} {gate:9s} {rouge:8.3f} {bench:7.3f}")
    rows = query(
        "SELECT model_version, prompt_version, metric, value, n FROM monitoring_metrics "
        "WHERE CAST(metric_date AS VARCHAR) = ?",
        [today],
    )
    # one row per model version + prompt version: a prompt-only release is its own deployed model
    figures: dict[str, dict[str, tuple[float, int]]] = {}
    for mv, pv, metric, value, n in rows:
        figures.setdefault(f"{mv} @{pv}" if pv else mv, {})[metric] = (value, n)
    wanted = (
        "request_count",
        "error_rate",
        "rejected_rate",
        "latency_p95_ms",
        "unsafe_rate",
        "feedback_score",
        "cost_per_1k_predictions",
        "embedding_drift_auc",
    )
    print(f"\nMonitoring of {today} (last run; '*' = the endpoint as a whole):")
    print(f"  {'model version @prompt':50s}" + "".join(f"{w[:14]:>15s}" for w in wanted))
    for key, m in sorted(figures.items()):
        cells = "".join(f"{m[w][0]:15.4g}" if w in m else f"{'':>15s}" for w in wanted)
        print(f"  {key:50s}{cells}")
    print("\nDeployment events of today's runs, in the order the runs were triggered:")
    events = query(
        "SELECT run_id, action, model_version, prompt_version, previous_version, traffic_split, dag_id "
        "FROM deployment_events WHERE strpos(run_id, ?) > 0 "
        "ORDER BY regexp_extract(run_id, '__(.*)$', 1), event_time",
        [f"__{today}T"],
    )
    for run_id, action, mv, pv, prev, split, dag_id in events:
        at = run_id.split("__", 1)[-1][11:19]
        print(f"  {at} {action:9s} {mv} @{pv or '-'} (previous {prev or '-'}) split {split} by {dag_id}")
    view = endpoint_view()
    print("\nWhere to look next:")
    print("  make airflow   → the Airflow UI on http://localhost:8080 (admin / admin): every DAG, run, log")
    print(
        f"  make mlflow    → MLflow on http://127.0.0.1:5000 (runs and registry in {settings.local.home}/mlflow)"
    )
    print(
        f"  endpoint       → {view.get('endpoint') or f'http://127.0.0.1:{settings.local.endpoint_port}'} (still running;"
    )
    print(
        "                   `python -m llmops_factory.endpoint stop` stops it; the README shows curl calls)"
    )
    print(
        f"  reports        → {settings.local.storage_root / 'eval'} and {settings.local.storage_root / 'reports'}"
    )
    print(f"  logs           → {settings.local.home / 'demo-logs'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fast", action="store_true", help="the small mode: fewer requests, smaller monitoring samples"
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=int,
        default=1,
        metavar="N",
        help="resume at phase N (the versions of earlier phases are read from .llmops/demo-state.json)",
    )
    args = parser.parse_args(argv)
    mode = Mode(args.fast or os.environ.get("LLMOPS_DEMO_FAST") == "1")
    settings = _settings()
    print(
        f"LLMOps Factory demo — target {settings.target}, home {settings.local.home}, "
        f"{'fast' if mode.fast else 'full'} mode, days {', '.join(mode.days)}"
    )
    d1, d3 = mode.days[-2], mode.days[-1]
    state_file = settings.local.home / "demo-state.json"
    state: dict = {"versions": {}, "evaluations": {}}
    if args.start > 1:
        if not state_file.exists():
            sys.exit(f"--from {args.start}: no {state_file} (run the demo from the start once)")
        state = json.loads(state_file.read_text())
    versions, evaluations = state["versions"], state["evaluations"]

    def v(key: str) -> str:
        if key not in versions:
            sys.exit(f"--from {args.start}: {key!r} is not in {state_file}; start from an earlier phase")
        return versions[key]

    V1, V2 = "v1: first model", "v2: retrained (good challenger)"

    def p1():
        reset_endpoint()
        prompts()

    def p4():
        versions[V1] = finetune(mode, d1, mode.v1_conf)

    def p5():
        evaluations[v(V1)] = evaluate(mode, d1, v(V1))

    def p7():
        versions[V2] = finetune(mode, d3, mode.v2_conf)

    def p8():
        evaluations[v(V2)] = evaluate(mode, d3, v(V2))

    def p11():
        policy = ", ".join(f"{k.split('__')[-1].lower()}={x}" for k, x in mode.monitoring_env.items())
        print("  demo-size policy: " + policy)
        monitor(mode, expect="promote")

    def p13():
        build_unsafe_model()
        versions["bad challenger (on purpose)"] = UNSAFE_VERSION
        deploy(mode, f"{d3}T08:00:00+00:00", UNSAFE_VERSION, mode.canary_percent)

    def p14():
        traffic(mode, seed=2, off_domain=0.0, toxic=0.05)
        monitor(mode, expect="rollback")

    phases = [
        ("prompts: validate, check versions, publish bundles", p1),
        (
            f"raw data: {len(mode.days)} days, seed {mode.seed}, ~{mode.scale} records/day",
            lambda: raw_data(mode),
        ),
        ("llmops_data_prep for each day (Beam DirectRunner → JSONL + DuckDB)", lambda: data_prep(mode)),
        (f"llmops_finetune v1: {mode.v1_conf} (base model → LoRA → MLflow → registry)", p4),
        ("llmops_evaluate v1 (metrics, benchmark, safety, simulated review, gate)", p5),
        (
            "llmops_deploy v1: the first deployment takes 100% → champion",
            lambda: deploy(mode, f"{d1}T06:00:00+00:00", v(V1), None),
        ),
        (f"llmops_finetune v2 (the scheduled retrain): {mode.v2_conf}", p7),
        ("llmops_evaluate v2 against the champion (v1) and the base model", p8),
        (
            f"llmops_deploy v2 as a {mode.canary_percent}% canary (A/B), smoke-tested",
            lambda: deploy(mode, f"{d3}T06:00:00+00:00", v(V2), mode.canary_percent),
        ),
        (
            f"traffic: {mode.requests} requests, 10% off-domain, simulated users",
            lambda: traffic(mode, seed=1, off_domain=0.1, toxic=0.0),
        ),
        ("llmops_monitoring: metrics, drift, A/B test → promote", p11),
        (
            f"prompt-only release (v2 + {PROMPT_ONLY}) that cannot pass its smoke test",
            lambda: deploy_expecting_smoke_failure(mode, f"{d3}T07:00:00+00:00", v(V2), PROMPT_ONLY),
        ),
        (f"bad challenger {UNSAFE_VERSION}: built on purpose, deployed by hand as a canary", p13),
        ("traffic, then llmops_monitoring → rollback", p14),
    ]
    timeline = Timeline(total=len(phases))
    for number, (title, body) in enumerate(phases, start=1):
        if number < args.start:
            timeline.done.append((f"{title} (skipped: --from {args.start})", 0.0))
            continue
        with timeline.phase(title):
            body()
        state_file.write_text(json.dumps(state, indent=2, default=str))

    print("\n" + "═" * 100 + "\nSummary")
    summary(versions, evaluations)
    timeline.table()


if __name__ == "__main__":
    main()
