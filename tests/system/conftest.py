"""One Airflow for the whole system-test session, run the way users run it: api-server, scheduler
(LocalExecutor, parallelism 4), dag-processor and triggerer on 127.0.0.1 on a free port, with a fresh
Airflow home and platform home. Tests talk to it through REST API v2 (and a browser) only.

Every component runs in its own process group under a ``timeout -s KILL`` guard; the session
fixture's finalizer stops the groups (SIGTERM, then SIGKILL), so no process outlives the session,
and a killed pytest leaves nothing running past the guard.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from local_cluster import LocalCluster, free_port  # noqa: E402

# Raw data for these days exists when the cluster starts; SENSOR_DAY's lands while its run waits.
DAYS = ["2026-01-01", "2026-01-02"]
SENSOR_DAY = "2026-01-03"
ALL_DAYS = [*DAYS, SENSOR_DAY]
# A tiny base model and short training, so one fine-tuning run fits CI; 200 pre-training steps (the
# integration tests' 20 leave a model whose every answer is empty, which evaluation refuses to score).
TINY_BASE = (
    "--steps 200 --hidden_size 64 --intermediate_size 128 --num_hidden_layers 2 --num_attention_heads 2"
)
ARTIFACTS = REPO / "build" / "test-artifacts" / "system"
# Evaluation, deployment and monitoring sized for the tiny model, so each run fits CI. The gate is one a
# 20-step model can meet on its own (held-out loss below the base model's, some human rating); the
# review sample is rated through the Review page's API (mode "human", the default).
REVIEW_SAMPLE = 3
SMALL_LIFECYCLE = {
    "LLMOPS_EVALUATION__REVIEW__SAMPLE_SIZE": str(REVIEW_SAMPLE),
    "LLMOPS_EVALUATION__REVIEW__MIN_LABELS": str(REVIEW_SAMPLE),
    "LLMOPS_EVALUATION__REVIEW__POKE_INTERVAL_S": "5",
    "LLMOPS_EVALUATION__MAX_EVAL_EXAMPLES": "8",
    "LLMOPS_EVALUATION__MAX_NEW_TOKENS": "16",
    "LLMOPS_EVALUATION__MAX_BENCHMARK_ITEMS": "24",
    # every floor of local.yaml named: the settings sources merge nested maps, so one left out would stay
    "LLMOPS_EVALUATION__GATE__MINIMUM": '{"human_rating": 1.0, "rouge_l": 0.0, "benchmark_accuracy": 0.0}',
    "LLMOPS_EVALUATION__GATE__MAXIMUM": '{"pii_leak_rate": 0.5}',
    "LLMOPS_EVALUATION__GATE__REGRESSION_TOLERANCE": "{}",
    "LLMOPS_EVALUATION__GATE__BEAT_BASE": '["eval_loss"]',
    "LLMOPS_MONITORING__MIN_SAMPLES": "10",
    "LLMOPS_MONITORING__DRIFT_SAMPLE": "30",
    "LLMOPS_MONITORING__DRIFT_REFERENCE_SIZE": "40",
    "LLMOPS_MONITORING__DRIFT_PERMUTATIONS": "50",
    "LLMOPS_MONITORING__RELEVANCE_SAMPLE": "20",
    "LLMOPS_MONITORING__SCORE_SAMPLE": "40",
}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def figures(artifacts):
    """Measured figures (seconds), printed at the end of the session (``-s``) and kept as an artifact."""
    out: dict[str, float] = {}
    started = time.monotonic()
    yield out
    out["system_session_s"] = round(time.monotonic() - started, 1)
    (artifacts / "figures.json").write_text(json.dumps(out, indent=2, sort_keys=True))
    print("\nsystem-test figures: " + json.dumps(out, sort_keys=True))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, figures):
    home = tmp_path_factory.mktemp("system-home")
    extra = {
        "LLMOPS_BASE_MODEL_ARGS": TINY_BASE,
        "LLMOPS_LOCAL__ENDPOINT_PORT": str(free_port()),  # the deployments' local endpoint
        **SMALL_LIFECYCLE,
    }
    with LocalCluster.start(home, parallelism=4, days=DAYS, extra_env=extra) as c:
        figures["cluster_prepare_s"] = round(c.timings["prepare_s"], 1)
        figures["cluster_start_to_ready_s"] = round(c.timings["healthy_s"], 1)
        yield c
        (ARTIFACTS).mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "cluster-logs.txt").write_text(c.log_tails(20000))
