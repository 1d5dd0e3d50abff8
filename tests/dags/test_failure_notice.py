"""The on-call message of a failed task: DAG, task, run, try, log link and that task's runbook text."""

from __future__ import annotations

import types

import pytest

from tests.dags.helpers import REPO

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).dags["llmops_data_prep"]


def _context(dag, task_id: str, *, map_index: int = -1):
    run_id = "scheduled__2026-01-02T00:00:00+00:00"
    ti = types.SimpleNamespace(
        task_id=task_id,
        try_number=3,
        map_index=map_index,
        log_url=f"http://localhost:8093/dags/{dag.dag_id}/runs/{run_id}/tasks/{task_id}?try_number=3",
    )
    return {
        "dag": dag,
        "ti": ti,
        "run_id": run_id,
        "logical_date": "2026-01-02T00:00:00+00:00",
        "exception": RuntimeError("dead-letter ratio 0.500 (5/10) above 0.35"),
    }


def test_failure_writes_one_message_naming_everything_on_call_needs(dag, platform_home):
    from llmops_plugins.notify import LLMOpsFailureNotifier

    context = _context(dag, "validate_dataset")
    LLMOpsFailureNotifier().notify(context)
    outbox = platform_home / "outbox"
    [message] = [p for p in outbox.glob("llmops_data_prep__*validate_dataset.eml")]
    text = message.read_text()
    for expected in (
        "dag_id: llmops_data_prep",
        "task_id: validate_dataset",
        f"run_id: {context['run_id']}",
        "try_number: 3",
        f"log_url: {context['ti'].log_url}",
        "error: RuntimeError: dead-letter ratio 0.500",
        # the runbook paragraph of this task, not the DAG's docs in general
        "- `validate_dataset` failed: the message gives the counts.",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    assert "`prepare_dataset` failed" not in text  # only the failed task's paragraphs


def test_mapped_instances_get_one_message_each(dag, platform_home):
    from llmops_plugins.notify import LLMOpsFailureNotifier

    for index in (0, 1):
        LLMOpsFailureNotifier().notify(_context(dag, "load_examples", map_index=index))
    names = sorted(p.name for p in (platform_home / "outbox").glob("llmops_data_prep__*load_examples__*.eml"))
    assert len(names) == 2 and names[0].endswith("__0.eml") and names[1].endswith("__1.eml")
