"""Typed hand-offs: one serialisation per type, errors naming the hand-off and the field."""

from __future__ import annotations

import json

import pytest

from llmops_factory.errors import DeterministicError
from llmops_factory.handoffs import (
    Candidate,
    HandoffError,
    PromptPin,
    SnapshotRef,
    TrainedModel,
    TrainingTrial,
)

PIN = PromptPin(
    "support_assistant",
    "1.0.0",
    "a" * 64,
    requested="support_assistant@production",
    alias="production",
    uri="file:///s/prompts/support_assistant/1.0.0/",
)


@pytest.mark.parametrize(
    "value",
    [
        PIN,
        SnapshotRef(
            "snap-1", "2026-01-01", "2026-01-03", "datasets/snap-1/train/", "datasets/snap-1/eval/", 10, 2
        ),
        TrainingTrial("m-t0", "d/train", "d/eval", "models/base/x/", "p@1.0.0", "b" * 64, {"lora_r": 8}),
        TrainedModel("m-t0", {"lora_r": 8}, {"eval_loss": 1.5}, "run-1", {"prompt": {"ref": "p@1.0.0"}}),
        Candidate("support-assistant", "3", "candidate", "file:///m/merged/", "m-t0", {"eval_loss": 1.5}),
    ],
)
def test_round_trip_through_json(value):
    data = json.loads(json.dumps(value.to_dict()))
    assert type(value).from_dict(data) == value


def test_prompt_pin_carries_its_ref_for_templates():
    data = PIN.to_dict()
    assert data["ref"] == "support_assistant@1.0.0"
    assert PromptPin.from_dict(data).ref == data["ref"]


def test_missing_field_names_the_handoff_and_the_field():
    with pytest.raises(HandoffError, match=r"training trial from plan_training lacks field\(s\) prompt_hash"):
        TrainingTrial.from_dict(
            {
                "model_version": "m",
                "train_data": "t",
                "eval_data": "e",
                "base_model": "b",
                "prompt_ref": "p@1.0.0",
            },
            where="plan_training",
        )


def test_not_a_mapping_is_refused_and_deterministic():
    with pytest.raises(HandoffError, match="candidate model: expected a mapping, got list") as err:
        Candidate.from_dict([1, 2])
    assert isinstance(err.value, DeterministicError)


def test_trained_model_eval_loss_only_when_numeric():
    assert TrainedModel("m", {}, {"eval_loss": 2}).eval_loss == 2.0
    assert TrainedModel("m", {}, {"eval_loss": "nan?"}).eval_loss is None
    assert TrainedModel("m", {}, {}).eval_loss is None
