"""The demo's story driven through Airflow's REST API v2, against a running ``make airflow-demo``
(``make demo-rest``), so it can be watched in the Airflow UI while it happens.

Everything Airflow does goes through the REST API: unpausing the DAGs, data preparation as a real
backfill (``POST /api/v2/backfills``), fine-tuning triggered with conf, the asset-triggered evaluation
and deployment runs found through the asset events that created them, the evaluation's human-in-the-loop
sign-off answered through the HITL endpoints, deployments and monitoring triggered with conf and logical
dates (a date that already ran is cleared and re-run, the runbook's path). The project's CLIs do what is
not Airflow: raw data, traffic, the deliberately unsafe model. The reviews are the simulated reviewer's
(the server runs with ``evaluation.review.mode=simulated``; its ratings are labelled "simulated").

The server's settings come from the project, not from hand: ``make airflow-demo`` starts Airflow with
``scripts/demo.py``'s ``Mode.server_env`` and records them (and its URL) in
``$AIRFLOW_HOME/demo-server.json``; this script reads that file, so it follows the server's mode
(full or ``--fast``) and endpoint port. Progress lines, the summary and the phase timings are the
demo's own (``scripts/demo.py``); each DAG run's UI link is printed as it starts.

Monitoring of "today": the endpoint logs real request times, and a ``llmops_monitoring`` run monitors
the day before its logical date; the REST API would accept tomorrow 00:00 UTC, but the scheduler does not start a run whose logical date is in the future, so the run is triggered now with today as its explicit data interval. The REST API accepts that
future logical date (``run_after`` defaults to now, so the scheduler starts the run at once).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo  # noqa: E402
from airflow_standalone import DEMO_SERVER_FILE  # noqa: E402
from local_cluster import ClusterError, LocalCluster, run_seconds  # noqa: E402

DATA_PREP, FINETUNE, EVALUATE, DEPLOY, MONITORING = (
    "llmops_data_prep",
    "llmops_finetune",
    "llmops_evaluate",
    "llmops_deploy",
    "llmops_monitoring",
)


class AirflowApi(LocalCluster):
    """The REST client of :class:`LocalCluster`, pointed at a running ``make airflow``: its login is
    the standalone one; busy answers (503 while the scheduler holds the SQLite lock) and dropped
    connections are retried, so the UI can be used at the same time."""

    def __init__(self, base_url: str, home: Path, user: str, password: str) -> None:
        super().__init__(home, {"AIRFLOW__API__BASE_URL": base_url}, guard_s=0)
        self.user, self.password = user, password

    def token(self) -> str:
        import httpx

        resp = httpx.post(
            f"{self.base_url}/auth/token", json={"username": self.user, "password": self.password}, timeout=30
        )
        if resp.status_code not in (200, 201):
            raise ClusterError(f"POST /auth/token as {self.user}: {resp.status_code} {resp.text}")
        return resp.json()["access_token"]

    def request(self, method: str, path: str, **kwargs: Any):
        import httpx

        for attempt in range(20):
            try:
                resp = super().request(method, path, **kwargs)  # retries busy answers
            except httpx.TransportError:
                if attempt == 19:
                    raise
                time.sleep(3)
                continue
            if resp.status_code != 401 or attempt > 0:
                return resp
            self._client.close()  # the token expired: sign in again
            self._client = None
        return resp

    def log_tails(self, chars: int = 3000) -> str:
        return "(the server's logs are in its terminal and in the UI)"

    def ui_run(self, dag_id: str, run_id: str) -> str:
        return f"{self.base_url}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}"

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        data = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}"
            "/xcomEntries/return_value"
        )
        value = data["value"]
        return json.loads(value) if isinstance(value, str) else value


# -- the server and its settings --------------------------------------------------------------------
def connect(timeout_s: float) -> tuple[AirflowApi, dict]:
    """The running ``make airflow-demo``: its recorded settings, adopted here, and a signed-in client."""
    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    record_path = airflow_home / DEMO_SERVER_FILE
    if not record_path.exists():
        sys.exit(
            f"No demo server: {record_path} does not exist. Start Airflow with the story's settings first "
            "(`make airflow-demo` in another terminal, the same AIRFLOW__API__PORT and LLMOPS_LOCAL__HOME), "
            "wait for its URL, then run this again."
        )
    record = json.loads(record_path.read_text())
    for key, value in record["llmops_env"].items():
        if os.environ.get(key, value) != value:
            sys.exit(
                f"{key}={os.environ[key]} here but {value} in the running server ({record_path}): run both "
                "with the same settings"
            )
        os.environ[key] = value  # the CLIs (raw data, traffic) reach the same home and endpoint
    passwords = airflow_home / "simple_auth_manager_passwords.json.generated"
    user, password = next(iter(json.loads(passwords.read_text()).items()))
    api = AirflowApi(
        record["base_url"], Path(record["llmops_env"].get("LLMOPS_LOCAL__HOME", ".")), user, password
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            api.get("/api/v2/monitor/health")
            break
        except Exception as exc:  # noqa: BLE001 - report whatever keeps the server unreachable
            if time.monotonic() > deadline:
                sys.exit(
                    f"the demo server at {record['base_url']} does not answer ({exc}); is it still running?"
                )
            time.sleep(3)
    return api, record


def check_dags(api: AirflowApi) -> None:
    errors = api.get("/api/v2/importErrors")
    if errors["total_entries"]:
        sys.exit(f"the server has DAG import errors: {json.dumps(errors['import_errors'])[:3000]}")
    listed = {d["dag_id"] for d in api.get("/api/v2/dags", params={"limit": 100})["dags"]}
    missing = api.dag_files() - listed
    if missing:
        sys.exit(f"the server has not parsed {sorted(missing)} yet; wait a few seconds and run again")


def unpause(api: AirflowApi, *dag_ids: str) -> None:
    for dag_id in dag_ids:
        if api.get(f"/api/v2/dags/{dag_id}")["is_paused"]:
            api.set_paused(dag_id, False)
            print(f"  unpaused {dag_id}: PATCH /api/v2/dags/{dag_id} {{'is_paused': false}}")


def pause_while_idle(api: AirflowApi, *dag_ids: str) -> None:
    """Pause the asset-scheduled DAGs before the backfill (their runs start from the story's triggers,
    not from each day's dataset event); one with a run in flight is left alone."""
    for dag_id in dag_ids:
        busy = api.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})
        if busy["total_entries"]:
            print(f"  {dag_id} has a run in flight: left unpaused")
        elif not api.get(f"/api/v2/dags/{dag_id}")["is_paused"]:
            api.set_paused(dag_id, True)
            print(f"  paused {dag_id} while the data is prepared (its asset events must not start it)")


