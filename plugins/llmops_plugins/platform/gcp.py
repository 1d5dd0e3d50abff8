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
        self.hook = BigQueryHook(gcp_conn_id=settings.gcp.gcp_conn_id, location=self.location, use_legacy_sql=False)

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

    def rows(self, table: str, columns: list[str], **where: Any) -> list[dict[str, Any]]:
        return self._query(f"SELECT {', '.join(columns)} FROM {self.table(table)} WHERE {self._where(where)}", where)


def model_upload_request(
    settings: Settings, model_version: str, idempotency_key: str, alias: str, metrics: Mapping[str, Any]
) -> dict[str, Any]:
    """The Vertex AI Model Registry upload body of one trained version (serving contract of the image)."""
    bucket = settings.require("gcp.bucket")
    image = settings.gcp.serving_container_uri or settings.require("gcp.training.container_uri")
    return {
        "display_name": settings.use_case,
        "artifact_uri": layout.join(f"gs://{bucket}", layout.model_merged(model_version)),
        "description": f"{settings.use_case} {model_version}",
        "version_aliases": [alias],
        "version_description": json.dumps({"model_version": model_version, "metrics": dict(metrics)},
                                          sort_keys=True)[:1000],
        "labels": {
            "app": "llmops-factory",
            "model_version": re.sub(r"[^a-z0-9_-]", "-", model_version.lower())[:63],
            "idempotency_key": idempotency_label(idempotency_key),
        },
        "container_spec": {
            "image_uri": image,
            "command": ["python", "-m", "llmops_trainer"],
            "args": ["serve"],
            "predict_route": SERVING_ROUTES["predict_route"],
            "health_route": SERVING_ROUTES["health_route"],
            "ports": [{"container_port": SERVING_ROUTES["port"]}],
            "env": [{"name": "LLMOPS_MODEL_VERSION", "value": model_version}],
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
        found = list(self.hook.list_models(project_id=self.project, region=self.region,
                                           filter=f'display_name="{self.settings.use_case}"'))
        return found[0].name if found else None

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
            for version in self.hook.list_model_versions(region=self.region, project_id=self.project,
                                                         model_id=parent.rsplit("/", 1)[-1]):
                if dict(version.labels).get("idempotency_key") == body["labels"]["idempotency_key"]:
                    return RegisteredVersion(parent, str(version.version_id), body["artifact_uri"], (alias,))
        result = self.hook.upload_model(project_id=self.project, region=self.region, model=body,
                                        parent_model=parent).result()
        return RegisteredVersion(result.model, str(result.model_version_id), body["artifact_uri"], (alias,))

    def set_alias(self, alias: str, version: str) -> None:
        parent = self._parent()
        if parent is None:
            raise LookupError(f"registry model {self.settings.use_case!r} does not exist in {self.region}")
        model_id = parent.rsplit("/", 1)[-1]
        self.hook.add_version_aliases(region=self.region, project_id=self.project,
                                      model_id=f"{model_id}@{version}", version_aliases=[alias])

    def get_by_alias(self, alias: str) -> RegisteredVersion | None:
        from google.api_core.exceptions import NotFound

        parent = self._parent()
        if parent is None:
            return None
        try:
            model = self.hook.get_model(region=self.region, project_id=self.project,
                                        model_id=f"{parent.rsplit('/', 1)[-1]}@{alias}")
        except NotFound:
            return None
        return RegisteredVersion(parent, str(model.version_id), model.artifact_uri,
                                 tuple(model.version_aliases), dict(model.labels))


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

    def tracking_args(self) -> list[str]:
        return ["--tracking", "vertex", "--experiment_name", self.settings.use_case]

    def api_token(self, client: Any, base_url: str) -> str:
        """Google credentials of the environment's service account (Cloud Composer accepts them)."""
        import google.auth
        from google.auth.transport.requests import Request

        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(Request())
        return credentials.token
