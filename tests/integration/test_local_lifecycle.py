"""End to end on the local target: real DAG runs (``airflow dags test``) on real engines.

Beam DirectRunner, DuckDB, MLflow and real LoRA training (on a tiny base model built by the project
in the test, so the whole module stays within a few minutes on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]
SCALE = "80"
TINY_BASE = (
    "--steps 20 --hidden_size 64 --intermediate_size 128 --num_hidden_layers 2 --num_attention_heads 2"
)


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
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
            "LLMOPS_BASE_MODEL_ARGS": TINY_BASE,
        }
    )
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


def _run(home: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["timeout", "-s", "KILL", str(timeout), *args],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _airflow(home: Path) -> str:
    return str(Path(sys.executable).parent / "airflow")


def dag_test(home: Path, dag_id: str, day: str, conf: dict | None = None) -> tuple[bool, str]:
    cmd = [_airflow(home), "dags", "test", dag_id, day]
    if conf:
        cmd += ["--conf", json.dumps(conf)]
    proc = _run(home, *cmd, timeout=1200)
    out = proc.stdout + proc.stderr
    ok = proc.returncode == 0 and "state=success, run_type" in out
    return ok, out


def _setup_home(home: Path, days: list[str], seed: int = 7) -> None:
    py = sys.executable
    for cmd in (
        [py, "-m", "llmops_factory.platform", "init"],
        [py, "-m", "llmops_factory.prompts", "publish", "--root", (home / "storage").as_uri()],
    ):
        proc = _run(home, *cmd)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for day in days:
        proc = _run(
            home,
            py,
            "-m",
            "llmops_factory.datagen",
            "generate",
            "--root",
            (home / "storage").as_uri(),
            "--ds",
            day,
            "--seed",
            str(seed),
            "--scale",
            SCALE,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _warehouse(home: Path, sql: str) -> list[tuple]:
    import duckdb

    conn = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def home_a(tmp_path_factory) -> Path:
    """Three days prepared by single scheduled-style runs, in date order."""
    home = tmp_path_factory.mktemp("home_a")
    _setup_home(home, DAYS)
    for day in DAYS:
        ok, out = dag_test(home, "llmops_data_prep", day)
        assert ok, out[-6000:]
    return home


def test_data_prep_day_lands_in_storage_and_warehouse(home_a):
    for day in DAYS:
        manifest = json.loads(
            (home_a / "storage" / "datasets" / f"daily-{day}" / "manifest.json").read_text()
        )
        totals = manifest["totals"]
        rows = _warehouse(home_a, f"SELECT count(*) FROM instruction_examples WHERE source_date = '{day}'")[
            0
        ][0]
        assert rows == totals["examples_out"] > 0
        dead = _warehouse(home_a, f"SELECT count(*) FROM dead_letter_records WHERE source_date = '{day}'")[0][
            0
        ]
        assert dead == sum(totals["dead_lettered"].values())
        filtered = sum(totals["filtered"].values())
        assert totals["records_in"] == totals["records_ok"] + filtered + dead
    ground_truth = [
        json.loads(line)
        for line in (
            home_a / "storage" / "reports" / "datagen" / f"dt={DAYS[0]}" / "ground_truth.jsonl"
        ).open()
    ]
    injected_pii = [g["value"] for g in ground_truth if g["kind"] == "pii"]
    texts = _warehouse(
        home_a,
        f"SELECT instruction || ' ' || coalesce(input, '') || ' ' || output "
        f"FROM instruction_examples WHERE source_date = '{DAYS[0]}'",
    )
    blob = "\n".join(t[0] for t in texts)
    assert injected_pii and not [v for v in injected_pii if v in blob], "injected PII reached the warehouse"
    # what the pipeline wrote as the model input is exactly the shared renderer's text
    from llmops_factory.prompts import load_prompt, render

    prompt = load_prompt("support_assistant@1.0.0")
    rows = _warehouse(
        home_a, "SELECT instruction, coalesce(input, ''), prompt_text, prompt_hash FROM instruction_examples"
    )
    for instruction, context, prompt_text, prompt_hash in rows:
        assert prompt_text == render(prompt, {"instruction": instruction, "input": context}).text
        assert prompt_hash == prompt.hash


def test_rerun_of_a_day_changes_nothing(home_a):
    folder = home_a / "storage" / "datasets" / f"daily-{DAYS[1]}"
    before = _tree_hashes(folder)
    rows_before = _warehouse(
        home_a, "SELECT source_date, split, count(*) FROM instruction_examples GROUP BY 1, 2 ORDER BY 1, 2"
    )
    ok, out = dag_test(home_a, "llmops_data_prep", DAYS[1])
    assert ok, out[-6000:]
    assert _tree_hashes(folder) == before
    assert (
        _warehouse(
            home_a,
            "SELECT source_date, split, count(*) FROM instruction_examples GROUP BY 1, 2 ORDER BY 1, 2",
        )
        == rows_before
    )


def test_backfill_in_any_order_equals_single_runs(home_a, tmp_path_factory):
    """A backfill runs days out of order (and concurrently): the result must not depend on it."""
    home_b = tmp_path_factory.mktemp("home_b")
    _setup_home(home_b, DAYS)
    for day in reversed(DAYS):
        ok, out = dag_test(home_b, "llmops_data_prep", day)
        assert ok, out[-6000:]
    for day in DAYS:
        rel = Path("storage") / "datasets" / f"daily-{day}"
        assert _tree_hashes(home_b / rel) == _tree_hashes(home_a / rel), day
    query = (
        "SELECT example_id, source_date, split, prompt_text, output FROM instruction_examples "
        "ORDER BY example_id"
    )
    assert _warehouse(home_b, query) == _warehouse(home_a, query)


def test_partition_of_only_bad_records_fails_validation_with_counts(tmp_path):
    home = tmp_path / "home_bad"
    _setup_home(home, [])
    day_dir = home / "storage" / "raw" / "support_chats" / "dt=2026-02-01"
    day_dir.mkdir(parents=True)
    (day_dir / "conversations-00000.jsonl").write_text(
        '{"id": "c1", "messages": [\n{"id": "c2", "messages": "x"}\n'
    )
    ok, out = dag_test(home, "llmops_data_prep", "2026-02-01")
    assert not ok
    assert "dead-letter ratio 1.000 (2/2)" in out, out[-4000:]
    dead = _warehouse(home, "SELECT reason, count(*) FROM dead_letter_records GROUP BY 1 ORDER BY 1")
    assert dead == [("malformed_json", 1), ("wrong_type", 1)]
    outbox = list((home / "outbox").glob("llmops_data_prep__*validate_dataset.eml"))
    assert outbox, "the failure notifier wrote no message"
    notice = outbox[0].read_text()
    assert "DataValidationError" in notice
    # the message names the try, links the log and quotes this task's runbook paragraph
    assert "try_number: " in notice and "log_url: http" in notice and "/tasks/validate_dataset" in notice
    assert "- `validate_dataset` failed: the message gives the counts." in notice


def test_finetune_registers_a_better_candidate(home_a):
    conf = {"window_end": DAYS[-1], "window_days": 3, "epochs": 1, "lora_r": [4], "learning_rate": [0.003]}
    ok, out = dag_test(home_a, "llmops_finetune", DAYS[-1], conf)
    assert ok, out[-8000:]
    env = _env(home_a)
    code = (
        "import json; from llmops_factory import registry; "
        "v = registry.get_version_by_alias('support-assistant', 'candidate'); "
        "print(json.dumps({'version': v.version, 'source': v.source, 'tags': v.tags}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    version = json.loads(proc.stdout.strip().splitlines()[-1])
    merged = Path(version["source"].removeprefix("file://"))
    assert (merged / "config.json").is_file() and (merged.parent / "adapter").is_dir()
    card = json.loads((merged.parent / "model_card.json").read_text())
    assert card["prompt"]["ref"] == "support_assistant@1.0.0"
    # rendered from the bundle the run pinned in object storage, not from the repository copy
    assert card["prompt"]["source"] == (home_a / "storage").as_uri()
    assert card["dataset"]["snapshot_version"].startswith("snap-")
    metrics = json.loads((merged.parent / "metrics.json").read_text())
    assert metrics["eval_loss"] < metrics["base_eval_loss"], metrics
    assert float(version["tags"]["eval_loss"]) == pytest.approx(metrics["eval_loss"])
    # no trainer process of the run survives: the teardown ran and the pid files are gone
    assert not list((home_a / "storage" / "models").glob("*/trainer.pid"))
