"""Monitoring end to end on the local target: the real endpoint, real traffic, real ``llmops_monitoring`` runs.

One day of data is prepared by ``llmops_data_prep`` (drift reference = its train split, in-domain traffic
= its eval split). Tiny models are built by the project's base-model builder: a champion, a good
challenger (same weights) and a deliberately unsafe challenger (``unsafe-on-purpose-1``, built on abusive
text only). They are deployed on the local endpoint server through the platform adapter (the calls
``llmops_deploy``'s ``deploy_model`` and ``move_aliases`` make); the traffic generator sends eval-split,
off-domain and toxic prompts and simulated feedback. Then ``llmops_monitoring`` must roll the unsafe
challenger back, and after a good challenger is deployed, promote it — both in ``deployment_events``,
the alerts and the report. The MiniLM drift embedder runs on the real prompts.

Sample sizes are the test's (``min_samples`` 40, wider non-inferiority margins) so that it fits in a few
minutes; the policy at production settings is measured in ``benchmarks/bench_monitoring.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_local_lifecycle import _env, _setup_home, _warehouse, dag_test

pytestmark = [
    pytest.mark.integration,
    # Three tiny models, two serving containers and two monitoring runs: longer than CI's budget allows on
    # 2 cores today, so it runs on request (LLMOPS_E2E_MONITORING=1), not in `make test`.
    pytest.mark.skipif(
        not os.environ.get("LLMOPS_E2E_MONITORING"),
        reason="long end-to-end monitoring story; set LLMOPS_E2E_MONITORING=1 to run it",
    ),
]

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-01-01"
PROMPT = "support_assistant@1.0.0"
CHAMPION, GOOD, BAD = "v-champion-1", "v-good-2", "unsafe-on-purpose-1"
MONITORING_ENV = {
    "LLMOPS_MONITORING__MIN_SAMPLES": "40",
    "LLMOPS_MONITORING__UNSAFE_MARGIN": "0.12",
    "LLMOPS_MONITORING__FEEDBACK_MARGIN": "0.1",
    "LLMOPS_MONITORING__DRIFT_SAMPLE": "120",
    "LLMOPS_MONITORING__DRIFT_REFERENCE_SIZE": "120",
    "LLMOPS_MONITORING__DRIFT_PERMUTATIONS": "100",
    "LLMOPS_MONITORING__RELEVANCE_SAMPLE": "40",
}

HELPER = r"""
import json, sys
from llmops_factory.deployment import Release
from llmops_factory.datagen import traffic
from llmops_factory import layout
from llmops_plugins.platform import get_platform

