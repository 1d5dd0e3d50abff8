"""Deployment rules without any server: hand-offs, planned and restored splits, smoke verdicts, events."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from llmops_factory.deployment import (
    Deployment,
    EndpointView,
    Release,
    check_smoke,
    deployment_event,
    event_id,
    planned_split,
    restore_split,
)
from llmops_factory.handoffs import HandoffError

VIEW = EndpointView(
    endpoint="e",
    deployed_models=[{"id": "1", "model_version": "v1", "prompt": "p@1.0.0", "display_name": "v1+p@1.0.0"}],
    traffic_split={"1": 100},
)


def answer(status=200, model="9", version="v2", prompt="1.1.0", latency=50.0, text="Hello", tokens=(10, 3)):
    prediction = {
        "text": text,
        "model_version": version,
        "prompt_version": prompt,
        "tokens_in": tokens[0],
        "tokens_out": tokens[1],
        "latency_ms": latency,
    }
    body = (
        {"predictions": [prediction], "deployedModelId": model}
        if status == 200
        else {"error": {"code": status}}
    )
    return {"status": status, "body": body, "seconds": latency / 1000}


def smoke(answers, **kw):
    args = dict(
        deployed_model_id="9", model_version="v2", prompt_version="1.1.0", max_latency_ms=1000, min_answers=2
    )
    args.update(kw)
    return check_smoke(answers, **args)


def test_views_find_a_release_already_deployed():
    assert VIEW.find("v1", "p@1.0.0").id == "1"
    assert VIEW.find("v1", "p@1.1.0") is None  # a prompt-only change is another deployed model
    assert EndpointView.from_dict(VIEW.to_dict()) == VIEW
    with pytest.raises(HandoffError, match="lacks field"):
        Release.from_dict({"model_version": "v1"})


def test_planned_split_is_the_canary_or_all_traffic_first():
    assert planned_split(VIEW, 10) == {"1": 90, "0": 10}
    assert planned_split(EndpointView("e", [], {}), 10) == {"0": 100}


def test_restore_split_is_the_previous_one_among_models_still_there():
    deployment = Deployment(
        "e",
        "9",
        "v2",
        "p@1.1.0",
        previous_split={"1": 70, "2": 30},
        traffic_split={"1": 63, "2": 27, "9": 10},
        first_deployment=False,
    )
    assert restore_split(deployment, ["1", "2"]) == {"1": 70, "2": 30}
    assert restore_split(deployment, ["1"]) == {"1": 100}  # model 2 left meanwhile: its share moves
    first = Deployment(
        "e", "9", "v2", "p@1.1.0", previous_split={}, traffic_split={"9": 100}, first_deployment=True
    )
    assert restore_split(first, []) == {}


def test_a_healthy_canary_passes():
    assert smoke([answer(), answer(), answer(model="1", version="v1", prompt="1.0.0")]) == []


@pytest.mark.parametrize(
    ("answers", "kw", "problem"),
    [
        ([answer(), answer(status=503)], {}, "1 of 2 requests failed"),
        ([answer()], {}, "only 1 answer(s) from deployed model 9, need 2"),
        ([], {}, "only 0 answer(s)"),
        ([answer(), answer(version="v1")], {}, "model_version 'v1', expected 'v2'"),
        ([answer(), answer(prompt="1.0.0")], {}, "prompt_version '1.0.0', expected '1.1.0'"),
        ([answer(), answer(latency=5000)], {}, "over the smoke-test limit of 1000 ms"),
        ([answer(text=""), answer(text=" ")], {}, "every answer text is empty"),
        ([answer(), answer(tokens=(None, 1))], {}, "lacks tokens_in / tokens_out"),
    ],
)
def test_smoke_failures_are_named(answers, kw, problem):
    problems = smoke(answers, **kw)
    assert any(problem in p for p in problems), problems


def test_empty_text_can_be_allowed_for_models_not_meant_to_answer_yet():
    assert smoke([answer(text=""), answer(text="")], require_text=False) == []


def test_events_have_a_stable_id_per_run_and_action():
    release = Release(
        model_name="m",
        model_version="v2",
        registry_version="3",
        model_uri="u",
        prompt_ref="p@1.1.0",
        prompt_version="1.1.0",
        prompt_hash="h",
        canary_percent=10,
    )
    when = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    row = deployment_event(
        action="deploy",
        release=release,
        traffic_split={"1": 90, "9": 10},
        reason="approved",
        dag_id="llmops_deploy",
        run_id="r1",
        event_time=when,
        target="local",
        alias="challenger",
    )
    assert (
        row["event_id"]
        == event_id("llmops_deploy", "r1", "deploy")
        != event_id("llmops_deploy", "r1", "rollback")
    )
    assert json.loads(row["traffic_split"]) == {"1": 90, "9": 10} and row["prompt_version"] == "p@1.1.0"
    from llmops_factory.warehouse.schemas import table_spec

    assert set(row) == set(table_spec("deployment_events").column_names)
