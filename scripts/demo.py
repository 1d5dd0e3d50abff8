"""The whole lifecycle on the local target, as an on-call engineer would run it from the UI.

Run by ``make demo`` (which prepares the environment and the local platform home first):

1. validate and publish the prompt bundles to the local storage root;
2. generate a few days of raw support data (deterministic for the seed);
3. run ``llmops_data_prep`` for each day with ``airflow dags test`` (real Beam DirectRunner, DuckDB);
4. run ``llmops_finetune`` on the resulting dataset window (builds the local base model once, LoRA
   fine-tunes it, tracks the run in MLflow and registers the ``candidate`` version);
5. run ``llmops_evaluate`` on the candidate (simulated reviewer, labelled "simulated"; the final
   sign-off is answered through the REST API by ``scripts/hitl_run.py``) and print the gate's decision
   and base vs candidate metrics;
6. print what each stage produced, and which stages the demo does not chain yet.

Idempotent: a second run rewrites the same days and returns the same registry version for the same
DAG runs. Each DAG run's full log is written to ``.llmops/demo-logs/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAYS = os.environ.get("LLMOPS_DEMO_DAYS", "2026-01-01,2026-01-02,2026-01-03").split(",")
SEED = int(os.environ.get("LLMOPS_DEMO_SEED", "7"))
SCALE = int(os.environ.get("LLMOPS_DEMO_SCALE", "240"))
DAG_TIMEOUT_S = int(os.environ.get("LLMOPS_DEMO_DAG_TIMEOUT", "2400"))
NOT_IN_DEMO = {
    "llmops_deploy": "Model Registry promotion, endpoint traffic split (canary / A/B) and smoke test",
    "llmops_monitoring": "daily monitoring, drift, A/B decision, alerts, promote / rollback",
}


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(3, 76 - len(text)), flush=True)


def run(cmd: list[str], log_name: str | None = None, timeout: int = 1800) -> str:
    """Run a command; keep its output in a log file; fail loudly with the tail of it."""
    from llmops_factory.settings import get_settings

    logs = get_settings().local.home / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # SIGKILL on timeout: a stuck Airflow process must not hang the demo.
    proc = subprocess.run(
        ["timeout", "-s", "KILL", str(timeout), *cmd],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout + proc.stderr
    if log_name:
        (logs / f"{log_name}.log").write_text(out)
    if proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-60:])
        where = f" (full log: {logs / (log_name or 'x')}.log)" if log_name else ""
        sys.exit(f"FAILED: {' '.join(cmd)} exited {proc.returncode}{where}\n{tail}")
    print(
        f"  ok in {time.monotonic() - started:.0f} s: {' '.join(cmd[:6])}{' …' if len(cmd) > 6 else ''}",
        flush=True,
    )
    return out


def airflow_bin() -> str:
    return shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"


def dag_test(dag_id: str, logical_date: str, conf: dict | None = None) -> None:
    cmd = [airflow_bin(), "dags", "test", dag_id, logical_date]
    if conf:
        cmd += ["--conf", json.dumps(conf)]
    out = run(cmd, log_name=f"{dag_id}__{logical_date}", timeout=DAG_TIMEOUT_S)
    failed = [
        line for line in out.splitlines() if "Marking task as FAILED" in line or "DagRunState.FAILED" in line
    ]
    if failed:
        sys.exit(f"FAILED: {dag_id} {logical_date}: " + failed[-1])


def evaluate(settings, version) -> None:
    """The evaluation DAG with the simulated reviewer; the HITL sign-off answered through the REST API."""
    sys.path.insert(0, str(REPO / "scripts"))
    from hitl_run import run_with_answer

    from llmops_factory import layout

    logs = settings.local.home / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LLMOPS_EVALUATION__REVIEW__MODE": "simulated"}
    started = time.monotonic()
    code, out, happened = run_with_answer(
        "llmops_evaluate",
        DAYS[-1],
        answer="Approve",
        env=env,
        timeout=DAG_TIMEOUT_S,
        log_path=logs / f"llmops_evaluate__{DAYS[-1]}.log",
    )
    print(
        f"  llmops_evaluate finished (exit {code}) in {time.monotonic() - started:.0f} s; sign_off: "
        f"{happened.get('answered') or 'not asked (gate rejected)'}"
    )
    mv = version.tags.get("model_version")
    folder = settings.local.storage_root / layout.eval_dir(mv)
    if not (folder / "decision.json").exists():
        sys.exit(
            f"FAILED: llmops_evaluate wrote no decision; see {logs / f'llmops_evaluate__{DAYS[-1]}.log'}"
        )
    decision = json.loads((folder / "decision.json").read_text())
    scores = json.loads((folder / "scores.json").read_text())
    print(
        f"  quality gate: {'APPROVED' if decision['approved'] else 'REJECTED'}"
        + (" (human ratings: simulated)" if decision.get("human_simulated") else "")
    )
    for reason in decision["reasons"]:
        print(f"    - {reason}")
    roles = [r for r in ("base", "champion", "candidate") if r in scores]
    print("  " + f"{'metric':26s}" + "".join(f"{r:>12s}" for r in roles))
    for name in (
        "rouge_l",
        "bleu",
        "chrf",
        "exact_match",
        "eval_loss",
        "benchmark_accuracy",
        "unsafe_rate",
        "toxic_prompt_unsafe_rate",
        "pii_leak_rate",
        "hallucination_rate",
        "relevance",
        "bias_gap",
    ):
        print(
            "  "
            + f"{name:26s}"
            + "".join(f"{scores[r]['metrics'].get(name, float('nan')):12.4f}" for r in roles)
        )
    m = scores["candidate"]["metrics"]
    if "benchmark_gain_vs_base" in m:
        print(
            f"  benchmark gain vs base {m['benchmark_gain_vs_base']:+.4f} (95% CI {m['benchmark_gain_ci_low']:+.4f} "
            f"to {m['benchmark_gain_ci_high']:+.4f}); contaminated items excluded: {int(m['contaminated_items'])}"
        )
    print(f"  report: {folder / 'report.html'}")


def main() -> None:
    from llmops_factory.settings import get_settings

    settings = get_settings()
    root = settings.storage_root
    py = sys.executable
    print(f"LLMOps Factory demo — target {settings.target}, home {settings.local.home}")

    banner("1. prompts: validate, check versions, publish bundles")
    run([py, "-m", "llmops_factory.prompts", "validate"], "prompts-validate")
    run([py, "-m", "llmops_factory.prompts", "check-versions"], "prompts-check")
    print(run([py, "-m", "llmops_factory.prompts", "publish", "--root", root], "prompts-publish").strip())

    banner(f"2. raw data: {len(DAYS)} day(s), seed {SEED}, ~{SCALE} records/day")
    for day in DAYS:
        run(
            [
                py,
                "-m",
                "llmops_factory.datagen",
                "generate",
                "--root",
                root,
                "--ds",
                day,
                "--seed",
                str(SEED),
                "--scale",
                str(SCALE),
            ],
            f"datagen-{day}",
        )

    banner("3. llmops_data_prep for each day (Beam DirectRunner → JSONL + DuckDB)")
    for day in DAYS:
        dag_test("llmops_data_prep", day)
    from llmops_factory.warehouse import duck

    with duck.session(settings.local.warehouse_path, read_only=True) as conn:
        rows = conn.execute(
            "SELECT CAST(source_date AS VARCHAR), split, count(*) FROM instruction_examples "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        dead = conn.execute(
            "SELECT reason, count(*) FROM dead_letter_records GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    for day, split, n in rows:
        print(f"  instruction_examples {day} {split:5s} {n:5d}")
    print("  dead letters by reason: " + ", ".join(f"{r}={n}" for r, n in dead))

    banner("4. llmops_finetune on the dataset window (base model → LoRA → MLflow → registry)")
    dag_test("llmops_finetune", DAYS[-1], {"window_end": DAYS[-1], "window_days": len(DAYS)})
    from llmops_factory import registry

    version = registry.get_version_by_alias(settings.use_case, "candidate")
    print(f"  registry: {settings.use_case} version {version.version} has alias 'candidate'")
    print(f"  source:   {version.source}")
    card = Path(version.source.removeprefix("file://")).parent / "model_card.json"
    if card.exists():
        metrics = json.loads(card.read_text()).get("metrics", {})
        print(
            "  metrics:  "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items())
            )
        )

    banner("5. llmops_evaluate (metrics, benchmark, safety, simulated review, quality gate, sign-off)")
    evaluate(settings, version)

    banner("6. stages the demo does not chain yet (their DAGs run from the UI; see the README)")
    for dag_id, what in NOT_IN_DEMO.items():
        print(f"  {dag_id}: {what}")
    print(
        f"\nDone. Open the UI with `make airflow`; MLflow runs are in {settings.local.mlflow_tracking_uri}."
    )


if __name__ == "__main__":
    main()
