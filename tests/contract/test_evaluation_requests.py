"""Contract tests of the evaluation stage's gcp path: the batch-generation job request and the
warehouse write, at the hook/client boundary (no cloud account)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.exceptions import TaskDeferred

RUN_ID = "asset_triggered__2026-01-04T00:00:00+00:00"
MV = "support-assistant-20260103-ab12cd34-t0"


def _context(task):
    ti = mock.MagicMock(try_number=1, task_id=task.task_id, map_index=0)
    return {
        "run_id": RUN_ID,
        "dag": SimpleNamespace(dag_id="llmops_evaluate"),
        "task": task,
        "ti": ti,
        "ds": "2026-01-04",
    }


def _step(role="candidate", model_dir=f"models/{MV}/merged/"):
    from llmops_plugins.stages.evaluation import BatchGenerate

    return BatchGenerate(
        task_id="batch_generate",
        model={
            "role": role,
            "model_version": MV,
            "model_dir": model_dir,
            "output_dir": f"eval/{MV}/generations/snap-1__support_assistant_1.0.0/",
        },
        eval_dir=f"eval/{MV}/",
        prompt_ref="support_assistant@1.0.0",
        prompt_hash="0" * 64,
    )


def test_batch_generation_is_a_vertex_custom_container_job_on_a_gpu(gcp_env):
    from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

    from llmops_plugins.stages.evaluation import BatchGenerate

    step = _step()
    job = mock.MagicMock()
    job.name = "projects/acme-llmops/locations/europe-west4/trainingPipelines/9"
    with (
        mock.patch.object(BatchGenerate, "_done", return_value=False),
        mock.patch.object(CustomJobHook, "submit_custom_container_training_job", return_value=job) as submit,
        mock.patch("airflow.providers.google.cloud.operators.vertex_ai.custom_job.VertexAITrainingLink"),
    ):
        with pytest.raises(TaskDeferred) as deferred:
            step.execute(_context(step))
    kw = submit.call_args.kwargs
    assert kw["container_uri"] == gcp_env["LLMOPS_GCP__TRAINING__CONTAINER_URI"]
    assert kw["command"] == ["python", "-m", "llmops_trainer"]
    assert kw["machine_type"] == "g2-standard-8"
    assert kw["accelerator_type"] == "NVIDIA_L4" and kw["accelerator_count"] == 1 and kw["replica_count"] == 1
    assert kw["model_serving_container_image_uri"] is None, "batch generation uploads no model"
    assert (
        kw["base_output_dir"]
        == f"gs://acme-llmops-data/eval/{MV}/generations/snap-1__support_assistant_1.0.0/"
    )
    args = kw["args"]
    assert args[0] == "batch-generate"
    pairs = dict(zip(args[1::2], args[2::2], strict=False))
    assert pairs["--model_dir"] == f"gs://acme-llmops-data/models/{MV}/merged/"
    assert pairs["--items"] == f"gs://acme-llmops-data/eval/{MV}/inputs/items.jsonl"
    assert pairs["--benchmark"] == f"gs://acme-llmops-data/eval/{MV}/inputs/benchmark.jsonl"
    assert (
        pairs["--prompt"] == "support_assistant@1.0.0" and pairs["--prompt_root"] == "gs://acme-llmops-data"
    )
    assert pairs["--prompt_sha256"] == "0" * 64
    assert pairs["--output_dir"] == kw["base_output_dir"]
    assert pairs["--batch_size"] == "16" and pairs["--device"] == "auto"
    assert kw["labels"]["dag_id"] == "llmops_evaluate" and kw["labels"]["role"] == "candidate"
    assert deferred.value.method_name == "resume_inner"


def test_a_base_model_outside_storage_is_passed_as_is(gcp_env):
    from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

    from llmops_plugins.stages.evaluation import BatchGenerate

    step = _step(role="base", model_dir="gs://acme-models/llama-3.2-1b")
    with (
        mock.patch.object(BatchGenerate, "_done", return_value=False),
        mock.patch.object(CustomJobHook, "submit_custom_container_training_job") as submit,
        mock.patch("airflow.providers.google.cloud.operators.vertex_ai.custom_job.VertexAITrainingLink"),
    ):
        with pytest.raises(TaskDeferred):
            step.execute(_context(step))
    args = submit.call_args.kwargs["args"]
    assert args[args.index("--model_dir") + 1] == "gs://acme-models/llama-3.2-1b"


def test_finished_generations_are_reused_without_a_job(gcp_env):
    from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

    from llmops_plugins.stages.evaluation import BatchGenerate

    step = _step(role="champion")
    with (
        mock.patch.object(BatchGenerate, "_done", return_value=True),
        mock.patch.object(BatchGenerate, "finish", return_value={"role": "champion"}) as finish,
        mock.patch.object(CustomJobHook, "submit_custom_container_training_job") as submit,
    ):
        assert step.execute(_context(step)) == {"role": "champion"}
    submit.assert_not_called()
    finish.assert_called_once()


def test_eval_results_are_replaced_by_key_in_one_bigquery_script(gcp_env):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    from llmops_plugins.platform import get_platform
    from llmops_plugins.stages.evaluation import replace_rows

    platform = get_platform()
    rows = [
        {
            "model_version": MV,
            "model_name": "support-assistant",
            "prompt_name": "support_assistant",
            "prompt_version": "1.0.0",
            "suite": "gate",
            "metric": m,
            "value": v,
            "role": "candidate",
            "evaluated_at": "2026-01-04T00:00:00+00:00",
        }
        for m, v in (("approved", 0.0), ("minimum:rouge_l", 0.0))
    ]
    with mock.patch.object(BigQueryHook, "insert_job") as insert:
        assert replace_rows(platform, "eval_results", {"model_version": MV, "suite": "gate"}, rows) == 2
    query = insert.call_args.kwargs["configuration"]["query"]
    sql = query["query"]
    assert sql.count("DELETE FROM") == 1 and sql.count("INSERT INTO") == 1, "one delete by key, one insert"
    assert "WHERE model_version = @k_model_version AND suite = @k_suite" in sql
    params = {p["name"]: p for p in query["queryParameters"]}
    assert params["k_model_version"]["parameterValue"]["value"] == MV
    assert params["r1_metric"]["parameterValue"]["value"] == "minimum:rouge_l"
    assert params["r0_value"]["parameterType"]["type"] == "FLOAT64"


def test_optional_vertex_genai_evaluation_request(gcp_env, monkeypatch):
    import vertexai
    import vertexai.evaluation as ve

    from llmops_plugins.stages.base import run_on_target
    from llmops_plugins.stages.evaluation import GenAIEvaluation

    monkeypatch.setenv("LLMOPS_EVALUATION__VERTEX_GENAI_METRICS", '["safety", "pairwise_fluency"]')

    task = mock.MagicMock()
    task.return_value.evaluate.return_value = SimpleNamespace(
        summary_metrics={
            "row_count": 2,
            "safety/mean": 0.97,
            "pairwise_fluency/candidate_model_win_rate": 0.6,
        }
    )
    rows = [
        {
            "item_id": f"i{n}",
            "question": f"q{n}",
            "response": f"a{n}",
            "reference": f"r{n}",
            "champion_response": f"c{n}",
        }
        for n in range(2)
    ]
    with mock.patch.object(vertexai, "init") as init, mock.patch.object(ve, "EvalTask", task):
        out = run_on_target(GenAIEvaluation, f"eval-{MV}", rows)
    init.assert_called_once_with(project="acme-llmops", location="europe-west4")
    kw = task.call_args.kwargs
    assert kw["experiment"] == "support-assistant"
    assert [m.metric_name for m in kw["metrics"]] == ["safety", "pairwise_fluency"]
    assert type(kw["metrics"][1]).__name__ == "PairwiseMetric"
    frame = kw["dataset"]
    assert list(frame.columns) == ["prompt", "response", "reference", "baseline_model_response"]
    assert frame["baseline_model_response"].tolist() == ["c0", "c1"]
    task.return_value.evaluate.assert_called_once_with(experiment_run_name=f"eval-{MV}")
    assert out == {
        "vertex_row_count": 2.0,
        "vertex_safety_mean": 0.97,
        "vertex_pairwise_fluency_candidate_model_win_rate": 0.6,
    }


def test_genai_evaluation_is_off_by_default_and_local_adds_nothing(gcp_env):
    from llmops_plugins.stages.base import run_on_target
    from llmops_plugins.stages.evaluation import GenAIEvaluation

    assert run_on_target(GenAIEvaluation, "run", [{"question": "q", "response": "a", "reference": "r"}]) == {}
