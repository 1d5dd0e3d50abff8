"""Stage functions and the step base class on the local target (fast, no DAG run)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException

from llmops_factory.errors import DeterministicError, TaskInputError
from llmops_factory.handoffs import PromptPin, SnapshotRef, TrainingTrial
from llmops_factory.settings import get_settings


@pytest.fixture
def local_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_TARGET", "local")
    monkeypatch.setenv("LLMOPS_LOCAL__HOME", str(tmp_path / "home"))
    return get_settings().local


PIN = PromptPin("support_assistant", "1.0.0", "c" * 64).to_dict()
SNAP = SnapshotRef("snap-abc", "2026-01-01", "2026-01-03", "datasets/snap-abc/train/",
                   "datasets/snap-abc/eval/").to_dict()


def test_fail_fast_turns_a_deterministic_error_into_a_no_retry_failure():
    from llmops_plugins.stages.base import fail_fast

    @fail_fast
    def bad():
        raise TaskInputError("window_days=0 must be at least 1")

    with pytest.raises(AirflowFailException, match="TaskInputError: window_days=0 must be at least 1"):
        bad()

    @fail_fast
    def flaky():
        raise ConnectionError("try again")

    with pytest.raises(ConnectionError):  # anything else keeps its retries
        flaky()


def test_step_body_is_picked_by_the_platform_target(local_home, monkeypatch):
    from llmops_plugins.stages.base import Step

    class Probe(Step):
        def local(self, context, platform):
            return ("local", type(platform).__name__)

        def gcp(self, context, platform):
            return ("gcp", type(platform).__name__)

    step = Probe(task_id="probe")
    assert step.execute({}) == ("local", "LocalPlatform")
    monkeypatch.setenv("LLMOPS_TARGET", "gcp")
    assert step.execute({}) == ("gcp", "GcpPlatform")


def test_step_without_a_body_for_the_target_says_so(local_home):
    from llmops_plugins.stages.base import Step

    class OnlyGcp(Step):
        def gcp(self, context, platform):
            return 1

    with pytest.raises(TypeError, match="OnlyGcp has no 'local' body"):
        OnlyGcp(task_id="x").execute({})


def test_plan_training_expands_the_grid_with_the_pinned_prompt(local_home):
    from llmops_plugins.stages.training import plan_training

    trials = plan_training(PIN, SNAP, "models/base/tiny/", "manual__2026-01-03", lora_r=[4, 8],
                           learning_rate=[1e-3, 2e-3], lora_alpha=16, target_modules=["q_proj"], epochs=None,
                           machine_type=None, accelerator_type="", accelerator_count=0)
    parsed = [TrainingTrial.from_dict(t) for t in trials]
    assert [(t.hparams["lora_r"], t.hparams["learning_rate"]) for t in parsed] == [
        (4, 1e-3), (4, 2e-3), (8, 1e-3), (8, 2e-3)]
    assert {t.prompt_ref for t in parsed} == {"support_assistant@1.0.0"} and parsed[0].prompt_hash == "c" * 64
    assert parsed[0].hparams == {"lora_alpha": 16, "lora_target_modules": ["q_proj"], "lora_r": 4,
                                 "learning_rate": 1e-3}
    assert parsed[0].config == "local-cpu" and parsed[0].machine == {}
    assert len({t.model_version for t in parsed}) == 4
    assert parsed[0].model_version.startswith("support-assistant-20260103-")
    # the same run plans the same versions (a retry overwrites only its own outputs)
    again = plan_training(PIN, SNAP, "models/base/tiny/", "manual__2026-01-03", lora_r=[4, 8],
                          learning_rate=[1e-3, 2e-3], lora_alpha=16, target_modules=["q_proj"])
    assert [t["model_version"] for t in again] == [t.model_version for t in parsed]


def test_plan_training_refuses_a_malformed_handoff(local_home):
    from llmops_plugins.stages.training import plan_training

    with pytest.raises(AirflowFailException, match="snapshot reference from assemble_snapshot lacks field"):
        plan_training(PIN, {"snapshot_version": "x"}, "b", "r")


def test_select_best_takes_the_lowest_eval_loss_and_fails_closed():
    from llmops_plugins.stages.training import select_best

    results = [
        {"model_version": "m-t0", "hparams": {"lora_r": 4}, "metrics": {"eval_loss": 2.0}},
        {"model_version": "m-t1", "hparams": {"lora_r": 8}, "metrics": {"eval_loss": 1.5}},
        {"model_version": "m-t2", "hparams": {"lora_r": 16}, "metrics": {}},
    ]
    best = select_best(results)
    assert best["model_version"] == "m-t1"
    assert [t["model_version"] for t in best["trials"]] == ["m-t1", "m-t0"]
    with pytest.raises(AirflowFailException, match="no trial reported eval_loss"):
        select_best([results[2]])


def test_window_end_prefers_param_then_asset_events_then_logical_date():
    from llmops_plugins.stages.training import window_end

    events = {"asset": [SimpleNamespace(extra={"ds": "2026-01-02"}), SimpleNamespace(extra={"ds": "2026-01-04"})]}
    logical = dt.datetime(2026, 1, 9, tzinfo=dt.UTC)
    assert window_end("2026-01-01", events, logical) == "2026-01-01"
    assert window_end(None, events, logical) == "2026-01-04"
    assert window_end("", {}, logical) == "2026-01-09"
    with pytest.raises(DeterministicError, match="set the window_end param"):
        window_end(None, None, None, None)


def test_local_notifier_writes_one_message_per_run_and_task(local_home):
    from llmops_plugins.notify import LLMOpsFailureNotifier

    ti = mock.MagicMock(task_id="validate_dataset", try_number=1)
    context = {"ti": ti, "dag": SimpleNamespace(dag_id="llmops_data_prep"), "run_id": "manual__1",
               "exception": TaskInputError("bad day")}
    notifier = LLMOpsFailureNotifier(subject="[llmops] failed")
    notifier.notify(context)
    notifier.notify(context)  # a retry overwrites its own message
    files = list((local_home.home / "outbox").glob("*.eml"))
    assert len(files) == 1
    text = files[0].read_text()
    assert "Subject: [llmops] failed" in text and "TaskInputError: bad day" in text


def test_a_mapped_step_keeps_airflows_operator_defaults():
    """Mapping a step (``partial``/``expand``) must not turn ``inlets``/``outlets`` into ``None``: the
    task runner iterates them when it builds the context of each mapped task instance."""
    import pendulum
    from airflow.sdk import DAG

    from tests.dags.helpers import step_classes

    with DAG("mapped_steps", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        for cls in step_classes():
            mapped = cls.partial(task_id=f"m_{cls.__name__}").expand_kwargs([{}])
            assert mapped.partial_kwargs["inlets"] == [], cls.__name__
            assert mapped.partial_kwargs["outlets"] == [], cls.__name__
