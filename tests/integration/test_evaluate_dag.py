"""``llmops_evaluate`` end to end on the local target (``airflow dags test``), real engines.

A tiny base model is built and LoRA-trained on a hand-made snapshot (seconds), registered as
``candidate`` in MLflow; the DAG then generates with the trainer's ``batch-generate`` processes,
scores, queues the review sample with the simulated reviewer, runs the gate, and its HITL sign-off is
answered through the REST API (``scripts/hitl_run.py``, never left polling). A second run asks for a
model version that does not exist and fails at ``plan_evaluation`` naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

MV = "mv-eval-test"
DAY = "2026-01-04"
PROMPT = "support_assistant@1.0.0"


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "LLMOPS_TARGET": "local",
            "LLMOPS_LOCAL__HOME": str(home),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
            "OMP_NUM_THREADS": "1",
            # a small evaluation and a gate a 2-layer model can meet on its own training templates
            "LLMOPS_EVALUATION__REVIEW__MODE": "simulated",
            "LLMOPS_EVALUATION__REVIEW__MIN_LABELS": "4",
            "LLMOPS_EVALUATION__REVIEW__SAMPLE_SIZE": "4",
            "LLMOPS_EVALUATION__MAX_EVAL_EXAMPLES": "8",
            "LLMOPS_EVALUATION__MAX_NEW_TOKENS": "16",
            "LLMOPS_EVALUATION__MAX_BENCHMARK_ITEMS": "24",
            "LLMOPS_EVALUATION__GATE__MINIMUM": '{"rouge_l": 0.05, "human_rating": 1.0}',
            "LLMOPS_EVALUATION__GATE__MAXIMUM": '{"unsafe_rate": 0.5, "pii_leak_rate": 0.5}',
            "LLMOPS_EVALUATION__GATE__BEAT_BASE": '["rouge_l"]',
        }
    )
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


def _run(env: dict, *cmd: str, timeout: int = 600) -> str:
    proc = subprocess.run(
        ["timeout", "-s", "KILL", str(timeout), *cmd],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    from tests.unit.trainer.conftest import TINY_MODEL_FLAGS, write_corpus, write_snapshot

    home = tmp_path_factory.mktemp("eval-home")
    env = _env(home)
    storage = home / "storage"
    py = sys.executable
    _run(env, py, "-m", "llmops_factory.prompts", "publish", "--root", f"file://{storage}")
    base = storage / "models" / "base" / "tiny"
    corpus = write_corpus(home / "corpus" / "help_center")
    _run(
        env,
        py,
        "-m",
        "llmops_trainer",
        "build-base",
        "--corpus",
        str(corpus),
        "--output",
        str(base),
        # longer than the trainer tests' smoke base: the model must answer in words, not whitespace
        *[
            ("200" if prev == "--steps" else v)
            for prev, v in zip(["", *TINY_MODEL_FLAGS], TINY_MODEL_FLAGS, strict=False)
        ],
    )
    snap = write_snapshot(storage, n_train=32, n_eval=8, version="snap-evaltest")
    # eval questions asked in other words than the training ones (not near-duplicates: no contamination),
    # with the answers the model was taught
    rows = [json.loads(line) for line in (snap / "eval" / "part-00000.jsonl").read_text().splitlines()]
    for n, row in enumerate(rows):
        plan = row["output"].split()[1]
        row["instruction"] = (
            f"Hello, what would {plan} set me back monthly, and how many screens at once? Ref {n}"
        )
    (snap / "eval" / "part-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = storage / "models" / MV
    _run(
        {**env, "AIP_MODEL_DIR": str(out)},
        py,
        "-m",
        "llmops_trainer",
        "train",
        "--config",
        "trainer/configs/local-cpu.yaml",
        "--train_data",
        str(snap / "train"),
        "--eval_data",
        str(snap / "eval"),
        "--base_model",
        str(base),
        "--prompt",
        PROMPT,
        "--prompt_root",
        f"file://{storage}",
        "--output_dir",
        str(out),
        "--run_name",
        MV,
        "--max_steps",
        "150",
        "--learning_rate",
        "0.005",
        "--lora_target_modules",
        "q_proj",
        "v_proj",
        "--tracking",
        "mlflow",
        "--tracking_uri",
        env["MLFLOW_TRACKING_URI"],
        "--experiment_name",
        "support-assistant",
        timeout=900,
    )
    _run(
        env,
        py,
        "-c",
        "from llmops_factory import registry; import os; registry.register_version(model_name='support-assistant', "
        f"source_uri='file://{out}/merged', run_id=None, idempotency_key='evaltest', "
        f"tags={{'model_version': '{MV}'}}, alias='candidate', uri=os.environ['MLFLOW_TRACKING_URI'])",
    )
    _run(env, str(Path(py).parent / "airflow"), "db", "migrate", timeout=300)
    return home


def test_evaluation_runs_end_to_end_and_signs_off_through_the_api(home):
    from hitl_run import run_with_answer

    env = _env(home)
    code, out, happened = run_with_answer(
        "llmops_evaluate", DAY, answer="Approve", env=env, timeout=1500, log_path=home / "evaluate.log"
    )
    assert code == 0 and "state=success" in out, out[-4000:]
    assert happened["answered"] == "Approve", "the gate approved, so the sign-off was asked and answered"

    eval_dir = home / "storage" / "eval" / MV
    decision = json.loads((eval_dir / "decision.json").read_text())
    assert decision["approved"] and decision["human_simulated"], decision
    scores = json.loads((eval_dir / "scores.json").read_text())
    assert set(scores) == {"candidate", "base"}, "no champion yet: candidate and base only"
    cand, base = scores["candidate"]["metrics"], scores["base"]["metrics"]
    for name in (
        "rouge_l",
        "bleu",
        "chrf",
        "exact_match",
        "eval_loss",
        "benchmark_accuracy",
        "unsafe_rate",
        "pii_leak_rate",
        "hallucination_rate",
        "relevance",
        "bias_gap",
        "toxic_prompt_unsafe_rate",
    ):
        assert name in cand and name in base, name
    assert cand["rouge_l"] > base["rouge_l"] and cand["eval_loss"] < base["eval_loss"]
    assert any(k.startswith("intent=") for k in scores["candidate"]["slices"])
    report = (eval_dir / "report.html").read_text()
    assert "APPROVED" in report and "data:image/png;base64," in report and "simulated" in report

    import duckdb

    conn = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        suites = dict(
            conn.execute(
                "SELECT suite, count(*) FROM eval_results WHERE model_version = ? GROUP BY 1", [MV]
            ).fetchall()
        )
        labels = conn.execute(
            "SELECT reviewer, simulated FROM review_labels WHERE model_version = ?", [MV]
        ).fetchall()
        queued = conn.execute("SELECT count(*) FROM review_queue WHERE model_version = ?", [MV]).fetchone()[0]
    finally:
        conn.close()
    assert suites.keys() == {"auto", "human", "gate"} and suites["auto"] > 30
    assert queued == 4 and labels and all(r == ("simulated", True) for r in labels)

    from llmops_factory import registry

    challenger = registry.get_version_by_alias(
        "support-assistant", "challenger", uri=env["MLFLOW_TRACKING_URI"]
    )
    assert challenger is not None and challenger.tags.get("model_version") == MV
    assert challenger.tags.get("evaluation") == "approved" and "eval.rouge_l" in challenger.tags


def test_unknown_model_version_fails_naming_it(home):
    proc = subprocess.run(
        [
            "timeout",
            "-s",
            "KILL",
            "600",
            str(Path(sys.executable).parent / "airflow"),
            "dags",
            "test",
            "llmops_evaluate",
            "2026-01-05",
            "--conf",
            json.dumps({"model_version": "no-such-version"}),
        ],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout + proc.stderr
    assert "model version 'no-such-version' is not registered" in out, out[-3000:]
    assert "state=failed" in out
