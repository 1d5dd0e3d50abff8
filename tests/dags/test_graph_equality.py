"""The task graph of every DAG is identical on both targets (ids, edges and operator classes)."""

from __future__ import annotations

import pytest

from tests.dags.helpers import REPO, dag_graphs


@pytest.fixture(scope="module")
def graphs():
    return {target: dag_graphs(REPO / "dags", {"LLMOPS_TARGET": target}) for target in ("local", "gcp")}


def test_both_targets_parse_without_errors(graphs):
    for target, graph in graphs.items():
        assert graph["import_errors"] == {}, (target, graph["import_errors"])
        assert graph["dags"], f"no DAG parsed on {target}"


def test_graphs_are_identical(graphs):
    local = {k: {"tasks": v["tasks"], "edges": v["edges"]} for k, v in graphs["local"]["dags"].items()}
    gcp = {k: {"tasks": v["tasks"], "edges": v["edges"]} for k, v in graphs["gcp"]["dags"].items()}
    assert local == gcp


def test_every_step_has_a_body_for_each_target():
    from tests.dags.helpers import step_classes

    classes = step_classes()
    assert classes
    for cls in classes:
        neutral = callable(getattr(cls, "run", None))
        both = callable(getattr(cls, "local", None)) and callable(getattr(cls, "gcp", None))
        assert neutral or both, f"{cls.__module__}.{cls.__name__} lacks a local or a gcp body"


def test_every_step_used_by_a_dag_lives_in_a_stage_module(graphs):
    names = {cls.__name__ for cls in __import__("tests.dags.helpers", fromlist=["x"]).step_classes()}
    for dag_id, dag in graphs["local"]["dags"].items():
        for task_id, cls in dag["tasks"].items():
            if cls.startswith("_") or cls in ("_PythonDecoratedOperator",):
                continue
            assert cls in names or cls.endswith(("DecoratedOperator", "MappedOperator")), (
                dag_id,
                task_id,
                cls,
            )
