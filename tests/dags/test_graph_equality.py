"""The task graph of every DAG is identical on both targets (ids, edges and operator classes)."""

from __future__ import annotations

import pytest

from tests.dags.helpers import REPO, dag_graphs


@pytest.fixture(scope="module")
def graphs():
    return {
        target: dag_graphs(REPO / "dags", {"LLMOPS_TARGET": target})
        for target in ("local", "gcp")
    }


def test_both_targets_parse_without_errors(graphs):
    for target, graph in graphs.items():
        assert graph["import_errors"] == {}, (target, graph["import_errors"])
        assert graph["dags"], f"no DAG parsed on {target}"


def test_graphs_are_identical(graphs):
    local = {k: {"tasks": v["tasks"], "edges": v["edges"]} for k, v in graphs["local"]["dags"].items()}
    gcp = {k: {"tasks": v["tasks"], "edges": v["edges"]} for k, v in graphs["gcp"]["dags"].items()}
    assert local == gcp


def test_every_step_has_both_implementations():
    from llmops_plugins.targets import STEPS

    for step, impls in STEPS.items():
        assert set(impls) == {"local", "gcp"}, step
        for target, impl in impls.items():
            assert callable(impl.load()), f"{step} on {target}: {impl.ref} is not callable"


def test_every_step_operator_used_has_a_registered_step():
    from llmops_plugins import steps
    from llmops_plugins.targets import STEPS

    step_classes = [
        obj for obj in vars(steps).values()
        if isinstance(obj, type) and issubclass(obj, steps._TargetStepMixin) and obj is not steps._TargetStepMixin
    ]
    assert step_classes
    for cls in step_classes:
        assert cls.step_name in STEPS, cls.__name__
