"""Step bodies of the ``gcp`` target: the Google and Apache Beam provider operators and hooks.

Every function reads the settings it needs through ``Settings.require`` when the task starts, so a
missing cloud setting fails the task with a message naming it, never the DAG parse. The requests
these functions build are checked by the contract tests in ``tests/contract/``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from llmops_factory import layout
from llmops_factory.settings import Settings


def run_id_hash(run_id: str) -> str:
    return hashlib.sha1(run_id.encode()).hexdigest()[:12]


def labels_for(context: Any, settings: Settings, **extra: str) -> dict[str, str]:
    """Resource labels for cost attribution: lowercase, ``[a-z0-9_-]``, at most 63 characters."""

    def clean(value: str) -> str:
        return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]

    run_id = context["run_id"]
    base = {
        "app": "llmops-factory",
        "environment": settings.environment,
        "dag_id": context["dag"].dag_id,
        "task_id": context["task"].task_id,
        "run_id_hash": run_id_hash(run_id),
        **extra,
    }
    return {clean(k): clean(v) for k, v in base.items()}


# -- wait_for_raw_partition ------------------------------------------------------------------------
def raw_partition_sensor(op: Any, context: Any, settings: Settings):
    from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

    bucket = settings.require("gcp.bucket")
    return GCSObjectExistenceSensor(
        task_id=op.task_id,
        bucket=bucket,
        object=f"raw/*/dt={layout.partition_date(op.ds)}/*",
        use_glob=True,
        deferrable=True,
        google_cloud_conn_id=settings.gcp.gcp_conn_id,
        poke_interval=op.poke_interval,
        timeout=op.timeout,
    )


# -- run_beam_pipeline ----------------------------------------------------------------------------
def beam_pipeline_operator(op: Any, context: Any, settings: Settings):
    from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
    from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration

    project, bucket, staging, service_account = settings.require(
        "gcp.project_id", "gcp.bucket", "gcp.staging_bucket", "gcp.service_account"
    )
    gcp = settings.gcp
    options: dict[str, Any] = {
        **op.pipeline_options,
        "storage_root": f"gs://{bucket}",
        "prompt_root": f"gs://{bucket}",
        "temp_location": f"gs://{staging}/dataflow/tmp",
        "staging_location": f"gs://{staging}/dataflow/staging",
        "setup_file": f"{gcp.beam_jobs_dir}/setup.py",
        "max_num_workers": gcp.dataflow.max_workers,
        "machine_type": gcp.dataflow.machine_type,
        "service_account_email": service_account,
        "labels": labels_for(context, settings),
    }
    if gcp.dataflow.sdk_container_image:
        options["sdk_container_image"] = gcp.dataflow.sdk_container_image
        options.pop("setup_file")
    return BeamRunPythonPipelineOperator(
        task_id=op.task_id,
        py_file=f"{gcp.beam_jobs_dir}/{op.pipeline}.py",
        runner="DataflowRunner",
        pipeline_options=options,
        dataflow_config=DataflowConfiguration(
            job_name=op.job_name,
            project_id=project,
            location=gcp.region,
            gcp_conn_id=gcp.gcp_conn_id,
            wait_until_finished=True,
            drain_pipeline=False,
            cancel_timeout=600,
        ),
        gcp_conn_id=gcp.gcp_conn_id,
        deferrable=True,
    )


# -- warehouse --------------------------------------------------------------------------------------
class BigQueryWarehouse:
    """The gcp warehouse: the BigQuery dataset whose tables Terraform creates from the same schemas."""

    def __init__(self, settings: Settings) -> None:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        self.project = settings.require("gcp.project_id")
        self.dataset = settings.gcp.bigquery_dataset
        self.location = settings.gcp.bigquery_location
        self.hook = BigQueryHook(gcp_conn_id=settings.gcp.gcp_conn_id, location=self.location, use_legacy_sql=False)

    def table(self, name: str) -> str:
        return f"`{self.project}.{self.dataset}.{name}`"

    def _query(self, sql: str, where: dict[str, Any]) -> list[dict[str, Any]]:
        params = [
            {"name": k, "parameterType": {"type": "STRING"}, "parameterValue": {"value": str(v)}}
            for k, v in where.items()
        ]
        job = self.hook.insert_job(
            configuration={"query": {"query": sql, "useLegacySql": False, "queryParameters": params}},
            project_id=self.project,
            location=self.location,
        )
        return [dict(row.items()) for row in job.result()]

    def count(self, table: str, **where: Any) -> int:
        clause = " AND ".join(f"CAST({k} AS STRING) = @{k}" for k in where) or "TRUE"
        rows = self._query(f"SELECT COUNT(*) AS n FROM {self.table(table)} WHERE {clause}", where)
        return int(rows[0]["n"])

    def rows(self, table: str, columns: list[str], **where: Any) -> list[dict[str, Any]]:
        clause = " AND ".join(f"CAST({k} AS STRING) = @{k}" for k in where) or "TRUE"
        return self._query(f"SELECT {', '.join(columns)} FROM {self.table(table)} WHERE {clause}", where)


def load_job_configuration(
    settings: Settings, table: str, partition_date: str, source_uris: list[str]
) -> dict[str, Any]:
    """The BigQuery load job that replaces one partition (``table$YYYYMMDD``, ``WRITE_TRUNCATE``)."""
    from llmops_factory.warehouse import load_schema, table_spec

    spec = table_spec(table)
    if spec.time_partitioning is None:
        raise ValueError(f"table {table!r} is not partitioned; it cannot be loaded by partition")
    decorator = layout.partition_date(partition_date).replace("-", "")
    load: dict[str, Any] = {
        "sourceUris": source_uris,
        "sourceFormat": "NEWLINE_DELIMITED_JSON",
        "destinationTable": {
            "projectId": settings.require("gcp.project_id"),
            "datasetId": settings.gcp.bigquery_dataset,
            "tableId": f"{table}${decorator}",
        },
        "schema": {"fields": load_schema(table)},
        "writeDisposition": "WRITE_TRUNCATE",
        "createDisposition": "CREATE_IF_NEEDED",
        "ignoreUnknownValues": False,
        "maxBadRecords": 0,
        "timePartitioning": {k.lower(): v for k, v in spec.time_partitioning.items()},
    }
    if spec.clustering:
        load["clustering"] = {"fields": list(spec.clustering)}
    return {"load": load, "labels": {"app": "llmops-factory", "table": table}}


def load_warehouse_partition(op: Any, context: Any, settings: Settings) -> dict[str, Any]:
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    bucket, project = settings.require("gcp.bucket", "gcp.project_id")
    gcs = GCSHook(gcp_conn_id=settings.gcp.gcp_conn_id)
    uris: list[str] = []
    for pattern in op.sources:
        uris += [f"gs://{bucket}/{name}" for name in sorted(gcs.list(bucket, match_glob=pattern))]
    bq = BigQueryHook(gcp_conn_id=settings.gcp.gcp_conn_id, location=settings.gcp.bigquery_location)
    job_id = "llmops_load_{}_{}_{}".format(
        op.table, layout.partition_date(op.partition_date).replace("-", ""),
        hashlib.sha1(f"{context['run_id']}:{context['ti'].try_number}".encode()).hexdigest()[:12],
    )
    if uris:
        configuration = load_job_configuration(settings, op.table, op.partition_date, uris)
    else:  # nothing to load: empty the partition, as WRITE_TRUNCATE of zero rows would
        from llmops_factory.warehouse import table_spec

        field = table_spec(op.table).partition_field
        configuration = {
            "query": {
                "query": f"DELETE FROM `{project}.{settings.gcp.bigquery_dataset}.{op.table}` "
                f"WHERE DATE({field}) = @partition",
                "useLegacySql": False,
                "queryParameters": [
                    {"name": "partition", "parameterType": {"type": "DATE"},
                     "parameterValue": {"value": layout.partition_date(op.partition_date)}}
                ],
            }
        }
    job = bq.insert_job(configuration=configuration, job_id=job_id, project_id=project,
                        location=settings.gcp.bigquery_location)
    job.result()
    return {"table": op.table, "partition": op.partition_date, "files": len(uris), "job_id": job_id}


# -- run_training_job -----------------------------------------------------------------------------
def training_job_operator(op: Any, context: Any, settings: Settings):
    from airflow.providers.google.cloud.operators.vertex_ai.custom_job import (
        CreateCustomContainerTrainingJobOperator,
    )

    project, bucket, staging, service_account, image = settings.require(
        "gcp.project_id", "gcp.bucket", "gcp.staging_bucket", "gcp.service_account", "gcp.training.container_uri"
    )
    training = settings.gcp.training.model_copy(
        update={k: v for k, v in (op.machine or {}).items() if v not in (None, "", 0)}
    )
    root = f"gs://{bucket}"
    return CreateCustomContainerTrainingJobOperator(
        task_id=op.task_id,
        project_id=project,
        region=settings.gcp.region,
        display_name=op.model_version,
        container_uri=image,
        command=["python", "-m", "llmops_trainer"],
        args=op.trainer_args(
            root,
            [
                "--tracking", "vertex",
                "--experiment_name", settings.use_case,
                "--machine_type", training.machine_type,
                "--accelerator_type", training.accelerator_type,
                "--accelerator_count", str(training.accelerator_count),
                "--replica_count", str(training.replica_count),
            ],
        ),
        environment_variables={
            "LLMOPS_TARGET": "gcp",
            "LLMOPS_GCP__PROJECT_ID": project,
            "LLMOPS_GCP__REGION": settings.gcp.region,
            "LLMOPS_GCP__BUCKET": bucket,
        },
        staging_bucket=f"gs://{staging}",
        base_output_dir=layout.join(root, layout.model(op.model_version)),
        service_account=service_account,
        machine_type=training.machine_type,
        accelerator_type=training.accelerator_type,
        accelerator_count=training.accelerator_count,
        replica_count=training.replica_count,
        boot_disk_size_gb=training.boot_disk_size_gb,
        labels=labels_for(context, settings, model_version=op.model_version),
        gcp_conn_id=settings.gcp.gcp_conn_id,
        deferrable=True,
    )


# -- register_model_version -----------------------------------------------------------------------
def model_upload_request(
    settings: Settings, model_version: str, idempotency_key: str, alias: str, metrics: dict[str, Any]
) -> dict[str, Any]:
    """The Vertex AI Model Registry upload body of one trained version (serving contract of the image)."""
    bucket = settings.require("gcp.bucket")
    image = settings.gcp.serving_container_uri or settings.require("gcp.training.container_uri")
    return {
        "display_name": settings.use_case,
        "artifact_uri": layout.join(f"gs://{bucket}", layout.model_merged(model_version)),
        "description": f"{settings.use_case} {model_version}",
        "version_aliases": [alias],
        "version_description": json.dumps({"model_version": model_version, "metrics": metrics}, sort_keys=True)[:1000],
        "labels": {
            "app": "llmops-factory",
            "model_version": re.sub(r"[^a-z0-9_-]", "-", model_version.lower())[:63],
            "idempotency_key": hashlib.sha1(idempotency_key.encode()).hexdigest()[:40],
        },
        "container_spec": {
            "image_uri": image,
            "command": ["python", "-m", "llmops_trainer"],
            "args": ["serve"],
            "predict_route": "/v1/predict",
            "health_route": "/v1/health",
            "ports": [{"container_port": 8080}],
            "env": [{"name": "LLMOPS_MODEL_VERSION", "value": model_version}],
        },
    }


def register_model_version(op: Any, context: Any, settings: Settings) -> dict[str, Any]:
    from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

    project = settings.require("gcp.project_id")
    region = settings.gcp.region
    info = op.run_info
    model_version = info["model_version"]
    hook = ModelServiceHook(gcp_conn_id=settings.gcp.gcp_conn_id)
    body = model_upload_request(settings, model_version, op.idempotency_key, op.alias, info.get("metrics", {}))
    key_label = body["labels"]["idempotency_key"]
    parent = None
    existing = list(hook.list_models(project_id=project, region=region,
                                     filter=f'display_name="{settings.use_case}"'))
    if existing:
        parent = existing[0].name
        for version in hook.list_model_versions(region=region, project_id=project,
                                                model_id=parent.rsplit("/", 1)[-1]):
            if dict(version.labels).get("idempotency_key") == key_label:
                op.log.info("Run already registered as %s@%s", parent, version.version_id)
                return {"model_name": parent, "version": version.version_id, "alias": op.alias,
                        "uri": body["artifact_uri"], "model_version": model_version}
    operation = hook.upload_model(project_id=project, region=region, model=body, parent_model=parent)
    result = operation.result()
    return {"model_name": result.model, "version": result.model_version_id, "alias": op.alias,
            "uri": body["artifact_uri"], "model_version": model_version}


# -- cancel_training_jobs -------------------------------------------------------------------------
_FINAL_STATES = {"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}


def cancel_training_jobs(op: Any, context: Any, settings: Settings) -> list[str]:
    from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobHook

    project = settings.require("gcp.project_id")
    hook = CustomJobHook(gcp_conn_id=settings.gcp.gcp_conn_id)
    label = run_id_hash(op.run_id)
    cancelled = []
    for pipeline in hook.list_training_pipelines(
        project_id=project, region=settings.gcp.region,
        filter=f'labels.app="llmops-factory" AND labels.run_id_hash="{label}"',
    ):
        state = getattr(pipeline.state, "name", str(pipeline.state))
        if state in _FINAL_STATES:
            continue
        pipeline_id = pipeline.name.rsplit("/", 1)[-1]
        op.log.warning("cancelling training pipeline %s (state %s) of run %s", pipeline.name, state, op.run_id)
        hook.cancel_training_pipeline(project_id=project, region=settings.gcp.region, training_pipeline=pipeline_id)
        cancelled.append(pipeline.name)
    return cancelled
