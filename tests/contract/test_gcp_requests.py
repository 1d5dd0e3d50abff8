"""Contract tests of the gcp target at the hook/client boundary: the exact requests the steps send.

No cloud account is used: the provider hooks' client-facing methods are replaced by mocks and the
tests assert what they were called with (machine spec, accelerator, container args, job config...).
"""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from llmops_factory.settings import SettingsError, get_settings

RUN_ID = "scheduled__2026-01-03T00:00:00+00:00"


def _context(task, dag_id="llmops_finetune"):
    ti = mock.MagicMock(try_number=1, task_id=task.task_id, map_index=-1)
    return {"run_id": RUN_ID, "dag": SimpleNamespace(dag_id=dag_id), "task": task, "ti": ti,
            "ds": "2026-01-03"}


def _training_step(**overrides):
    from llmops_plugins.stages.training import RunTrainingJob

    kwargs = dict(
        task_id="train_model",
        model_version="support-assistant-20260103-ab12cd34-t0",
        train_data="datasets/snap-0123456789ab/train",
        eval_data="datasets/snap-0123456789ab/eval",
        base_model="gs://acme-models/llama-3.2-1b",
        prompt_ref="support_assistant@1.0.0",
        prompt_hash="0" * 64,
        hparams={"lora_r": 16, "learning_rate": 0.0002, "lora_target_modules": ["q_proj", "v_proj"]},
        config="a100",
    )
    kwargs.update(overrides)
    return RunTrainingJob(**kwargs)


