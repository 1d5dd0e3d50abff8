"""The DAGs under the real scheduler, driven as a client would: REST API v2 only.

Order matters and follows a user's day: parse, trigger (rejected, then accepted), three single days
of data preparation in parallel (one of them waiting for its data), a backfill of the same days that
must give the same outputs, then fine-tuning. Each later DAG (evaluate, deploy, monitoring) adds one
test function here, after the one that produces its input.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from pathlib import Path

import pytest
from local_cluster import generate_days, run_seconds

from tests.system.conftest import ALL_DAYS, DAYS, SENSOR_DAY

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore")]

DATA_PREP = "llmops_data_prep"
FINETUNE = "llmops_finetune"


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _day_outputs(home: Path, day: str) -> dict:
    from llmops_factory.warehouse import duck

    with duck.session(home / "warehouse.duckdb", read_only=True) as conn:
        examples = conn.execute(
            "SELECT example_id, split, source, prompt_text, output FROM instruction_examples "
            "WHERE source_date = ? ORDER BY example_id",
            [day],
        ).fetchall()
        dead = conn.execute(
            "SELECT source, reason, detail, source_uri FROM dead_letter_records WHERE source_date = ? "
            "ORDER BY source_uri, reason, detail",
            [day],
        ).fetchall()
    return {
        "files": _tree_hashes(home / "storage" / "datasets" / f"daily-{day}"),
        "examples": examples,
        "dead_letters": dead,
    }


def test_dags_parse_without_import_errors(cluster):
    errors = cluster.get("/api/v2/importErrors")
    assert errors["total_entries"] == 0, errors["import_errors"]
    listed = {d["dag_id"] for d in cluster.get("/api/v2/dags", params={"limit": 100})["dags"]}
    assert listed == cluster.dag_files()


def test_trigger_with_conf_violating_params_is_rejected_with_the_reason(cluster):
    before = cluster.get(f"/api/v2/dags/{DATA_PREP}/dagRuns")["total_entries"]
    resp = cluster.trigger(DATA_PREP, "2025-12-30", {"eval_fraction": 0.9})
    assert resp.status_code == 400, resp.text
    assert "eval_fraction" in resp.text and "0.9 is greater than the maximum of 0.5" in resp.text
    resp = cluster.trigger(DATA_PREP, "2025-12-30", {"prompt": "support_assistant@latest!"})
    assert resp.status_code == 400 and "prompt" in resp.text, resp.text
    assert cluster.get(f"/api/v2/dags/{DATA_PREP}/dagRuns")["total_entries"] == before


@pytest.fixture(scope="module")
def single_runs(cluster, figures):
    """One triggered run per day, all in flight together. SENSOR_DAY has no raw data yet: its
    sensor must wait without holding a worker slot, then resume once the data lands (cleared, the
    runbook's action for an expired wait)."""
    cluster.set_paused(DATA_PREP, False)
    runs = {}
    for day in ALL_DAYS:
        conf = {"eval_fraction": 0.1} if day == DAYS[0] else {}
        resp = cluster.trigger(DATA_PREP, day, conf)
        assert resp.status_code == 200, resp.text
        runs[day] = resp.json()["dag_run_id"]
    sensor_run = runs[SENSOR_DAY]
    cluster.wait_task_state(
        DATA_PREP, sensor_run, "wait_for_raw_partition", "up_for_reschedule", timeout_s=300
    )
    waiting = cluster.task_states(DATA_PREP, sensor_run)
    generate_days(cluster.env, [SENSOR_DAY])
    resp = cluster.request(
        "POST",
        f"/api/v2/dags/{DATA_PREP}/clearTaskInstances",
        json={
            "dry_run": False,
            "only_failed": False,
            "dag_run_id": sensor_run,
            "task_ids": ["wait_for_raw_partition"],
        },
    )
    assert resp.status_code == 200, resp.text
    finished = {day: cluster.wait_run(DATA_PREP, run_id, timeout_s=600) for day, run_id in runs.items()}
    for day in DAYS:
        figures[f"data_prep_scheduler_run_{day}_s"] = round(run_seconds(finished[day]) or -1, 1)
    outputs = {day: _day_outputs(cluster.home, day) for day in ALL_DAYS}
    return {"runs": runs, "finished": finished, "sensor_waiting": waiting, "outputs": outputs}


def test_single_days_run_in_parallel_and_each_note_names_its_prompt(cluster, single_runs):
    for day, run in single_runs["finished"].items():
        states = cluster.task_states(DATA_PREP, run["dag_run_id"])
        assert run["state"] == "success", (day, states)
        assert set(states.values()) == {"success"}, (day, states)
        # written by the task through the API at the configured (non-8080) port
        assert "Prompt support_assistant: support_assistant@1.0.0, sha256 " in (run.get("note") or ""), run
        assert single_runs["outputs"][day]["examples"], f"{day}: no examples in the warehouse"
        if day != SENSOR_DAY:  # (clearing the waiting sensor counts as a new try)
            # no retry: the parallel warehouse loads wait for the file lock instead of failing
            tries = {
                ti["task_id"]: ti["try_number"] for ti in cluster.task_instances(DATA_PREP, run["dag_run_id"])
            }
            assert set(tries.values()) == {1}, (day, tries)
    starts = sorted(r["start_date"] for r in single_runs["finished"].values())
    ends = sorted(r["end_date"] for r in single_runs["finished"].values())
    assert starts[-1] < ends[0], "the three days did not run concurrently"


def test_sensor_waits_for_data_without_a_slot_then_resumes(cluster, single_runs):
    waiting = single_runs["sensor_waiting"]
    assert waiting["wait_for_raw_partition"] == "up_for_reschedule"
    assert waiting["prepare_dataset"] is None  # nothing downstream started while data was missing
    run_id = single_runs["runs"][SENSOR_DAY]
    tries = cluster.get(
        f"/api/v2/dags/{DATA_PREP}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/wait_for_raw_partition"
    )
    assert tries["state"] == "success"
    assert single_runs["finished"][SENSOR_DAY]["state"] == "success"


def test_task_log_reads_through_the_api(cluster, single_runs):
    run_id = single_runs["runs"][DAYS[0]]
    text = cluster.task_log(DATA_PREP, run_id, "validate_dataset")
    assert f"day {DAYS[0]} valid:" in text, text[-3000:]
    text = cluster.task_log(DATA_PREP, run_id, "resolve_prompt")
    assert "support_assistant@1.0.0" in text


def _wait_backfill_free(cluster) -> None:
    """Fine-tuning reads the days' datasets: make sure no data-prep run is still writing them."""
    runs = cluster.get(f"/api/v2/dags/{DATA_PREP}/dagRuns", params={"state": ["queued", "running"]})
    for run in runs["dag_runs"]:
        cluster.wait_run(DATA_PREP, run["dag_run_id"], timeout_s=600)


FINETUNE_CONF = {
    "window_end": SENSOR_DAY,
    "window_days": 3,
    "epochs": 1,
    "lora_r": [4],
    "learning_rate": [0.003],
}


def test_finetune_teardown_runs_when_an_early_task_fails(cluster):
    """The runbook says ``cleanup_training_jobs`` always runs; an early failure used to leave it
    ``upstream_failed``. The run is created while the DAG is paused and its first tasks are marked
    failed through the API before the scheduler starts it (so it reads no data and can run beside
    the backfill)."""
    resp = cluster.trigger(FINETUNE, None, FINETUNE_CONF)
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["dag_run_id"]
    for task_id in ("resolve_prompt", "assemble_snapshot", "prepare_base_model"):
        resp = cluster.request(
            "PATCH",
            f"/api/v2/dags/{FINETUNE}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}",
            json={"new_state": "failed"},
        )
        assert resp.status_code == 200, resp.text
    cluster.set_paused(FINETUNE, False)
    run = cluster.wait_run(FINETUNE, run_id, timeout_s=600)
    states = cluster.task_states(FINETUNE, run_id)
    assert run["state"] == "failed", states
    assert states["plan_training"] == "upstream_failed", states
    assert states["cleanup_training_jobs"] == "success", states


def test_backfill_equals_single_runs(cluster, single_runs, figures):
    # a backfilled (or already run) logical date cannot be triggered again: 409, the README's clear path
    resp = cluster.trigger(DATA_PREP, DAYS[0], {})
    assert resp.status_code == 409, resp.text
    resp = cluster.request(
        "POST",
        f"/api/v2/dags/{DATA_PREP}/dagRuns/{urllib.parse.quote(single_runs['runs'][DAYS[0]], safe='')}/clear",
        json={"dry_run": True},
    )
    assert resp.status_code == 200 and resp.json()["total_entries"] == 7, resp.text

    body = {
        "dag_id": DATA_PREP,
        "from_date": f"{ALL_DAYS[0]}T00:00:00Z",
        "to_date": f"{ALL_DAYS[-1]}T00:00:00Z",
        "reprocess_behavior": "completed",
        "max_active_runs": 3,
    }
    started = time.monotonic()
    for _ in range(10):  # on the SQLite metadata DB the API answers 503 while the scheduler writes: retry
        resp = cluster.request("POST", "/api/v2/backfills", json=body)
        if resp.status_code != 503:
            break
        time.sleep(3)
    assert resp.status_code == 200, resp.text
    backfill = resp.json()
    assert backfill["reprocess_behavior"] == "completed", backfill
    # the completed single runs are cleared and re-run as this backfill's runs (no second run per day)
    runs = cluster.get(f"/api/v2/dags/{DATA_PREP}/dagRuns", params={"limit": 100})["dag_runs"]
    by_day = {r["logical_date"][:10]: r for r in runs if r["logical_date"]}
    assert sorted(by_day) == ALL_DAYS, runs
    assert {r["run_type"] for r in by_day.values()} == {"backfill"}, runs
    finished = {day: cluster.wait_run(DATA_PREP, r["dag_run_id"], timeout_s=600) for day, r in by_day.items()}
    for day, run in finished.items():
        assert run["state"] == "success", (day, cluster.task_states(DATA_PREP, run["dag_run_id"]))
        assert _day_outputs(cluster.home, day) == single_runs["outputs"][day], f"{day}: backfill differs"
    figures["backfill_3_days_s"] = round(time.monotonic() - started, 1)  # request to the last run done


def test_finetune_trains_and_registers_a_candidate(cluster, single_runs, figures):
    _wait_backfill_free(cluster)
    resp = cluster.trigger(FINETUNE, None, FINETUNE_CONF)
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["dag_run_id"]
    run = cluster.wait_run(FINETUNE, run_id, timeout_s=900)
    states = cluster.task_states(FINETUNE, run_id)
    assert run["state"] == "success", states
    assert states["cleanup_training_jobs"] == "success"
    figures["finetune_scheduler_run_s"] = round(run_seconds(run) or -1, 1)
    xcom = cluster.get(
        f"/api/v2/dags/{FINETUNE}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/publish_candidate"
        "/xcomEntries/return_value"
    )
    value = xcom["value"] if isinstance(xcom["value"], dict) else json.loads(xcom["value"])
    assert value["metrics"]["eval_loss"] < value["metrics"]["base_eval_loss"], value
    assert value["alias"] == "candidate" and value["version"], value
    models = cluster.home / "storage" / "models"
    assert (models / value["model_version"] / "merged" / "config.json").is_file(), value
    assert not list(models.glob("*/trainer.pid")), "a trainer process of the run survived"