# -- runs ---------------------------------------------------------------------------------------------
def trigger(
    api: AirflowApi,
    dag_id: str,
    logical_date: str | None,
    conf: dict | None = None,
    data_interval: tuple[str, str] | None = None,
) -> str:
    """Trigger a run (``logical_date`` an ISO datetime, or None; ``data_interval`` an explicit
    ``(start, end)``); a date that already has a run is cleared and re-run with the same conf (the
    runbook's re-run path); returns the run id."""
    body = {"logical_date": logical_date, "conf": dict(conf or {})}
    if data_interval:
        body["data_interval_start"], body["data_interval_end"] = data_interval
    resp = api.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
    if resp.status_code == 200:
        run_id = resp.json()["dag_run_id"]
        print(
            f"  triggered {dag_id} {logical_date or ''} {json.dumps(conf or {})}\n    UI: {api.ui_run(dag_id, run_id)}"
        )
        return run_id
    if resp.status_code != 409:
        sys.exit(f"FAILED: POST /api/v2/dags/{dag_id}/dagRuns {body}: {resp.status_code} {resp.text[:2000]}")
    runs = api.get(
        f"/api/v2/dags/{dag_id}/dagRuns",
        params={"logical_date_gte": logical_date, "logical_date_lte": logical_date, "limit": 1},
    )["dag_runs"]
    if not runs:
        sys.exit(f"FAILED: {dag_id} answered 409 for {logical_date} but lists no run for it: {resp.text}")
    run = runs[0]
    if (run.get("conf") or {}) != (conf or {}):
        sys.exit(
            f"FAILED: {dag_id} already has run {run['dag_run_id']} for {logical_date} with another conf "
            f"({run.get('conf')}); clear or delete it in the UI, or use another date"
        )
    run_id = run["dag_run_id"]
    path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/clear"
    resp = api.request("POST", path, json={"dry_run": False})
    if resp.status_code != 200:
        sys.exit(f"FAILED: POST {path}: {resp.status_code} {resp.text[:2000]}")
    print(
        f"  {dag_id} {logical_date} already ran: cleared and re-run (POST …/clear)\n    UI: {api.ui_run(dag_id, run_id)}"
    )
    return run_id