class TestVertexTrainingJob:
    def test_submits_the_custom_container_job(self, gcp_env):
        from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

        step = _training_step()
        job = mock.MagicMock()
        job.name = "projects/acme-llmops/locations/europe-west4/trainingPipelines/123"
        with mock.patch.object(CustomJobHook, "submit_custom_container_training_job", return_value=job) as submit, \
                mock.patch("airflow.providers.google.cloud.operators.vertex_ai.custom_job.VertexAITrainingLink"):
            with pytest.raises(TaskDeferred) as deferred:
                step.execute(_context(step))
        kw = submit.call_args.kwargs
        assert kw["project_id"] == "acme-llmops" and kw["region"] == "europe-west4"
        assert kw["container_uri"] == gcp_env["LLMOPS_GCP__TRAINING__CONTAINER_URI"]
        assert kw["command"] == ["python", "-m", "llmops_trainer"]
        assert kw["machine_type"] == "a2-highgpu-1g"
        assert kw["accelerator_type"] == "NVIDIA_TESLA_A100" and kw["accelerator_count"] == 1
        assert kw["replica_count"] == 1
        assert kw["base_output_dir"] == "gs://acme-llmops-data/models/support-assistant-20260103-ab12cd34-t0/"
        assert kw["staging_bucket"] == "gs://acme-llmops-staging"
        assert kw["service_account"] == gcp_env["LLMOPS_GCP__SERVICE_ACCOUNT"]
        args = kw["args"]
        assert args[:3] == ["train", "--config", "trainer/configs/a100.yaml"]
        pairs = dict(zip(args[1::2], args[2::2], strict=False))
        assert pairs["--train_data"] == "gs://acme-llmops-data/datasets/snap-0123456789ab/train"
        assert pairs["--base_model"] == "gs://acme-models/llama-3.2-1b"
        assert pairs["--output_dir"] == "gs://acme-llmops-data/models/support-assistant-20260103-ab12cd34-t0/"
        assert pairs["--lora_r"] == "16"
        # the trainer renders from the published bundle the run pinned, and checks its hash
        assert pairs["--prompt"] == "support_assistant@1.0.0"
        assert pairs["--prompt_root"] == "gs://acme-llmops-data"
        assert pairs["--prompt_sha256"] == "0" * 64
        i = args.index("--lora_target_modules")
        assert args[i + 1:i + 3] == ["q_proj", "v_proj"]
        tail = dict(zip(args[-12::2], args[-11::2], strict=False))
        assert tail == {"--tracking": "vertex", "--experiment_name": "support-assistant",
                        "--machine_type": "a2-highgpu-1g", "--accelerator_type": "NVIDIA_TESLA_A100",
                        "--accelerator_count": "1", "--replica_count": "1"}
        assert kw["labels"]["dag_id"] == "llmops_finetune" and kw["labels"]["app"] == "llmops-factory"
        assert all(len(v) <= 63 and v == v.lower() for v in kw["labels"].values())
        assert kw["model_serving_container_image_uri"] is None, "training must not upload a model itself"
        assert kw["environment_variables"]["LLMOPS_TARGET"] == "gcp"
        # the deferral is re-routed through the step so it can resume the provider operator
        assert deferred.value.method_name == "resume_inner"
        assert deferred.value.kwargs["llmops_inner_method"] == "execute_complete"

    def test_form_overrides_machine_and_accelerator(self, gcp_env):
        from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

        step = _training_step(machine={"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4",
                                       "accelerator_count": 1})
        with mock.patch.object(CustomJobHook, "submit_custom_container_training_job") as submit, \
                mock.patch("airflow.providers.google.cloud.operators.vertex_ai.custom_job.VertexAITrainingLink"):
            with pytest.raises(TaskDeferred):
                step.execute(_context(step))
        kw = submit.call_args.kwargs
        assert (kw["machine_type"], kw["accelerator_type"]) == ("g2-standard-8", "NVIDIA_L4")

    def test_training_runs_as_its_own_service_account_when_set(self, gcp_env, monkeypatch):
        from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

        monkeypatch.setenv("LLMOPS_GCP__TRAINING__SERVICE_ACCOUNT", "llmops-training@acme-llmops.iam.gserviceaccount.com")
        step = _training_step()
        with mock.patch.object(CustomJobHook, "submit_custom_container_training_job") as submit, \
                mock.patch("airflow.providers.google.cloud.operators.vertex_ai.custom_job.VertexAITrainingLink"):
            with pytest.raises(TaskDeferred):
                step.execute(_context(step))
        assert submit.call_args.kwargs["service_account"] == "llmops-training@acme-llmops.iam.gserviceaccount.com"

    def test_missing_setting_fails_at_task_start_naming_it(self, gcp_env, monkeypatch):
        monkeypatch.delenv("LLMOPS_GCP__TRAINING__CONTAINER_URI")
        step = _training_step()
        with pytest.raises(AirflowFailException, match=r"gcp.training.container_uri.*LLMOPS_GCP__TRAINING__CONTAINER_URI") as failed:
            step.execute(_context(step))
        # a missing setting cannot change on retry: the task fails at once, without retries
        assert isinstance(failed.value.__cause__, SettingsError)

    def test_on_kill_cancels_the_running_job(self, gcp_env):
        step = _training_step()
        step._inner = mock.MagicMock()
        step.on_kill()
        step._inner.on_kill.assert_called_once()


