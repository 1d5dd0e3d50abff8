"""The ``gcp`` platform (Cloud Composer): GCS, BigQuery, Vertex AI Model Registry and Experiments.

Every service reads the settings it needs through ``Settings.require`` when a task uses it, so a missing
cloud setting fails that task with a message naming the setting and its variable, never the DAG parse.
The requests built here are checked by the contract tests in ``tests/contract/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from llmops_factory import layout
from llmops_factory.settings import Settings
from llmops_plugins.platform.base import Platform, RegisteredVersion, idempotency_label

#: the serving contract of the trainer/serving image (``python -m llmops_trainer serve``)
SERVING_ROUTES = {"predict_route": "/v1/predict", "health_route": "/v1/health", "port": 8080}


class BigQueryWarehouse:
    """The gcp warehouse: the BigQuery dataset whose tables Terraform creates from the same schemas."""

    def __init__(self, settings: Settings) -> None:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        self.project = settings.require("gcp.project_id")
        self.dataset = settings.gcp.bigquery_dataset
        self.location = settings.gcp.bigquery_location
        self.hook = BigQueryHook(
            gcp_conn_id=settings.gcp.gcp_conn_id, location=self.location, use_legacy_sql=False
        )

    def table(self, name: str) -> str:
        return f"`{self.project}.{self.dataset}.{name}`"

    def _query(self, sql: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
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

    @staticmethod
    def _where(where: Mapping[str, Any]) -> str:
        return " AND ".join(f"CAST({k} AS STRING) = @{k}" for k in where) or "TRUE"

    def count(self, table: str, **where: Any) -> int:
        rows = self._query(f"SELECT COUNT(*) AS n FROM {self.table(table)} WHERE {self._where(where)}", where)
        return int(rows[0]["n"])

    def upsert(self, table: str, rows: list[Mapping[str, Any]]) -> int:
        """Insert ``rows``, replacing rows with the same replace key, in one BigQuery script (a re-run
        rewrites its own rows): ``DELETE`` by key, then ``INSERT`` with typed query parameters."""
        from llmops_factory.warehouse.schemas import table_spec

        spec = table_spec(table)
        statements, params = [], []
        for i, row in enumerate(rows):
            for f in spec.fields:
                value = row.get(f["name"])
                typ = "TIMESTAMP" if str(f["type"]).upper() == "TIMESTAMP" else str(f["type"]).upper()
                typ = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}.get(typ, typ)
                text = value.isoformat() if hasattr(value, "isoformat") else value
                params.append(
                    {
                        "name": f"r{i}_{f['name']}",
                        "parameterType": {"type": typ},
                        "parameterValue": {"value": None if text is None else str(text)},
                    }
                )
            key = " AND ".join(f"{k} = @r{i}_{k}" for k in spec.replace_key)
            cols = ", ".join(spec.column_names)
            values = ", ".join(f"@r{i}_{c}" for c in spec.column_names)
            statements.append(f"DELETE FROM {self.table(table)} WHERE {key};")
            statements.append(f"INSERT INTO {self.table(table)} ({cols}) VALUES ({values});")
        if not statements:
            return 0
        self.hook.insert_job(
            configuration={
                "query": {"query": "\n".join(statements), "useLegacySql": False, "queryParameters": params}
            },
            project_id=self.project,
            location=self.location,
        ).result()
        return len(rows)

    def rows(self, table: str, columns: list[str], **where: Any) -> list[dict[str, Any]]:
        return self._query(
            f"SELECT {', '.join(columns)} FROM {self.table(table)} WHERE {self._where(where)}", where
        )


def model_upload_request(
    settings: Settings,
    model_version: str,
    idempotency_key: str,
    alias: str | None,
    metrics: Mapping[str, Any],
    prompt_ref: str | None = None,
) -> dict[str, Any]:
    """The Vertex AI Model Registry upload body of one trained version (serving contract of the image).

    The container spec is the serving entrypoint (``python -m llmops_trainer serve``) with its routes and
    port; ``AIP_STORAGE_URI`` (the merged weights) is set by Vertex AI from ``artifact_uri``. With
    ``prompt_ref`` the version serves that published prompt bundle (a deployed model is weights + prompt,
    so a prompt-only change is a new version with the same artifact); without it the container serves
    the prompt the model was trained with (its model card).
    """
    bucket = settings.require("gcp.bucket")
    image = settings.gcp.serving_container_uri or settings.require("gcp.training.container_uri")
    env = [
        {"name": "LLMOPS_TARGET", "value": "gcp"},
        {"name": "LLMOPS_MODEL_VERSION", "value": model_version},
        {"name": "LLMOPS_PROMPT_ROOT", "value": f"gs://{bucket}"},
    ]
    labels = {
        "app": "llmops-factory",
        "model_version": re.sub(r"[^a-z0-9_-]", "-", model_version.lower())[:63],
        "idempotency_key": idempotency_label(idempotency_key),
    }
    if prompt_ref:
        env.append({"name": "LLMOPS_PROMPT", "value": prompt_ref})
        labels["prompt"] = re.sub(r"[^a-z0-9_-]", "-", prompt_ref.lower())[:63]
    return {
        "display_name": settings.use_case,
        "artifact_uri": layout.join(f"gs://{bucket}", layout.model_merged(model_version)),
        "description": f"{settings.use_case} {model_version}",
        "version_aliases": [alias] if alias else [],
        "version_description": json.dumps(
            {"model_version": model_version, "metrics": dict(metrics)}, sort_keys=True
        )[:1000],
        "labels": labels,
        "container_spec": {
            "image_uri": image,
            "command": ["python", "-m", "llmops_trainer"],
            "args": ["serve"],
            "predict_route": SERVING_ROUTES["predict_route"],
            "health_route": SERVING_ROUTES["health_route"],
            "ports": [{"container_port": SERVING_ROUTES["port"]}],
            "env": env,
        },
    }


class VertexModelRegistry:
    """The use case's model in Vertex AI Model Registry: one model, a version per training run, aliases."""

    def __init__(self, settings: Settings) -> None:
        from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

        self.settings = settings
        self.project = settings.require("gcp.project_id")
        self.region = settings.gcp.region
        self.hook = ModelServiceHook(gcp_conn_id=settings.gcp.gcp_conn_id)

    def _parent(self) -> str | None:
        """The resource name of the use case's registry model, if it exists."""
        found = list(
            self.hook.list_models(
                project_id=self.project, region=self.region, filter=f'display_name="{self.settings.use_case}"'
            )
        )
        return found[0].name if found else None

    def model_resource(self) -> str | None:
        """``projects/…/locations/…/models/<id>`` of the use case's registry model, None before the first
        upload (what Vertex AI Model Monitoring targets)."""
        return self._parent()

    def register(
        self,
        *,
        model_version: str,
        run_id: str | None,
        idempotency_key: str,
        alias: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> RegisteredVersion:
        body = model_upload_request(self.settings, model_version, idempotency_key, alias, metrics)
        parent = self._parent()
        if parent:
            for version in self.hook.list_model_versions(
                region=self.region, project_id=self.project, model_id=parent.rsplit("/", 1)[-1]
            ):
                if dict(version.labels).get("idempotency_key") == body["labels"]["idempotency_key"]:
                    return RegisteredVersion(parent, str(version.version_id), body["artifact_uri"], (alias,))
        result = self.hook.upload_model(
            project_id=self.project, region=self.region, model=body, parent_model=parent
        ).result()
        return RegisteredVersion(result.model, str(result.model_version_id), body["artifact_uri"], (alias,))

    def set_alias(self, alias: str, version: str) -> None:
        parent = self._parent()
        if parent is None:
            raise LookupError(f"registry model {self.settings.use_case!r} does not exist in {self.region}")
        model_id = parent.rsplit("/", 1)[-1]
        self.hook.add_version_aliases(
            region=self.region,
            project_id=self.project,
            model_id=f"{model_id}@{version}",
            version_aliases=[alias],
        )

    def ensure_serving_version(self, model_version: str, prompt_ref: str) -> RegisteredVersion:
        """The registry version that serves ``model_version`` with ``prompt_ref`` (uploaded if missing):
        the same weights with another prompt is another version, so a prompt-only change deploys like a
        new model."""
        key = f"serving:{model_version}:{prompt_ref}"
        body = model_upload_request(self.settings, model_version, key, None, {}, prompt_ref=prompt_ref)
        parent = self._parent()
        if parent:
            for version in self.hook.list_model_versions(
                region=self.region, project_id=self.project, model_id=parent.rsplit("/", 1)[-1]
            ):
                if dict(version.labels).get("idempotency_key") == body["labels"]["idempotency_key"]:
                    return RegisteredVersion(
                        parent, str(version.version_id), body["artifact_uri"], tuple(version.version_aliases)
                    )
        result = self.hook.upload_model(
            project_id=self.project, region=self.region, model=body, parent_model=parent
        ).result()
        return RegisteredVersion(result.model, str(result.model_version_id), body["artifact_uri"], ())

    def get_by_alias(self, alias: str) -> RegisteredVersion | None:
        from google.api_core.exceptions import NotFound

        parent = self._parent()
        if parent is None:
            return None
        try:
            model = self.hook.get_model(
                region=self.region, project_id=self.project, model_id=f"{parent.rsplit('/', 1)[-1]}@{alias}"
            )
        except NotFound:
            return None
        return RegisteredVersion(
            parent,
            str(model.version_id),
            model.artifact_uri,
            tuple(model.version_aliases),
            dict(model.labels),
        )


def deployed_model_request(
    settings: Settings,
    model_name: str,
    registry_version: str,
    display_name: str,
    machine: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``DeployedModel`` of a Vertex AI DeployModel request: the registry version, its machine and
    accelerator, and the autoscaling range (``machine`` overrides the ``gcp.serving`` settings)."""
    serving = settings.gcp.serving.model_copy(
        update={k: v for k, v in (machine or {}).items() if v not in (None, "", 0)}
    )
    machine_spec: dict[str, Any] = {"machine_type": serving.machine_type}
    if serving.accelerator_type and serving.accelerator_count:
        machine_spec.update(
            accelerator_type=serving.accelerator_type, accelerator_count=serving.accelerator_count
        )
    if serving.max_replica_count < serving.min_replica_count:
        from llmops_factory.errors import TaskInputError

        raise TaskInputError(
            f"max replicas {serving.max_replica_count} < min replicas {serving.min_replica_count}"
        )
    return {
        "model": f"{model_name}@{registry_version}",
        "display_name": display_name[:128],
        "service_account": serving.service_account or settings.require("gcp.service_account"),
        "dedicated_resources": {
            "machine_spec": machine_spec,
            "min_replica_count": serving.min_replica_count,
            "max_replica_count": serving.max_replica_count,
        },
    }


class VertexEndpointService:
    """The use case's Vertex AI Endpoint (Terraform creates it and its logging; the DAGs own its traffic)."""

    def __init__(self, settings: Settings) -> None:
        from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook

        self.settings = settings
        self.project = settings.require("gcp.project_id")
        self.region = settings.gcp.region
        self.display_name = settings.gcp.serving.endpoint_display_name or settings.use_case
        self.hook = EndpointServiceHook(gcp_conn_id=settings.gcp.gcp_conn_id)

    def resource(self) -> Any:
        """The endpoint: ``gcp.endpoint_id`` (Terraform's output), else found by display name; fails naming
        the settings when Terraform has not made it."""
        from llmops_factory.errors import TaskInputError

        endpoint_id = self.settings.gcp.endpoint_id
        if endpoint_id:
            return self.hook.get_endpoint(project_id=self.project, region=self.region, endpoint=endpoint_id)
        found = list(
            self.hook.list_endpoints(
                project_id=self.project, region=self.region, filter=f'display_name="{self.display_name}"'
            )
        )
        if not found:
            raise TaskInputError(
                f"no Vertex AI Endpoint named {self.display_name!r} in {self.project}/{self.region}: apply the "
                "Terraform environment (it creates the endpoint) and set gcp.endpoint_id (LLMOPS_GCP__ENDPOINT_ID), "
                "or set gcp.serving.endpoint_display_name"
            )
        return found[0]

    @property
    def endpoint_id(self) -> str:
        return self.resource().name.rsplit("/", 1)[-1]

    def describe(self) -> dict[str, Any]:
        endpoint = self.resource()
        models = []
        for m in endpoint.deployed_models:
            version, _, prompt = str(m.display_name).partition("+")
            models.append(
                {
                    "id": str(m.id),
                    "model_version": version,
                    "prompt": prompt,
                    "display_name": str(m.display_name),
                }
            )
        return {
            "endpoint": endpoint.name,
            "deployed_models": models,
            "traffic_split": {str(k): int(v) for k, v in dict(endpoint.traffic_split).items()},
        }

    def undeploy(self, deployed_model_id: str, traffic_split: Mapping[str, int]) -> None:
        self.hook.undeploy_model(
            project_id=self.project,
            region=self.region,
            endpoint=self.endpoint_id,
            deployed_model_id=deployed_model_id,
            traffic_split=dict(traffic_split),
        ).result()

    def set_traffic_split(self, traffic_split: Mapping[str, int]) -> None:
        endpoint = self.resource()
        self.hook.update_endpoint(
            project_id=self.project,
            region=self.region,
            endpoint_id=endpoint.name.rsplit("/", 1)[-1],
            endpoint={"name": endpoint.name, "traffic_split": dict(traffic_split)},
            update_mask={"paths": ["traffic_split"]},
        )

    def predict(
        self, instances: list[Any], parameters: Mapping[str, Any] | None, deployed_model_id: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One online prediction through the endpoint (Vertex AI routes by its split: a public endpoint
        cannot be asked for one deployed model, so ``deployed_model_id`` only labels the expectation)."""
        from airflow.providers.google.cloud.hooks.vertex_ai.prediction_service import PredictionServiceHook
        from google.api_core.exceptions import GoogleAPICallError
        from google.protobuf.json_format import MessageToDict

        hook = PredictionServiceHook(gcp_conn_id=self.settings.gcp.gcp_conn_id)
        try:
            response = hook.predict(
                endpoint_id=self.endpoint_id,
                instances=list(instances),
                location=self.region,
                project_id=self.project,
                parameters=dict(parameters or {}),
            )
        except GoogleAPICallError as exc:
            return int(getattr(exc, "code", 500) or 500), {"error": {"message": str(exc)}}
        body = MessageToDict(response._pb) if hasattr(response, "_pb") else dict(response)
        return 200, body

    def logged(self, request_ids: list[int]) -> int | None:
        """Vertex AI writes request-response logs to BigQuery asynchronously: not checkable right away."""
        return None


class GcpPlatform(Platform):
    target: ClassVar[str] = "gcp"
    trainer_config: ClassVar[str] = "a100"

    def storage_root(self):
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(self.settings.storage_root, conn_id=self.settings.gcp.gcp_conn_id)

    def warehouse(self) -> BigQueryWarehouse:
        return BigQueryWarehouse(self.settings)

    def registry(self) -> VertexModelRegistry:
        return VertexModelRegistry(self.settings)

    def endpoint(self) -> VertexEndpointService:
        return VertexEndpointService(self.settings)

    def container_env(self) -> dict[str, str]:
        """The settings a job container of this project needs to find its way on gcp."""
        project, bucket = self.settings.require("gcp.project_id", "gcp.bucket")
        return {
            "LLMOPS_TARGET": "gcp",
            "LLMOPS_GCP__PROJECT_ID": project,
            "LLMOPS_GCP__REGION": self.settings.gcp.region,
            "LLMOPS_GCP__BUCKET": bucket,
        }

    def tracking_args(self) -> list[str]:
        return ["--tracking", "vertex", "--experiment_name", self.settings.use_case]

    def api_token(self, client: Any, base_url: str) -> str:
        """Google credentials of the environment's service account (Cloud Composer accepts them)."""
        import google.auth
        from google.auth.transport.requests import Request

        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(Request())
        return credentials.token

    # -- monitoring: serving price key, metric writes and alert sink ------------------------------
    def serving_machine(self) -> Any:
        """What one deployed model's replicas cost: machine, accelerator and minimum replicas of
        ``gcp.serving`` (the deployment's spec), priced by ``prices``."""
        from llmops_factory.monitoring.cost import ServingMachine

        serving = self.settings.gcp.serving
        return ServingMachine(
            serving.machine_type,
            serving.accelerator_type or "NONE",
            serving.accelerator_count,
            serving.min_replica_count,
        )

    def write_metric_points(self, points: list[Mapping[str, Any]]) -> int:
        """Cloud Monitoring custom metrics: one ``create_time_series`` call (in chunks of 200, the API's
        limit) with a GAUGE point per metric, model version and day. Metric types and label keys are
        the catalogue's (``llmops_factory/observability/metrics.yaml``), the ones Terraform alerts on."""
        from google.cloud import monitoring_v3

        series = [time_series_request(p) for p in points]
        if not series:
            return 0
        client = monitoring_v3.MetricServiceClient(credentials=self._credentials())
        name = f"projects/{self.settings.require('gcp.project_id')}"
        for i in range(0, len(series), 200):
            client.create_time_series(name=name, time_series=series[i : i + 200])
        return len(series)

    def _credentials(self):
        from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

        return GoogleBaseHook(gcp_conn_id=self.settings.gcp.gcp_conn_id).get_credentials()

    def publish_alerts(self, rows: list[Mapping[str, Any]]) -> int:
        """The ``alerts`` BigQuery table (replaced by id); notification is Cloud Monitoring's, through the
        alert policies Terraform sets on the metric points."""
        if rows:
            self.warehouse().upsert("alerts", list(rows))
        return len(rows)

    def replace_day_metrics(self, day: str, rows: list[Mapping[str, Any]]) -> int:
        """Replace the day's ``monitoring_metrics`` rows in one BigQuery script (DELETE the day, INSERT
        the rows with typed parameters), so a re-run or backfill rewrites exactly its day."""
        warehouse = self.warehouse()
        job = monitoring_metrics_job(warehouse.table("monitoring_metrics"), day, rows)
        warehouse.hook.insert_job(
            configuration=job, project_id=warehouse.project, location=warehouse.location
        ).result()
        return len(rows)

    def query_monitoring(self, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run a monitoring query (the BigQuery text of ``include/llmops_factory/monitoring/sql``)."""
        from llmops_factory.monitoring import sql

        warehouse = self.warehouse()
        text = sql.bigquery(name, {t: warehouse.table(t) for t in sql.TABLES})
        job = warehouse.hook.insert_job(
            configuration={
                "query": {
                    "query": text,
                    "useLegacySql": False,
                    "parameterMode": "NAMED",
                    "queryParameters": sql.bigquery_parameters(params),
                }
            },
            project_id=warehouse.project,
            location=warehouse.location,
        )
        return [dict(row.items()) for row in job.result()]


def time_series_request(point: Mapping[str, Any]) -> dict[str, Any]:
    """The ``TimeSeries`` of one monitoring point (``metric``, ``value``, ``labels``, ``end_time``)."""
    from llmops_factory import observability

    metric = observability.metric(point["metric"])
    value = point["value"]
    typed = {"int64_value": int(value)} if metric.value_type == "INT64" else {"double_value": float(value)}
    end = point["end_time"]
    return {
        "metric": {"type": metric.type, "labels": observability.point_labels(**point["labels"])},
        "resource": {
            "type": observability.catalogue().monitored_resource,
            "labels": {"project_id": point["project_id"]},
        },
        "metric_kind": metric.kind,
        "value_type": metric.value_type,
        "points": [{"interval": {"end_time": {"seconds": int(end.timestamp())}}, "value": typed}],
    }


def monitoring_metrics_job(table: str, day: str, rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The BigQuery job that replaces one day of ``monitoring_metrics``."""
    columns = {
        "metric_date": "DATE",
        "endpoint": "STRING",
        "model_version": "STRING",
        "prompt_version": "STRING",
        "metric": "STRING",
        "value": "FLOAT64",
        "n": "INT64",
        "dag_run_id": "STRING",
    }
    params = [{"name": "day", "parameterType": {"type": "DATE"}, "parameterValue": {"value": day}}]
    values = []
    for i, row in enumerate(rows):
        for c, typ in columns.items():
            v = row.get(c)
            params.append(
                {
                    "name": f"r{i}_{c}",
                    "parameterType": {"type": typ},
                    "parameterValue": {"value": None if v is None else str(v)},
                }
            )
        values.append("(" + ", ".join(f"@r{i}_{c}" for c in columns) + ")")
    statements = [f"DELETE FROM {table} WHERE metric_date = @day;"]
    if values:
        statements.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(values)};")
    return {
        "query": {
            "query": "BEGIN TRANSACTION;\n" + "\n".join(statements) + "\nCOMMIT TRANSACTION;",
            "useLegacySql": False,
            "parameterMode": "NAMED",
            "queryParameters": params,
        }
    }