def wait(api: AirflowApi, dag_id: str, run_id: str, timeout_s: float, expect: str = "success") -> dict:
    run = api.wait_run(dag_id, run_id, timeout_s=timeout_s)
    states = api.task_states(dag_id, run_id)
    seconds = run_seconds(run)
    print(f"  {dag_id} {run['state']}" + (f" in {seconds:.0f} s" if seconds else "") + f": {_counts(states)}")
    if run["state"] != expect:
        failed = [t for t, s in states.items() if s in ("failed", "upstream_failed")]
        sys.exit(
            f"FAILED: {dag_id} run {run_id} is {run['state']} (failed tasks: {failed}); see {api.ui_run(dag_id, run_id)}"
        )
    return run


def _counts(states: dict[str, str | None]) -> str:
    counts: dict[str, int] = {}
    for state in states.values():
        counts[str(state)] = counts.get(str(state), 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def triggered_by(api: AirflowApi, source_dag: str, source_run: str, dag_id: str, timeout_s: float) -> str:
    """The run of ``dag_id`` that the scheduler created from the asset event of ``source_run``
    (``GET /api/v2/assets/events?source_run_id=…`` → ``created_dagruns``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = api.get(
            "/api/v2/assets/events", params={"source_dag_id": source_dag, "source_run_id": source_run}
        )["asset_events"]
        for event in events:
            for created in event.get("created_dagruns", []):
                if created["dag_id"] == dag_id:
                    print(
                        f"  {dag_id} started by the asset event of {source_dag} (asset {event.get('name')})"
                        f"\n    UI: {api.ui_run(dag_id, created['run_id'])}"
                    )
                    return created["run_id"]
        time.sleep(3)
    sys.exit(
        f"FAILED: no {dag_id} run was created from {source_dag}/{source_run}'s asset event within "
        f"{timeout_s:.0f} s: is {dag_id} unpaused, and does the scheduler run with use_job_schedule on?"
    )


# -- phases ---------------------------------------------------------------------------------------
def data_prep_backfill(api: AirflowApi, mode: demo.Mode) -> None:
    body = {
        "dag_id": DATA_PREP,
        "from_date": f"{mode.days[0]}T00:00:00Z",
        "to_date": f"{mode.days[-1]}T00:00:00Z",
        "reprocess_behavior": "completed",  # a second story re-runs the days (idempotent outputs)
        "max_active_runs": len(mode.days),
    }
    try:
        backfill = api.create_backfill(body)
    except ClusterError as exc:
        sys.exit(f"FAILED: {exc}")
    print(
        f"  backfill {backfill['id']}: POST /api/v2/backfills {mode.days[0]} → {mode.days[-1]} "
        f"(reprocess completed)\n    UI: {api.base_url}/dags/{DATA_PREP}/backfills"
    )
    runs = api.get(
        f"/api/v2/dags/{DATA_PREP}/dagRuns",
        params={"logical_date_gte": body["from_date"], "logical_date_lte": body["to_date"], "limit": 100},
    )["dag_runs"]
    for run in sorted(runs, key=lambda r: r["logical_date"]):
        print(f"    {run['logical_date'][:10]}: {api.ui_run(DATA_PREP, run['dag_run_id'])}")
    for run in runs:
        wait(api, DATA_PREP, run["dag_run_id"], timeout_s=mode.dag_timeout_s)
    demo.show_datasets()


def days_prepared(api: AirflowApi, mode: demo.Mode) -> bool:
    runs = api.get(
        f"/api/v2/dags/{DATA_PREP}/dagRuns",
        params={
            "logical_date_gte": f"{mode.days[0]}T00:00:00Z",
            "logical_date_lte": f"{mode.days[-1]}T00:00:00Z",
            "state": ["success"],
            "limit": 100,
        },
    )["dag_runs"]
    return {r["logical_date"][:10] for r in runs} >= set(mode.days)


def adoptable(api: AirflowApi, dag_id: str, conf: dict) -> str | None:
    """With ``--resume``: the newest run of ``dag_id`` with this conf that is in flight or succeeded."""
    runs = api.get(
        f"/api/v2/dags/{dag_id}/dagRuns",
        params={"state": ["queued", "running", "success"], "order_by": "-run_after", "limit": 20},
    )["dag_runs"]
    for run in runs:
        if (run.get("conf") or {}) == conf:
            print(f"  resume: following {dag_id} run {run['dag_run_id']} ({run['state']}), same conf")
            print(f"    UI: {api.ui_run(dag_id, run['dag_run_id'])}")
            return run["dag_run_id"]
    return None


def finetune(api: AirflowApi, mode: demo.Mode, conf: dict, resume: bool = False) -> tuple[str, str]:
    run_id = (resume and adoptable(api, FINETUNE, conf)) or trigger(api, FINETUNE, None, conf)
    wait(api, FINETUNE, run_id, timeout_s=mode.dag_timeout_s)
    return run_id, demo.show_candidate()


def evaluate(api: AirflowApi, mode: demo.Mode, finetune_run: str, model_version: str) -> tuple[str, dict]:
    """The evaluation the candidate's asset event started; its sign-off approved through the HITL API."""
    run_id = triggered_by(api, FINETUNE, finetune_run, EVALUATE, timeout_s=300)
    answered = None
    deadline = time.monotonic() + mode.dag_timeout_s
    while time.monotonic() < deadline:
        run = api.run(EVALUATE, run_id)
        if run["state"] in ("success", "failed"):
            break
        pending = api.get(
            f"/api/v2/dags/{EVALUATE}/dagRuns/{urllib.parse.quote(run_id, safe='')}/hitlDetails",
            params={"response_received": False},
        )["hitl_details"]
        if pending and not answered:
            detail = pending[0]
            ti = detail["task_instance"]
            path = (
                f"/api/v2/dags/{EVALUATE}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/"
                f"{ti['task_id']}/{ti.get('map_index', -1)}/hitlDetails"
            )
            resp = api.request("PATCH", path, json={"chosen_options": ["Approve"], "params_input": {}})
            if resp.status_code != 200:
                sys.exit(f"FAILED: PATCH {path}: {resp.status_code} {resp.text[:2000]}")
            answered = "Approve"
            print(
                f"  sign-off {detail.get('subject')!r}: Approve (PATCH …/taskInstances/{ti['task_id']}/-1/hitlDetails)"
            )
        time.sleep(3)
    wait(api, EVALUATE, run_id, timeout_s=60)
    return run_id, demo.show_evaluation(model_version, answered, api.ui_run(EVALUATE, run_id))


def deploy_from_event(api: AirflowApi, mode: demo.Mode, evaluate_run: str) -> str:
    run_id = triggered_by(api, EVALUATE, evaluate_run, DEPLOY, timeout_s=300)
    wait(api, DEPLOY, run_id, timeout_s=mode.dag_timeout_s)
    demo.show_endpoint()
    return run_id


def deploy_by_hand(
    api: AirflowApi, mode: demo.Mode, logical_date: str, conf: dict, expect: str = "success"
) -> str:
    run_id = trigger(api, DEPLOY, logical_date, conf)
    wait(api, DEPLOY, run_id, timeout_s=mode.dag_timeout_s, expect=expect)
    return run_id


def deploy_expecting_smoke_failure(
    api: AirflowApi, mode: demo.Mode, logical_date: str, model_version: str
) -> None:
    before = demo.endpoint_view()["traffic_split"]
    conf = {
        "model_version": model_version,
        "prompt": demo.PROMPT_ONLY,
        "canary_percent": 10,
        "smoke_max_latency_ms": 1,
    }
    run_id = deploy_by_hand(api, mode, logical_date, conf, expect="failed")
    states = api.task_states(DEPLOY, run_id)
    after = demo.endpoint_view()["traffic_split"]
    if states.get("smoke_test") != "failed" or states.get("restore_endpoint") != "success" or after != before:
        sys.exit(
            f"FAILED: the release that cannot pass its smoke test was not undone (tasks {states}, split "
            f"before {before}, after {after}); see {api.ui_run(DEPLOY, run_id)}"
        )
    log = api.task_log(DEPLOY, run_id, "smoke_test", try_number=_last_try(api, DEPLOY, run_id, "smoke_test"))
    smoke = [ln for ln in log.splitlines() if "smoke test of deployed model" in ln]
    reason = smoke[-1].split("SmokeTestError: ")[-1][:200] if smoke else "(see the task log)"
    print(f"  smoke_test failed as it must: {reason}")
    print(f"  restore_endpoint undeployed it; the split is back to {after}")


def _last_try(api: AirflowApi, dag_id: str, run_id: str, task_id: str) -> int:
    ti = api.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}"
    )
    return max(1, int(ti.get("try_number") or 1))