class TestDataflowPipeline:
    def test_dataflow_runner_options(self, gcp_env):
        from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration

        from llmops_plugins.platform import get_platform
        from llmops_plugins.stages.data import RunBeamPipeline

        step = RunBeamPipeline(task_id="prepare_dataset", pipeline="data_prep",
                               job_name="llmops-data-prep-20260103",
                               pipeline_options={"ds": "2026-01-03", "prompt": "support_assistant@1.0.0"})
        inner = step.gcp(_context(step, "llmops_data_prep"), get_platform())
        assert inner.runner == "DataflowRunner" and inner.deferrable
        assert inner.py_file == "/home/airflow/gcs/data/beam_jobs/data_prep.py"
        opts = inner.pipeline_options
        assert opts["storage_root"] == opts["prompt_root"] == "gs://acme-llmops-data"
        assert opts["ds"] == "2026-01-03" and opts["prompt"] == "support_assistant@1.0.0"
        assert opts["temp_location"] == "gs://acme-llmops-staging/dataflow/tmp"
        assert opts["setup_file"] == "/home/airflow/gcs/data/beam_jobs/setup.py"
        assert opts["max_num_workers"] == 10 and opts["machine_type"] == "n2-standard-4"
        assert opts["service_account_email"] == gcp_env["LLMOPS_GCP__SERVICE_ACCOUNT"]
        assert opts["labels"]["dag_id"] == "llmops_data_prep"
        cfg = inner.dataflow_config
        assert isinstance(cfg, DataflowConfiguration)
        assert (cfg.job_name, cfg.project_id, cfg.location) == ("llmops-data-prep-20260103", "acme-llmops",
                                                                 "europe-west4")
        assert cfg.wait_until_finished is True

    def test_dataflow_job_is_started_with_those_options(self, gcp_env):
        from airflow.providers.apache.beam.hooks.beam import BeamHook
        from airflow.providers.google.cloud.hooks.dataflow import DataflowHook

        from llmops_plugins.stages.data import RunBeamPipeline

        step = RunBeamPipeline(task_id="prepare_dataset", pipeline="data_prep", job_name="llmops-data-prep-20260103",
                               pipeline_options={"ds": "2026-01-03"})
        with mock.patch.object(BeamHook, "start_python_pipeline") as start, \
                mock.patch.object(DataflowHook, "wait_for_done"), \
                mock.patch.object(DataflowHook, "is_job_dataflow_running", return_value=False), \
                mock.patch("airflow.providers.apache.beam.operators.beam.DataflowJobLink"), \
                mock.patch("airflow.providers.apache.beam.operators.beam.GCSHook"):
            try:
                step.execute(_context(step, "llmops_data_prep"))
            except TaskDeferred:
                pass
        variables = start.call_args.kwargs["variables"]
        assert variables["project"] == "acme-llmops" and variables["region"] == "europe-west4"
        assert variables["job_name"].startswith("llmops-data-prep-20260103")
        assert variables["storage_root"] == "gs://acme-llmops-data"
        assert start.call_args.kwargs["py_file"].endswith("beam_jobs/data_prep.py")


class TestBigQueryLoad:
    def test_load_replaces_exactly_one_partition(self, gcp_env):
        from llmops_plugins.stages.data import load_job_configuration

        cfg = load_job_configuration(get_settings(), "instruction_examples", "2026-01-03",
                                     ["gs://acme-llmops-data/datasets/daily-2026-01-03/train/part-0.jsonl"])
        load = cfg["load"]
        assert load["destinationTable"] == {"projectId": "acme-llmops", "datasetId": "llmops",
                                            "tableId": "instruction_examples$20260103"}
        assert load["writeDisposition"] == "WRITE_TRUNCATE"
        assert load["sourceFormat"] == "NEWLINE_DELIMITED_JSON"
        assert load["timePartitioning"] == {"type": "DAY", "field": "source_date"}
        assert load["clustering"] == {"fields": ["source", "split"]}
        assert load["maxBadRecords"] == 0
        names = [f["name"] for f in load["schema"]["fields"]]
        assert names[:3] == ["example_id", "dataset_version", "source"]

    def test_step_lists_objects_and_inserts_the_job(self, gcp_env):
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        from llmops_plugins.stages.data import LoadWarehousePartition

        step = LoadWarehousePartition(task_id="load_examples", table="instruction_examples",
                                      partition_date="2026-01-03",
                                      sources=["datasets/daily-2026-01-03/train/*.jsonl"])
        objects = ["datasets/daily-2026-01-03/train/part-00000-of-00002.jsonl",
                   "datasets/daily-2026-01-03/train/part-00001-of-00002.jsonl"]
        with mock.patch.object(GCSHook, "list", return_value=objects) as lst, \
                mock.patch.object(BigQueryHook, "insert_job") as insert:
            result = step.execute(_context(step, "llmops_data_prep"))
        lst.assert_called_once_with("acme-llmops-data", match_glob="datasets/daily-2026-01-03/train/*.jsonl")
        cfg = insert.call_args.kwargs["configuration"]
        assert cfg["load"]["sourceUris"] == [f"gs://acme-llmops-data/{o}" for o in objects]
        assert insert.call_args.kwargs["job_id"].startswith("llmops_load_instruction_examples_20260103_")
        assert result["files"] == 2

    def test_no_files_empties_the_partition(self, gcp_env):
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        from llmops_plugins.stages.data import LoadWarehousePartition

        step = LoadWarehousePartition(task_id="load_dead_letters", table="dead_letter_records",
                                      partition_date="2026-01-03", sources=["datasets/daily-2026-01-03/dead_letter/*"])
        with mock.patch.object(GCSHook, "list", return_value=[]), \
                mock.patch.object(BigQueryHook, "insert_job") as insert:
            step.execute(_context(step, "llmops_data_prep"))
        query = insert.call_args.kwargs["configuration"]["query"]
        assert query["query"].startswith("DELETE FROM `acme-llmops.llmops.dead_letter_records`")
        assert query["queryParameters"][0]["parameterValue"]["value"] == "2026-01-03"


