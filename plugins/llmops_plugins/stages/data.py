"""Data preparation stage: raw partitions → Beam → warehouse partitions → a validated daily dataset.

Each step's ``local`` and ``gcp`` bodies sit side by side:

| step | local | gcp |
|---|---|---|
| ``WaitForRawPartition`` | poke the storage folder, ``reschedule`` mode | ``GCSObjectExistenceSensor`` (glob, deferrable) |
| ``RunBeamPipeline`` | ``BeamRunPythonPipelineOperator`` on DirectRunner | the same operator on Dataflow |
| ``LoadWarehousePartition`` | DuckDB delete + insert in one transaction | BigQuery load job ``table$YYYYMMDD``, ``WRITE_TRUNCATE`` |
| ``validate_daily_dataset`` | target-neutral (platform storage and warehouse) | |
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.providers.google.cloud.links.dataflow import DataflowJobLink

from llmops_factory import layout
from llmops_factory.errors import TaskInputError
from llmops_plugins.stages.base import SensorStep, Step, fail_fast

log = logging.getLogger(__name__)

BEAM_JOBS = Path(__file__).resolve().parents[3] / "beam_jobs"


class WaitForRawPartition(SensorStep):
    """Wait until ``raw/<source>/dt=<ds>/`` holds at least one file for any source.

    gcp: the provider's ``GCSObjectExistenceSensor`` with a glob, deferrable. local: a poke over the
    local storage root in ``reschedule`` mode (no worker slot held while waiting).
    """

    template_fields: Sequence[str] = ("ds",)

    def __init__(self, *, ds: str = "{{ ds }}", **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.ds = ds

    @property
    def pattern(self) -> str:
        return f"raw/*/dt={layout.partition_date(self.ds)}/*"

    def local(self, context, platform):
        self._root = platform.storage_path
        return self.poke_locally(context)

    def poke(self, context: Any) -> bool:
        root = getattr(self, "_root", None) or self.platform().storage_path
        files = sorted(p for p in root.glob(self.pattern) if p.is_file())
        self.log.info("%d file(s) match %s under %s", len(files), self.pattern, root)
        return bool(files)

    def gcp(self, context, platform):
        from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

        return GCSObjectExistenceSensor(
            task_id=self.task_id,
            bucket=platform.settings.require("gcp.bucket"),
            object=self.pattern,
            use_glob=True,
            deferrable=True,
            google_cloud_conn_id=platform.settings.gcp.gcp_conn_id,
            poke_interval=self.poke_interval,
            timeout=self.timeout,
        )


class RunBeamPipeline(Step):
    """Run a Beam pipeline of ``beam_jobs/``: DirectRunner locally, Dataflow on gcp.

    ``pipeline`` names the driver file (``beam_jobs/<pipeline>.py``); ``pipeline_options`` are the
    pipeline's own flags (templated); the storage root and runner options are added per target.
    """

    template_fields: Sequence[str] = ("pipeline_options", "job_name")
    template_fields_renderers: ClassVar[dict[str, str]] = {"pipeline_options": "json"}
    operator_extra_links = (DataflowJobLink(),)

    def __init__(self, *, pipeline: str, pipeline_options: dict[str, Any], job_name: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.pipeline_options = pipeline_options
        self.job_name = job_name

    def local(self, context, platform):
        from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

        py_file = BEAM_JOBS / f"{self.pipeline}.py"
        if not py_file.is_file():
            raise TaskInputError(f"Beam driver {py_file} does not exist (step {self.task_id!r})")
        return BeamRunPythonPipelineOperator(
            task_id=self.task_id,
            py_file=str(py_file),
            runner="DirectRunner",
            py_interpreter=sys.executable,
            pipeline_options={
                **self.pipeline_options,
                "storage_root": str(platform.storage_path),
                "prompt_root": platform.storage_uri,
                "direct_num_workers": 1,
                "direct_running_mode": "in_memory",
            },
        )

    def gcp(self, context, platform):
        from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
        from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration

        settings = platform.settings
        project, bucket, staging, service_account = settings.require(
            "gcp.project_id", "gcp.bucket", "gcp.staging_bucket", "gcp.service_account"
        )
        gcp = settings.gcp
        options: dict[str, Any] = {
            **self.pipeline_options,
            "storage_root": f"gs://{bucket}",
            "prompt_root": f"gs://{bucket}",
            "temp_location": f"gs://{staging}/dataflow/tmp",
            "staging_location": f"gs://{staging}/dataflow/staging",
            "setup_file": f"{gcp.beam_jobs_dir}/setup.py",
            "max_num_workers": gcp.dataflow.max_workers,
            "machine_type": gcp.dataflow.machine_type,
            "service_account_email": gcp.dataflow.service_account or service_account,
            "labels": platform.labels(context),
        }
        if gcp.dataflow.sdk_container_image:
            options["sdk_container_image"] = gcp.dataflow.sdk_container_image
            options.pop("setup_file")
        return BeamRunPythonPipelineOperator(
            task_id=self.task_id,
            py_file=f"{gcp.beam_jobs_dir}/{self.pipeline}.py",
            runner="DataflowRunner",
            pipeline_options=options,
            dataflow_config=DataflowConfiguration(
                job_name=self.job_name,
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

    def finish(self, context: Any, result: Any) -> Any:
        return {"pipeline": self.pipeline, "job_name": self.job_name, "options": self.pipeline_options}


class LoadWarehousePartition(Step):
    """Replace one partition of a warehouse table with JSONL files from object storage.

    gcp: a BigQuery load job into ``table$YYYYMMDD`` with ``WRITE_TRUNCATE``; local: delete-then-insert
    of the same partition in DuckDB, in one transaction. ``sources`` are storage-layout globs.
    """

    template_fields: Sequence[str] = ("partition_date", "sources")

    def __init__(self, *, table: str, partition_date: str, sources: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.partition_date = partition_date
        self.sources = sources

    def _partition_field(self) -> str:
        from llmops_factory.warehouse import table_spec

        spec = table_spec(self.table)
        if spec.partition_field is None:
            raise TaskInputError(f"table {self.table!r} is not partitioned; it cannot be loaded by partition")
        return spec.partition_field

    def local(self, context, platform):
        field = self._partition_field()
        files: list[Path] = []
        for pattern in self.sources:
            files += sorted(p for p in platform.storage_path.glob(pattern) if p.is_file())
        count = platform.warehouse().replace_partition(self.table, {field: self.partition_date}, files)
        self.log.info("%s partition %s now holds %d row(s) from %d file(s)", self.table, self.partition_date,
                      count, len(files))
        return {"table": self.table, "partition": self.partition_date, "rows": count, "files": len(files)}

    def gcp(self, context, platform):
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        settings = platform.settings
        bucket, project = settings.require("gcp.bucket", "gcp.project_id")
        field = self._partition_field()
        gcs = GCSHook(gcp_conn_id=settings.gcp.gcp_conn_id)
        uris: list[str] = []
        for pattern in self.sources:
            uris += [f"gs://{bucket}/{name}" for name in sorted(gcs.list(bucket, match_glob=pattern))]
        bq = BigQueryHook(gcp_conn_id=settings.gcp.gcp_conn_id, location=settings.gcp.bigquery_location)
        job_id = "llmops_load_{}_{}_{}".format(
            self.table, layout.partition_date(self.partition_date).replace("-", ""),
            hashlib.sha1(f"{context['run_id']}:{context['ti'].try_number}".encode()).hexdigest()[:12],
        )
        if uris:
            configuration = load_job_configuration(settings, self.table, self.partition_date, uris)
        else:  # nothing to load: empty the partition, as WRITE_TRUNCATE of zero rows would
            configuration = {
                "query": {
                    "query": f"DELETE FROM `{project}.{settings.gcp.bigquery_dataset}.{self.table}` "
                    f"WHERE DATE({field}) = @partition",
                    "useLegacySql": False,
                    "queryParameters": [
                        {"name": "partition", "parameterType": {"type": "DATE"},
                         "parameterValue": {"value": layout.partition_date(self.partition_date)}}
                    ],
                }
            }
        bq.insert_job(configuration=configuration, job_id=job_id, project_id=project,
                      location=settings.gcp.bigquery_location).result()
        return {"table": self.table, "partition": self.partition_date, "files": len(uris), "job_id": job_id}


def load_job_configuration(settings: Any, table: str, partition_date: str, source_uris: list[str]) -> dict[str, Any]:
    """The BigQuery load job that replaces one partition (``table$YYYYMMDD``, ``WRITE_TRUNCATE``)."""
    from llmops_factory.warehouse import load_schema, table_spec

    spec = table_spec(table)
    if spec.time_partitioning is None:
        raise TaskInputError(f"table {table!r} is not partitioned; it cannot be loaded by partition")
    decorator = layout.partition_date(partition_date).replace("-", "")
    load: dict[str, Any] = {
        "sourceUris": list(source_uris),
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


@fail_fast
def validate_daily_dataset(ds: str) -> dict[str, Any]:
    """Validate one prepared day: counts reconcile, warehouse = manifest, dead-letter ratio, no PII left.

    Returns the day's summary (the asset event's ``extra``); fails (without retry) with every problem
    and its counts.
    """
    from llmops_factory.dataprep.manifest import DataValidationError, load_manifest, validate_day
    from llmops_factory.dataprep.pii import scan_for_pii
    from llmops_plugins.platform import get_platform

    platform = get_platform()
    settings = platform.settings
    ds = layout.partition_date(ds)
    version = layout.daily_dataset_version(ds)
    folder = platform.storage_root() / layout.dataset(version)
    path = folder / "manifest.json"
    if not path.exists():
        raise TaskInputError(f"{path} does not exist: prepare_dataset did not write the day's manifest")
    manifest = load_manifest(path.read_text(), where=str(path))
    warehouse = platform.warehouse()
    summary = validate_day(
        manifest,
        rows_in_warehouse=warehouse.count("instruction_examples", source_date=ds),
        dead_letter_ratio_max=settings.thresholds.dead_letter_ratio_max,
        min_examples=settings.thresholds.min_examples_per_day,
    ).as_dict()

    examples = warehouse.rows("instruction_examples", ["example_id", "instruction", "input", "output"], source_date=ds)
    texts, owners = [], []
    for row in examples:
        for field in ("instruction", "input", "output"):
            if row.get(field):
                texts.append(str(row[field]))
                owners.append((row["example_id"], field))
    findings = scan_for_pii(texts)
    if findings:
        detail = "; ".join(
            f"example {owners[f.text_index][0]} field {owners[f.text_index][1]}: {f.kind} ({f.masked})"
            for f in findings[:20]
        )
        raise DataValidationError(
            [f"PII left in {len({owners[f.text_index][0] for f in findings})} example(s) after redaction: {detail}"],
            summary,
        )
    summary.update({"ds": ds, "uri": str(folder), "prompt": manifest.get("prompt")})
    log.info("day %s valid: %s", ds, json.dumps(summary, sort_keys=True, default=str))
    return summary