def monitor(api: AirflowApi, mode: demo.Mode, expect: str) -> dict:
    # Today's traffic: the scheduler refuses to start a run whose logical date is in the future, so the
    # run is triggered now with today as its explicit data interval (the DAG monitors its interval).
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
    interval = (today.isoformat(), (today + dt.timedelta(days=1)).isoformat())
    run_id = trigger(api, MONITORING, now.isoformat(), data_interval=interval)
    wait(api, MONITORING, run_id, timeout_s=mode.dag_timeout_s)
    decision = api.xcom(MONITORING, run_id, "decide")
    return demo.show_decision(decision["action"], "; ".join(decision.get("reasons", [])), expect)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connect-timeout", type=float, default=60, help="seconds to wait for the server")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="pick up an interrupted story: keep the endpoint, skip the backfill when every day is prepared, "
        "follow fine-tuning runs with the same conf instead of starting new ones",
    )
    args = parser.parse_args(argv)
    api, record = connect(args.connect_timeout)
    mode = demo.Mode(record["fast"])
    settings = demo._settings()
    print(
        f"LLMOps Factory demo over the REST API — {api.base_url} (UI), target {settings.target}, home "
        f"{settings.local.home}, {'fast' if mode.fast else 'full'} mode, days {', '.join(mode.days)}"
    )
    print(
        "  server settings (make airflow-demo): "
        + ", ".join(f"{k}={v}" for k, v in record["story_env"].items())
    )
    check_dags(api)
    timeline = demo.Timeline(total=14)
    d3 = mode.days[-1]
    versions: dict[str, str] = {}
    evaluations: dict[str, dict] = {}

    with timeline.phase("prompts: validate, check versions, publish bundles"):
        if not args.resume:
            demo.reset_endpoint()
        demo.prompts()
    with timeline.phase(f"raw data: {len(mode.days)} days, seed {mode.seed}, ~{mode.scale} records/day"):
        demo.raw_data(mode)
    with timeline.phase("llmops_data_prep: a backfill of the days through the REST API"):
        # Unpausing a daily DAG also starts its latest scheduled run (catchup is off): that day's sensor
        # waits for raw data that the story does not generate; nothing in the story depends on it.
        unpause(api, DATA_PREP)
        if args.resume and days_prepared(api, mode):
            print("  resume: every day already has a successful run")
            demo.show_datasets()
        else:
            pause_while_idle(api, FINETUNE, EVALUATE, DEPLOY)
            data_prep_backfill(api, mode)
    with timeline.phase(f"llmops_finetune v1: {mode.v1_conf} (base model → LoRA → MLflow → registry)"):
        # evaluation and deployment follow the assets: unpaused now, they start from the events
        unpause(api, FINETUNE, EVALUATE, DEPLOY)
        ft1, v1 = finetune(api, mode, mode.v1_conf, args.resume)
        versions["v1: first model"] = v1
    with timeline.phase(f"llmops_evaluate {v1} (asset-triggered; simulated review, sign-off over REST)"):
        ev1, evaluations[v1] = evaluate(api, mode, ft1, v1)
    with timeline.phase(f"llmops_deploy {v1} (asset-triggered): first deployment takes 100% → champion"):
        deploy_from_event(api, mode, ev1)
    with timeline.phase(f"llmops_finetune v2 (the scheduled retrain): {mode.v2_conf}"):
        ft2, v2 = finetune(api, mode, mode.v2_conf, args.resume)
        versions["v2: retrained (good challenger)"] = v2
    with timeline.phase(f"llmops_evaluate {v2} against the champion {v1} and the base model"):
        ev2, evaluations[v2] = evaluate(api, mode, ft2, v2)
    with timeline.phase(
        f"llmops_deploy {v2} (asset-triggered) as a {mode.canary_percent}% canary, smoke-tested"
    ):
        deploy_from_event(api, mode, ev2)
    with timeline.phase(f"traffic: {mode.requests} requests, 10% off-domain, simulated users"):
        demo.traffic(mode, seed=1, off_domain=0.1, toxic=0.0)
    with timeline.phase("llmops_monitoring (logical date tomorrow 00:00 UTC = today's data): → promote"):
        unpause(api, MONITORING)
        monitor(api, mode, expect="promote")
    with timeline.phase(f"prompt-only release ({v2} + {demo.PROMPT_ONLY}) that cannot pass its smoke test"):
        deploy_expecting_smoke_failure(api, mode, f"{d3}T07:00:00Z", v2)
    with timeline.phase(
        f"bad challenger {demo.UNSAFE_VERSION}: built on purpose, deployed by hand as a canary"
    ):
        demo.build_unsafe_model()
        versions["bad challenger (on purpose)"] = demo.UNSAFE_VERSION
        conf = {"model_version": demo.UNSAFE_VERSION, "canary_percent": mode.canary_percent}
        deploy_by_hand(api, mode, f"{d3}T08:00:00Z", conf)
        demo.show_endpoint()
    with timeline.phase("traffic, then llmops_monitoring (the same day, cleared and re-run) → rollback"):
        demo.traffic(mode, seed=2, off_domain=0.0, toxic=0.05)
        monitor(api, mode, expect="rollback")

    print("\n" + "═" * 100 + "\nSummary")
    demo.summary(versions, evaluations)
    print(f"  Airflow UI     → {api.base_url}/dags (every run of the story, its logs and asset events)")
    timeline.table()


if __name__ == "__main__":
    main()