class TestRawPartitionSensor:
    def test_deferrable_glob_sensor(self, gcp_env):
        from llmops_plugins.platform import get_platform
        from llmops_plugins.stages.data import WaitForRawPartition

        step = WaitForRawPartition(task_id="wait_for_raw_partition", ds="2026-01-03", timeout=600, poke_interval=60)
        inner = step.gcp(_context(step, "llmops_data_prep"), get_platform())
        assert (inner.bucket, inner.object) == ("acme-llmops-data", "raw/*/dt=2026-01-03/*")
        assert inner.use_glob and inner.deferrable


class TestModelRegistryUpload:
    def _step(self):
        from llmops_plugins.stages.training import RegisterModelVersion

        return RegisterModelVersion(
            task_id="register_candidate",
            trained={"model_version": "support-assistant-20260103-ab12cd34-t0", "metrics": {"eval_loss": 1.23},
                     "hparams": {"lora_r": 8}},
            idempotency_key=f"llmops_finetune:{RUN_ID}",
        )

    def test_first_version_uploads_with_alias_candidate(self, gcp_env):
        from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

        step = self._step()
        op = mock.MagicMock()
        op.result.return_value = SimpleNamespace(model="projects/1/locations/europe-west4/models/9",
                                                 model_version_id="1")
        with mock.patch.object(ModelServiceHook, "list_models", return_value=[]), \
                mock.patch.object(ModelServiceHook, "upload_model", return_value=op) as upload:
            result = step.execute(_context(step))
        kw = upload.call_args.kwargs
        assert kw["parent_model"] is None and kw["project_id"] == "acme-llmops"
        body = kw["model"]
        assert body["display_name"] == "support-assistant"
        assert body["version_aliases"] == ["candidate"]
        assert body["artifact_uri"] == "gs://acme-llmops-data/models/support-assistant-20260103-ab12cd34-t0/merged/"
        assert body["container_spec"]["predict_route"] == "/v1/predict"
        assert body["container_spec"]["health_route"] == "/v1/health"
        assert result["version"] == "1"

    def test_next_version_has_parent_model_and_rerun_is_idempotent(self, gcp_env):
        from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

        from llmops_plugins.platform.gcp import model_upload_request

        step = self._step()
        parent = SimpleNamespace(name="projects/1/locations/europe-west4/models/9")
        other = SimpleNamespace(version_id="3", labels={"idempotency_key": "something-else"})
        op = mock.MagicMock()
        op.result.return_value = SimpleNamespace(model=parent.name, model_version_id="4")
        with mock.patch.object(ModelServiceHook, "list_models", return_value=[parent]), \
                mock.patch.object(ModelServiceHook, "list_model_versions", return_value=[other]), \
                mock.patch.object(ModelServiceHook, "upload_model", return_value=op) as upload:
            assert step.execute(_context(step))["version"] == "4"
        assert upload.call_args.kwargs["parent_model"] == parent.name

        key = model_upload_request(get_settings(), "x", step.idempotency_key, "candidate", {})["labels"]["idempotency_key"]
        done = SimpleNamespace(version_id="4", labels={"idempotency_key": key})
        with mock.patch.object(ModelServiceHook, "list_models", return_value=[parent]), \
                mock.patch.object(ModelServiceHook, "list_model_versions", return_value=[other, done]), \
                mock.patch.object(ModelServiceHook, "upload_model") as upload:
            assert step.execute(_context(step))["version"] == "4"
        upload.assert_not_called()


