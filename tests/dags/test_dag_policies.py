"""Policies every DAG is held to, parametrised over every DAG file in dags/."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from tests.dags.helpers import DAG_FILES

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.helpers import REPO

    return DagBag(dag_folder=str(REPO / "dags"))


def _dag_for(dagbag, path: Path):
    dags = [d for d in dagbag.dags.values() if Path(d.fileloc).resolve() == path.resolve()]
    assert len(dags) == 1, f"{path.name} must define exactly one DAG, found {[d.dag_id for d in dags]}"
    return dags[0]


def test_there_are_dags():
    assert DAG_FILES, "dags/ holds no DAG file"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, dagbag.import_errors


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
class TestDagPolicy:
    def test_dag_id_is_file_stem(self, dagbag, path):
        assert _dag_for(dagbag, path).dag_id == path.stem

    def test_no_cycles(self, dagbag, path):
        dag = _dag_for(dagbag, path)
        indegree = {t.task_id: len(t.upstream_task_ids) for t in dag.tasks}
        ready = [t for t, n in indegree.items() if n == 0]
        seen = 0
        while ready:
            task_id = ready.pop()
            seen += 1
            for down in dag.get_task(task_id).downstream_task_ids:
                indegree[down] -= 1
                if indegree[down] == 0:
                    ready.append(down)
        assert seen == len(dag.tasks), f"{dag.dag_id} has a cycle"

    def test_doc_md_is_a_runbook(self, dagbag, path):
        doc = _dag_for(dagbag, path).doc_md or ""
        assert len(doc) > 400, "doc_md is missing or too short to be a runbook"
        for section in ("What it does", "Failures", "Re-run"):
            assert section.lower() in doc.lower(), f"runbook lacks a '{section}' section"
        dag = _dag_for(dagbag, path)
        for task in dag.tasks:
            assert task.task_id in doc, f"runbook does not mention task {task.task_id!r}"

    def test_tags_and_owner(self, dagbag, path):
        dag = _dag_for(dagbag, path)
        assert "llmops" in dag.tags and len(dag.tags) >= 2
        assert {t.owner for t in dag.tasks} == {"llmops"}

    def test_retries_with_exponential_backoff(self, dagbag, path):
        for task in _dag_for(dagbag, path).tasks:
            assert task.retries >= 2, f"{task.task_id}: retries={task.retries}"
            assert task.retry_exponential_backoff, f"{task.task_id}: no exponential backoff"
            assert task.max_retry_delay is not None

    def test_execution_timeout_on_every_task(self, dagbag, path):
        for task in _dag_for(dagbag, path).tasks:
            assert isinstance(task.execution_timeout, dt.timedelta), (
                f"{task.task_id} has no execution_timeout"
            )

    def test_failure_notifier(self, dagbag, path):
        from llmops_plugins.notify import LLMOpsFailureNotifier

        for task in _dag_for(dagbag, path).tasks:
            callbacks = task.on_failure_callback or []
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert any(isinstance(c, LLMOpsFailureNotifier) for c in callbacks), task.task_id

    def test_static_timezone_aware_start_date(self, dagbag, path):
        from llmops_plugins.defaults import START_DATE

        dag = _dag_for(dagbag, path)
        assert dag.start_date is not None and dag.start_date.tzinfo is not None
        assert dag.start_date == START_DATE
        source = path.read_text()
        for dynamic in ("days_ago", ".now(", "utcnow(", "today("):
            assert dynamic not in source, f"{path.name} computes dates at parse time ({dynamic})"

    def test_catchup_is_explicit(self, path):
        tree = ast.parse(path.read_text())
        keywords = {
            kw.arg
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dag"
            for kw in node.keywords
        }
        assert {"catchup", "schedule", "start_date", "default_args", "doc_md", "tags"} <= keywords

    def test_no_heavy_imports_at_module_level(self, path):
        from tests.dags.helpers import FORBIDDEN_AT_PARSE

        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN_AT_PARSE), name
