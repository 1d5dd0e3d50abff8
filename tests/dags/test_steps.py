"""Step operators on the local target, and the delegation mechanics shared by both targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import TaskDeferred

from llmops_factory.settings import get_settings


@pytest.fixture
def local_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_TARGET", "local")
    monkeypatch.setenv("LLMOPS_LOCAL__HOME", str(tmp_path / "home"))
    return get_settings().local


def _ctx(task, run_id="manual__2026-01-03"):
    return {
        "run_id": run_id,
        "dag": SimpleNamespace(dag_id="d"),
        "task": task,
        "ti": mock.MagicMock(try_number=1),
    }


class _Deferring(BaseOperator):
    def execute(self, context):
        raise TaskDeferred(trigger=mock.MagicMock(), method_name="step_two", kwargs={"n": 1})

    def step_two(self, context, event, n):
        if n < 2:
            raise TaskDeferred(trigger=mock.MagicMock(), method_name="step_two", kwargs={"n": n + 1})
        return {"event": event, "n": n}


def test_deferral_is_forwarded_and_resumed(local_home):
    from llmops_plugins.stages.data import RunBeamPipeline

    step = RunBeamPipeline(task_id="prepare_dataset", pipeline="x", pipeline_options={}, job_name="j")
    with mock.patch.object(RunBeamPipeline, "local", _build_deferring):
        with pytest.raises(TaskDeferred) as first:
            step.execute(_ctx(step))
        assert first.value.method_name == "resume_inner"
        with pytest.raises(TaskDeferred) as second:
            step.resume_inner(_ctx(step), {"status": "running"}, **first.value.kwargs)
        assert second.value.kwargs == {"n": 2, "llmops_inner_method": "step_two"}
        result = step.resume_inner(_ctx(step), {"status": "done"}, **second.value.kwargs)
    assert result["pipeline"] == "x"


def _build_deferring(op, context, platform):
    return _Deferring(task_id=op.task_id)


def test_local_sensor_pokes_the_raw_partition(local_home):
    from llmops_plugins.stages.data import WaitForRawPartition

    step = WaitForRawPartition(task_id="wait_for_raw_partition", ds="2026-01-03")
    assert step.mode == "reschedule"
    assert step.poke(_ctx(step)) is False
    day = local_home.storage_root / "raw" / "faq" / "dt=2026-01-03"
    day.mkdir(parents=True)
    (day / "faq.jsonl").write_text("{}\n")
    assert step.poke(_ctx(step)) is True


def test_local_load_replaces_the_partition(local_home):
    from llmops_factory.warehouse import duck
    from llmops_plugins.stages.data import LoadWarehousePartition

    folder = local_home.storage_root / "datasets" / "daily-2026-01-03" / "dead_letter"
    folder.mkdir(parents=True)
    row = {
        "dataset_version": "daily-2026-01-03",
        "source": "faq",
        "source_date": "2026-01-03",
        "source_uri": "raw/faq/dt=2026-01-03/faq.jsonl",
        "source_record": "line:3",
        "stage": "parse",
        "reason": "malformed_json",
        "detail": "line 3: Expecting ','",
        "raw_excerpt": '{"id": ',
    }
    (folder / "part-00000-of-00001.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    step = LoadWarehousePartition(
        task_id="load_dead_letters",
        table="dead_letter_records",
        partition_date="2026-01-03",
        sources=["datasets/daily-2026-01-03/dead_letter/*.jsonl"],
    )
    assert step.execute(_ctx(step))["rows"] == 2
    assert step.execute(_ctx(step))["rows"] == 2  # a retry replaces, never appends
    (folder / "part-00000-of-00001.jsonl").unlink()
    assert step.execute(_ctx(step))["rows"] == 0  # an emptied day empties its partition
    with duck.session(local_home.warehouse_path) as conn:
        assert conn.execute("SELECT count(*) FROM dead_letter_records").fetchone()[0] == 0


def test_local_cleanup_terminates_this_runs_trainer_only(local_home):
    from llmops_plugins.stages.training import CancelTrainingJobs

    procs = {}
    for name, run_id in (("mine-t0", "run-a"), ("other-t0", "run-b")):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        folder = local_home.storage_root / "models" / name
        folder.mkdir(parents=True)
        (folder / "trainer.pid").write_text(json.dumps({"pid": proc.pid, "run_id": run_id}))
        procs[name] = proc
    try:
        step = CancelTrainingJobs(task_id="cleanup_training_jobs", run_id="run-a")
        assert step.execute(_ctx(step, "run-a")) == ["mine-t0"]
        assert procs["mine-t0"].wait(timeout=10) != 0
        time.sleep(0.2)
        assert procs["other-t0"].poll() is None
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