class TestCleanupTeardown:
    def test_cancels_only_running_pipelines_of_this_run(self, gcp_env):
        from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

        from llmops_factory.layout import run_id_hash
        from llmops_plugins.stages.training import CancelTrainingJobs

        step = CancelTrainingJobs(task_id="cleanup_training_jobs", run_id=RUN_ID)
        running = SimpleNamespace(name="projects/1/locations/europe-west4/trainingPipelines/11",
                                  state=SimpleNamespace(name="PIPELINE_STATE_RUNNING"))
        done = SimpleNamespace(name="projects/1/locations/europe-west4/trainingPipelines/12",
                               state=SimpleNamespace(name="PIPELINE_STATE_SUCCEEDED"))
        with mock.patch.object(CustomJobHook, "list_training_pipelines", return_value=[running, done]) as lst, \
                mock.patch.object(CustomJobHook, "cancel_training_pipeline") as cancel:
            result = step.execute(_context(step))
        assert f'labels.run_id_hash="{run_id_hash(RUN_ID)}"' in lst.call_args.kwargs["filter"]
        cancel.assert_called_once_with(project_id="acme-llmops", region="europe-west4", training_pipeline="11")
        assert result == [running.name]

    def test_teardown_is_wired_in_the_finetune_dag(self):
        from airflow.dag_processing.dagbag import DagBag

        from tests.dags.helpers import REPO

        dag = DagBag(dag_folder=str(REPO / "dags" / "llmops_finetune.py")).dags["llmops_finetune"]
        cleanup = dag.get_task("cleanup_training_jobs")
        assert cleanup.is_teardown
        assert "train_model" in cleanup.upstream_task_ids


class TestVertexAliases:
    def test_set_alias_merges_the_alias_onto_that_version(self, gcp_env):
        from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

        from llmops_plugins.platform import get_platform

        parent = SimpleNamespace(name="projects/1/locations/europe-west4/models/9")
        with mock.patch.object(ModelServiceHook, "list_models", return_value=[parent]), \
                mock.patch.object(ModelServiceHook, "add_version_aliases") as add:
            get_platform().registry().set_alias("champion", "4")
        add.assert_called_once_with(region="europe-west4", project_id="acme-llmops", model_id="9@4",
                                    version_aliases=["champion"])

    def test_get_by_alias_reads_the_aliased_version_or_none(self, gcp_env):
        from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook
        from google.api_core.exceptions import NotFound

        from llmops_plugins.platform import get_platform

        parent = SimpleNamespace(name="projects/1/locations/europe-west4/models/9")
        model = SimpleNamespace(version_id="4", artifact_uri="gs://b/models/m/merged/",
                                version_aliases=["champion", "default"], labels={"app": "llmops-factory"})
        registry = get_platform().registry()
        with mock.patch.object(ModelServiceHook, "list_models", return_value=[parent]), \
                mock.patch.object(ModelServiceHook, "get_model", return_value=model) as get:
            found = registry.get_by_alias("champion")
        assert get.call_args.kwargs["model_id"] == "9@champion"
        assert (found.version, found.uri, found.aliases) == ("4", "gs://b/models/m/merged/", ("champion", "default"))
        with mock.patch.object(ModelServiceHook, "list_models", return_value=[parent]), \
                mock.patch.object(ModelServiceHook, "get_model", side_effect=NotFound("no alias")):
            assert registry.get_by_alias("challenger") is None
        with mock.patch.object(ModelServiceHook, "list_models", return_value=[]):
            assert registry.get_by_alias("champion") is None