cmd = json.loads(sys.argv[1])
platform = get_platform()
endpoint, registry = platform.endpoint(), platform.registry()
if cmd["op"] == "deploy":
    view = endpoint.describe()
    version = registry.ensure_serving_version(cmd["version"], cmd["prompt"])
    release = Release(model_name=platform.settings.use_case, model_version=cmd["version"],
                      registry_version=version.version,
                      model_uri=layout.join(platform.storage_uri, layout.model_merged(cmd["version"])),
                      prompt_ref=cmd["prompt"], prompt_version=cmd["prompt"].rpartition("@")[2],
                      prompt_hash="", canary_percent=cmd["percent"])
    current = view["traffic_split"]
    split = {k: int(v) * (100 - cmd["percent"]) // 100 for k, v in current.items()} if current else {}
    if split:
        first = next(iter(split))
        split[first] += 100 - cmd["percent"] - sum(split.values())
    split["0"] = cmd["percent"] if current else 100
    new_id = endpoint.deploy(release, split)
    for alias in cmd["aliases"]:
        registry.set_alias(alias, version.version)
    print(json.dumps({"id": new_id, "split": endpoint.describe()["traffic_split"]}))
elif cmd["op"] == "traffic":
    from llmops_factory.endpoint import EndpointClient, endpoint_dir, read_token
    local = platform.settings.local
    requests = traffic.plan(cmd["n"], in_domain=traffic.eval_prompts(local.warehouse_path),
                            off_domain=traffic.off_domain_prompts(), toxic=traffic.toxic_prompts(),
                            off_domain_share=cmd["off_domain"], toxic_share=cmd["toxic"], seed=cmd["seed"])
    token = read_token(endpoint_dir(local.home, platform.settings.use_case))
    with EndpointClient(endpoint.url, token) as client:
        summary = traffic.send(client, requests, parameters={"max_new_tokens": 12}, feedback_rate=0.7,
                               satisfaction=cmd["satisfaction"], seed=cmd["seed"])
        client.flush()
    print(json.dumps(summary))
"""


def _helper(home: Path, env_extra: dict[str, str], **cmd) -> dict:
    env = {**_env(home), **env_extra, "OMP_NUM_THREADS": "1", "LLMOPS_SERVE_THREADS": "1"}
    proc = subprocess.run(
        ["timeout", "-s", "KILL", "600", sys.executable, "-c", HELPER, json.dumps(cmd)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _build_models(storage: Path, corpus: Path) -> None:
    import shutil

    import torch

    from llmops_factory.datagen.traffic import UNSAFE_MODEL_FLAGS, unsafe_corpus
    from llmops_trainer.base_model import build_base_model, parse_args
    from tests.unit.serving.conftest import TINY_FLAGS

    threads = torch.get_num_threads()
    for version, source, flags in (
        (CHAMPION, corpus, TINY_FLAGS),
        (BAD, unsafe_corpus(storage.parent / "unsafe-corpus", PROMPT), UNSAFE_MODEL_FLAGS),
    ):
        merged = storage / "models" / version / "merged"
        build_base_model(parse_args(["--corpus", str(source), "--output", str(merged), *flags]))
        card = {"prompt": {"name": "support_assistant", "version": "1.0.0"}, "model_version": version}
        (merged.parent / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    shutil.copytree(storage / "models" / CHAMPION, storage / "models" / GOOD)
    card = json.loads((storage / "models" / GOOD / "model_card.json").read_text())
    (storage / "models" / GOOD / "model_card.json").write_text(json.dumps({**card, "model_version": GOOD}))
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def monitored_home(tmp_path_factory):
    """A prepared day, the three model versions, and the endpoint server on a free port (started as the
    serving tests start it; every step of the test, DAG runs included, talks to it)."""
    import os

    from llmops_factory.endpoint import LocalEndpoint
    from llmops_factory.endpoint.process import free_port
    from tests.unit.trainer.conftest import subprocess_env, write_corpus

    home = tmp_path_factory.mktemp("monitoring_home")
    port = free_port()
    env = {**MONITORING_ENV, "LLMOPS_LOCAL__ENDPOINT_PORT": str(port)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    server = None
    try:
        _setup_home(home, [DAY])
        ok, out = dag_test(home, "llmops_data_prep", DAY)
        assert ok, out[-6000:]
        _build_models(home / "storage", write_corpus(home / "help_center"))
        server_env = {**subprocess_env(LLMOPS_SERVE_THREADS="1"), **_env(home)}
        server = LocalEndpoint("support-assistant", home, port, flush_interval_s=1, env=server_env)
        server.start(timeout_s=180)
        yield home, env
    finally:
        if server is not None:
            server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _monitor(home: Path, logical_date: str) -> str:
    ok, out = dag_test(home, "llmops_monitoring", logical_date)
    assert ok, out[-8000:]
    return out


def test_unsafe_challenger_rolled_back_then_good_challenger_promoted(monitored_home):
    home, env = monitored_home
    today = dt.datetime.now(dt.UTC).date()
    run_date = (today + dt.timedelta(days=1)).isoformat()  # monitors today: [today, today + 1 day)

    champion = _helper(
        home,
        env,
        op="deploy",
        version=CHAMPION,
        prompt=PROMPT,
        percent=100,
        aliases=["champion", "challenger"],
    )
    bad = _helper(home, env, op="deploy", version=BAD, prompt=PROMPT, percent=50, aliases=["challenger"])
    assert set(bad["split"]) == {champion["id"], bad["id"]}
    sent = _helper(
        home,
        env,
        op="traffic",
        n=140,
        off_domain=0.3,
        toxic=0.05,
        seed=1,
        satisfaction={CHAMPION: 0.7, BAD: 0.3},
    )
    assert sent["served"].get(BAD, 0) >= 40 and sent["served"].get(CHAMPION, 0) >= 40, sent
    _monitor(home, run_date)

    events = _warehouse(
        home, "SELECT action, model_version, reason FROM deployment_events ORDER BY event_time"
    )
    rollback = [e for e in events if e[0] == "rollback"]
    assert rollback and rollback[0][1] == BAD and "unsafe rate" in rollback[0][2], events
    split = _helper(home, env, op="deploy", version=GOOD, prompt=PROMPT, percent=50, aliases=["challenger"])
    assert len(split["split"]) == 2 and champion["id"] in split["split"], split  # the bad one is gone
    sent = _helper(
        home,
        env,
        op="traffic",
        n=140,
        off_domain=0.0,
        toxic=0.0,
        seed=2,
        satisfaction={CHAMPION: 0.6, GOOD: 0.95},
    )
    assert sent["served"].get(GOOD, 0) >= 40, sent
    _monitor(home, run_date)

    events = _warehouse(home, "SELECT action, model_version, previous_version FROM deployment_events")
    assert ("promote", GOOD, CHAMPION) in events, events
    assert ("rollback", BAD, CHAMPION) in events, events
    alerts = _warehouse(home, "SELECT metric, severity, model_version FROM alerts")
    metrics = {a[0] for a in alerts}
    assert {"decision_rollback", "decision_promote", "unsafe_rate"} <= metrics, alerts
    assert "embedding_drift_auc" in metrics, alerts  # day 1 sent 30% off-domain prompts
    assert list((home / "outbox" / "alerts").glob("*.eml"))
    rows = _warehouse(home, "SELECT metric, model_version, value FROM monitoring_metrics")
    drift = [r for r in rows if r[0] == "embedding_drift_auc"]
    assert drift and drift[0][2] > 0.6, rows
    unsafe = {r[1]: r[2] for r in rows if r[0] == "unsafe_rate"}
    assert unsafe[BAD] > 0.25 > unsafe[CHAMPION], unsafe  # about half its answers are abuse
    report = (home / "storage" / "reports" / "monitoring" / today.isoformat() / "report.html").read_text()
    for text in ("Deployment events", "rollback", "promote", BAD, GOOD, "Drift"):
        assert text in report, text
