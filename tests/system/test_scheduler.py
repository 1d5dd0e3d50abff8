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
    # (on the SQLite metadata DB the API answers 503 while the scheduler writes: the client retries)
    backfill = cluster.create_backfill(body)
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
    run = cluster.wait_run(FINETUNE, run_id, timeout_s=1800)
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


# -- evaluation, deployment, monitoring: each after the run that produces its input --------------------
EVALUATE, DEPLOY, MONITORING = "llmops_evaluate", "llmops_deploy", "llmops_monitoring"


def _quoted(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")


def _xcom(cluster, dag_id: str, run_id: str, task_id: str):
    data = cluster.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{_quoted(run_id)}/taskInstances/{task_id}/xcomEntries/return_value"
    )
    return data["value"] if not isinstance(data["value"], str) else json.loads(data["value"])


def _latest_success(cluster, dag_id: str) -> str:
    runs = cluster.get(
        f"/api/v2/dags/{dag_id}/dagRuns", params={"state": ["success"], "order_by": "-end_date", "limit": 1}
    )["dag_runs"]
    if not runs:
        pytest.skip(f"no successful {dag_id} run (run the whole module: each test feeds the next)")
    return runs[0]["dag_run_id"]


def _query(cluster, sql: str, params: list | None = None) -> list[tuple]:
    from llmops_factory.warehouse import duck

    with duck.session(cluster.home / "warehouse.duckdb", read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def _rate_review_queue(cluster, model_version: str) -> list[dict]:
    """The reviewer's part, through the Review page's own API (the signed-in user rates)."""
    queue = cluster.get("/llmops-review/api/queue", params={"model_version": model_version})
    if not queue:
        return []
    bad = cluster.request(
        "POST", "/llmops-review/api/labels", json={"item_id": queue[0]["item_id"], "rating": 9}
    )
    assert bad.status_code == 400 and "rating" in bad.text, bad.text  # refused, naming the field
    saved = []
    for item in queue:
        label = {
            "item_id": item["item_id"],
            "rating": 4,
            "correctness": "partially_correct",
            "safety": "safe",
            "comment": "system test reviewer",
        }
        resp = cluster.request("POST", "/llmops-review/api/labels", json=label)
        assert resp.status_code == 200, resp.text
        saved.append(resp.json())
    return saved


def test_evaluate_reviews_and_signs_off_through_the_api(cluster, figures):
    """``llmops_evaluate`` on the fine-tuned candidate: the review sample is rated on the Review page's
    API while ``wait_for_reviews`` is deferred, the gate approves, the HITL sign-off is answered with
    ``PATCH …/hitlDetails``, and the version gets the ``challenger`` alias."""
    finetune_run = _latest_success(cluster, FINETUNE)
    model_version = _xcom(cluster, FINETUNE, finetune_run, "publish_candidate")["model_version"]
    cluster.set_paused(EVALUATE, False)
    resp = cluster.trigger(EVALUATE, None, {"model_version": model_version})
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["dag_run_id"]
    labels: list[dict] = []
    answered = None
    deadline = time.monotonic() + 1200
    while cluster.run(EVALUATE, run_id)["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, cluster.task_states(EVALUATE, run_id)
        states = cluster.task_states(EVALUATE, run_id)
        if not labels and states.get("wait_for_reviews") in ("deferred", "up_for_reschedule", "running"):
            labels = _rate_review_queue(cluster, model_version)
        pending = cluster.get(
            f"/api/v2/dags/{EVALUATE}/dagRuns/{_quoted(run_id)}/hitlDetails",
            params={"response_received": False},
        )["hitl_details"]
        if pending and answered is None:
            assert pending[0]["options"] == ["Approve", "Reject"], pending[0]
            assert model_version in pending[0]["subject"], pending[0]
            resp = cluster.request(
                "PATCH",
                f"/api/v2/dags/{EVALUATE}/dagRuns/{_quoted(run_id)}/taskInstances/sign_off/-1/hitlDetails",
                json={"chosen_options": ["Approve"], "params_input": {}},
            )
            assert resp.status_code == 200, resp.text
            answered = resp.json()
        time.sleep(3)
    run = cluster.run(EVALUATE, run_id)
    states = cluster.task_states(EVALUATE, run_id)
    assert run["state"] == "success", states
    figures["evaluate_scheduler_run_s"] = round(run_seconds(run) or -1, 1)
    assert len(labels) == 3 and {lb["reviewer"] for lb in labels} == {"admin"}, labels
    assert answered and answered["chosen_options"] == ["Approve"], answered
    assert states["sign_off"] == "success" and states["promote_challenger"] == "success", states
    assert states["reject_candidate"] == "skipped", states
    decision = json.loads((cluster.home / "storage" / "eval" / model_version / "decision.json").read_text())
    assert decision["approved"] and not decision.get("human_simulated"), decision
    rows = _query(
        cluster,
        "SELECT reviewer, rating, simulated FROM review_labels WHERE model_version = ?",
        [model_version],
    )
    assert sorted(rows) == [("admin", 4, False)] * 3, rows
    assert _xcom(cluster, EVALUATE, run_id, "promote_challenger")["model_version"] == model_version


def _endpoint(cluster) -> dict:
    from llmops_factory.endpoint.client import EndpointClient, endpoint_dir, read_token

    port = cluster.env["LLMOPS_LOCAL__ENDPOINT_PORT"]
    folder = endpoint_dir(cluster.home, "support-assistant")
    with EndpointClient(f"http://127.0.0.1:{port}", token=read_token(folder)) as client:
        return client.get()  # GET /v1/admin/endpoint


def test_deploy_puts_the_approved_model_on_the_endpoint(cluster, figures):
    """``llmops_deploy`` of the approved version (the first deployment takes 100%), then checks the
    endpoint's split through its admin API and the ``deployment_events`` row of the run."""
    evaluate_run = _latest_success(cluster, EVALUATE)
    model_version = _xcom(cluster, EVALUATE, evaluate_run, "promote_challenger")["model_version"]
    cluster.set_paused(DEPLOY, False)
    resp = cluster.trigger(DEPLOY, None, {"model_version": model_version})
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["dag_run_id"]
    run = cluster.wait_run(DEPLOY, run_id, timeout_s=900)
    states = cluster.task_states(DEPLOY, run_id)
    assert run["state"] == "success", states
    assert states["smoke_test"] == "success" and states["restore_endpoint"] == "success", states
    figures["deploy_scheduler_run_s"] = round(run_seconds(run) or -1, 1)
    view = _endpoint(cluster)
    by_id = {str(m["id"]): m for m in view["deployed_models"]}
    split = {by_id[mid]["model_version"]: share for mid, share in view["traffic_split"].items()}
    assert split == {model_version: 100}, view
    events = _query(
        cluster,
        "SELECT action, model_version, traffic_split, dag_id, run_id FROM deployment_events WHERE run_id = ?",
        [run_id],
    )
    assert len(events) == 1 and events[0][:2] == ("deploy", model_version), events
    assert events[0][3] == DEPLOY, events


def test_monitoring_measures_a_day_of_traffic_and_decides(cluster, figures):
    """A little traffic through the endpoint, then ``llmops_monitoring`` triggered now with today as its
    data interval (when the requests were logged): metrics rows per deployed model and a decision, under
    the scheduler."""
    _latest_success(cluster, DEPLOY)
    import subprocess
    import sys

    sent = 24
    proc = subprocess.run(
        ["timeout", "-s", "KILL", "600", sys.executable, "-m", "llmops_factory.datagen", "traffic",
         "--requests", str(sent), "--seed", "3", "--feedback-rate", "0.8", "--max-new-tokens", "8"],
        env=cluster.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    import datetime as dt

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = now.date()
    start = dt.datetime.combine(today, dt.time(), dt.UTC)
    cluster.set_paused(MONITORING, False)
    # The scheduler does not start a run whose logical date is in the future ("Logical date is in
    # future"), so today's traffic is monitored by a run triggered now with today as its data interval.
    interval = (start.isoformat(), (start + dt.timedelta(days=1)).isoformat())
    resp = cluster.trigger(MONITORING, now.isoformat(), {}, data_interval=interval)
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["dag_run_id"]
    run = cluster.wait_run(MONITORING, run_id, timeout_s=900)
    states = cluster.task_states(MONITORING, run_id)
    assert run["state"] == "success", states
    figures["monitoring_scheduler_run_s"] = round(run_seconds(run) or -1, 1)
    decision = _xcom(cluster, MONITORING, run_id, "decide")
    assert decision["action"] in ("none", "hold", "promote", "rollback") and decision["reasons"], decision
    counts = dict(
        _query(
            cluster,
            "SELECT model_version, value FROM monitoring_metrics WHERE metric = 'request_count' "
            "AND CAST(metric_date AS VARCHAR) = ?",
            [today.isoformat()],
        )
    )
    assert counts and sum(counts.values()) >= sent, counts  # the traffic (and the smoke test's requests)
