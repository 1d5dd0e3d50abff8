"""Evaluation steps on the local target: the review sensor's deferral, fail-closed timeout and its
options; plan errors for a model version that does not exist; the gate route."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

MV = "sensor-test-mv"


def _label(n: int) -> dict:
    return {
        "item_id": f"{MV}:i{n}",
        "model_version": MV,
        "reviewer": "ann",
        "rating": 4,
        "labels": [],
        "correctness": "correct",
        "safety": "safe",
        "simulated": False,
        "comment": "",
        "labeled_at": dt.datetime(2026, 1, 4, tzinfo=dt.UTC),
    }


@pytest.fixture
def labels():
    from llmops_plugins.platform import get_platform
    from llmops_plugins.stages.evaluation import replace_rows

    platform = get_platform()

    def put(count: int) -> None:
        for n in range(3):
            replace_rows(
                platform,
                "review_labels",
                {"item_id": f"{MV}:i{n}", "reviewer": "ann"},
                [_label(n)] if n < count else [],
            )

    return put


def _sensor(**kwargs):
    from llmops_plugins.stages.evaluation import WaitForReviews

    return WaitForReviews(task_id="wait_for_reviews", model_version=MV, min_labels=2, **kwargs)


def test_waits_deferred_until_enough_labels(labels):
    labels(1)
    sensor = _sensor()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": mock.MagicMock()})
    assert deferred.value.method_name == "recheck"
    deadline = deferred.value.kwargs["deadline"]
    assert dt.datetime.fromisoformat(deadline) > dt.datetime.now(dt.UTC) + dt.timedelta(hours=71)
    labels(2)
    assert sensor.recheck({}, None, deadline=deadline) == 2


def test_timeout_fails_closed_by_default(labels):
    labels(1)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    with pytest.raises(AirflowFailException, match=r"timed out with 1 of 2 labels \(fail closed"):
        _sensor().recheck({}, None, deadline=past)


def test_timeout_can_let_the_gate_run_without_ratings(labels, monkeypatch):
    monkeypatch.setenv("LLMOPS_EVALUATION__REVIEW__ON_TIMEOUT", "proceed_without_human")
    labels(1)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    assert _sensor().recheck({}, None, deadline=past) == 1


def test_unknown_model_version_is_named():
    from llmops_plugins.stages.evaluation import plan_evaluation

    registry = mock.MagicMock()
    registry.get_by_alias.return_value = None
    with (
        mock.patch("llmops_plugins.platform.local.LocalPlatform.registry", return_value=registry),
        pytest.raises(AirflowFailException, match="model version 'nope' is not registered"),
    ):
        plan_evaluation(None, "nope")
    found = SimpleNamespace(
        model_name="support-assistant", version="3", uri="file:///x", labels={"model_version": "ghost"}
    )
    registry.get_by_alias.return_value = found
    with (
        mock.patch("llmops_plugins.platform.local.LocalPlatform.registry", return_value=registry),
        pytest.raises(AirflowFailException, match=r"model version 'ghost' does not exist: no models/ghost/"),
    ):
        plan_evaluation(None, "ghost")


def test_route_follows_the_decision():
    from llmops_plugins.stages.evaluation import route_decision

    base = {"model_version": MV, "reasons": [], "checks": [], "report_uri": "file:///r.html"}
    assert route_decision({**base, "approved": True}) == "sign_off"
    assert route_decision({**base, "approved": False, "reasons": ["rouge_l too low"]}) == "reject_candidate"
