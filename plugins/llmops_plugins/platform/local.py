"""The ``local`` platform: one machine, no cloud account, real engines.

Object storage is a folder (``.llmops/storage``), the warehouse a DuckDB file with the same table schemas
as BigQuery, the registry and experiment tracking MLflow's (a SQLite store), on-call messages files in
``.llmops/outbox/``, and the Airflow REST API the local api-server with the simple auth manager.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from llmops_factory import layout
from llmops_plugins.platform.base import Platform, RegisteredVersion


class DuckDBWarehouse:
    """The local warehouse: a DuckDB file with the tables of ``include/llmops_factory/warehouse``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _select(self, table: str, select: str, where: Mapping[str, Any]) -> list[tuple]:
        from llmops_factory.warehouse import duck

        with duck.session(self.path) as conn:
            duck.ensure_tables(conn, [table])
            clause = " AND ".join(f'"{k}" = ?' for k in where) or "TRUE"
            return conn.execute(f'SELECT {select} FROM "{table}" WHERE {clause}', list(where.values())).fetchall()

    def count(self, table: str, **where: Any) -> int:
        return int(self._select(table, "count(*)", where)[0][0])

    def rows(self, table: str, columns: list[str], **where: Any) -> list[dict[str, Any]]:
        found = self._select(table, ", ".join(f'"{c}"' for c in columns), where)
        return [dict(zip(columns, r, strict=True)) for r in found]

    def upsert(self, table: str, rows: list[Mapping[str, Any]]) -> int:
        """Insert ``rows``, replacing rows with the same replace key (a re-run rewrites its own rows)."""
        from llmops_factory.endpoint.logsink import merge_rows
        from llmops_factory.warehouse import duck

        with duck.session(self.path) as conn:
            return merge_rows(conn, table, list(rows))

    def replace_partition(self, table: str, key: Mapping[str, Any], jsonl_files: list[Path]) -> int:
        """Replace the rows of ``key`` with the JSONL files' rows, in one transaction."""
        from llmops_factory.warehouse import duck

        with duck.session(self.path) as conn:
            return duck.replace_rows(conn, table, dict(key), jsonl_files=jsonl_files)


class MlflowRegistry:
    """The use case's model in the local MLflow Model Registry (versions, tags, aliases)."""

    def __init__(self, model_name: str, storage_uri: str, tracking_uri: str) -> None:
        self.model_name = model_name
        self.storage_uri = storage_uri
        self.tracking_uri = tracking_uri

    def _version(self, mv: Any) -> RegisteredVersion:
        return RegisteredVersion(self.model_name, str(mv.version), mv.source, tuple(mv.aliases), dict(mv.tags))

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
        from llmops_factory import registry

        source = layout.join(self.storage_uri, layout.model_merged(model_version))
        version = registry.register_version(
            model_name=self.model_name,
            source_uri=source,
            run_id=run_id,
            idempotency_key=idempotency_key,
            tags={
                "model_version": model_version,
                **{k: json.dumps(v) for k, v in sorted(metrics.items()) if k in ("eval_loss", "base_eval_loss")},
                **tags,
            },
            alias=alias,
            uri=self.tracking_uri,
        )
        return RegisteredVersion(self.model_name, version, source, (alias,))

    def set_alias(self, alias: str, version: str) -> None:
        from llmops_factory import registry

        registry.set_alias(self.model_name, alias, version, uri=self.tracking_uri)

    def get_by_alias(self, alias: str) -> RegisteredVersion | None:
        from llmops_factory import registry

        found = registry.get_version_by_alias(self.model_name, alias, uri=self.tracking_uri)
        if found is None:
            return None
        return RegisteredVersion(self.model_name, found.version, found.source, found.aliases, found.tags)

    def ensure_serving_version(self, model_version: str, prompt_ref: str) -> RegisteredVersion:
        """The registry version of ``model_version`` (registered now if it is missing). Locally the
        endpoint takes the prompt per deployment, so one registry version per set of weights serves every
        prompt; the deployment records the prompt."""
        from mlflow import MlflowClient

        from llmops_factory import registry

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        found = [mv for mv in client.search_model_versions(f"name='{self.model_name}'")
                 if (mv.tags or {}).get("model_version") == model_version]
        if found:
            return self._version(min(found, key=lambda mv: int(mv.version)))
        source = layout.join(self.storage_uri, layout.model_merged(model_version))
        version = registry.register_version(self.model_name, source, None, f"serving:{model_version}",
                                            tags={"model_version": model_version}, alias=None, uri=self.tracking_uri)
        return RegisteredVersion(self.model_name, version, source, ())


class LocalEndpointService:
    """The local endpoint (``python -m llmops_factory.endpoint serve``) over its HTTP admin API.

    The endpoint is a long-lived server like a Vertex AI Endpoint: if it is not answering, the first
    call starts it in its own session (it outlives the task) and waits until it answers.
    """

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.name = settings.use_case
        local = settings.local
        self.url = f"http://{local.endpoint_host}:{local.endpoint_port}"

    def _client(self):
        import httpx

        from llmops_factory.endpoint import EndpointClient, LocalEndpoint, endpoint_dir, read_token

        try:
            httpx.get(f"{self.url}/v1/health", timeout=5.0)
        except httpx.HTTPError:
            LocalEndpoint(self.name, self.settings.local.home, self.settings.local.endpoint_port,
                          host=self.settings.local.endpoint_host, detach=True).start()
        return EndpointClient(self.url, read_token(endpoint_dir(self.settings.local.home, self.name)))

    def describe(self) -> dict[str, Any]:
        with self._client() as client:
            state = client.get()
        models = [{"id": m["id"], "model_version": m["model_version"], "prompt": m["prompt"],
                   "display_name": m["display_name"]} for m in state["deployed_models"]]
        return {"endpoint": self.url, "deployed_models": models, "traffic_split": state["traffic_split"]}

    def deploy(self, release: Any, traffic_split: Mapping[str, int]) -> str:
        with self._client() as client:
            result = client.deploy(release.model_version, release.model_uri, release.prompt_ref,
                                   traffic_split=traffic_split, display_name=release.display_name,
                                   model_name=release.model_name)
        return result["deployed_model"]["id"]

    def undeploy(self, deployed_model_id: str, traffic_split: Mapping[str, int]) -> None:
        with self._client() as client:
            client.undeploy(deployed_model_id, traffic_split)

    def set_traffic_split(self, traffic_split: Mapping[str, int]) -> None:
        with self._client() as client:
            client.set_traffic_split(traffic_split)

    def predict(self, instances: list[Any], parameters: Mapping[str, Any] | None,
                deployed_model_id: str | None = None) -> tuple[int, dict[str, Any]]:
        from llmops_factory.endpoint import EndpointError

        with self._client() as client:
            try:
                return 200, client.predict(instances, parameters, deployed_model_id)
            except EndpointError as exc:
                return exc.status, exc.body

    def logged(self, request_ids: list[int]) -> int | None:
        """How many of ``request_ids`` are in ``prediction_log`` (after flushing the endpoint's buffer)."""
        from llmops_factory.warehouse import duck

        with self._client() as client:
            client.flush()
        with duck.session(self.settings.local.warehouse_path) as conn:
            duck.ensure_tables(conn, ["prediction_log"])
            placeholders = ", ".join("?" for _ in request_ids) or "NULL"
            return int(conn.execute(f"SELECT count(DISTINCT request_id) FROM prediction_log "
                                    f"WHERE request_id IN ({placeholders})", list(request_ids)).fetchone()[0])


class LocalPlatform(Platform):
    target: ClassVar[str] = "local"
    trainer_config: ClassVar[str] = "local-cpu"

    def storage_root(self):
        from airflow.sdk import ObjectStoragePath

        self.settings.local.storage_root.mkdir(parents=True, exist_ok=True)
        return ObjectStoragePath(self.settings.storage_root)

    @property
    def storage_path(self) -> Path:
        """The storage root as a local folder (engines that only read local files use it)."""
        return self.settings.local.storage_root

    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(self.settings.local.warehouse_path)

    def registry(self) -> MlflowRegistry:
        return MlflowRegistry(self.settings.use_case, self.storage_uri, self.settings.local.mlflow_tracking_uri)

    def endpoint(self) -> LocalEndpointService:
        return LocalEndpointService(self.settings)

    def tracking_args(self) -> list[str]:
        uri = self.settings.local.mlflow_tracking_uri
        return ["--tracking", "mlflow", "--tracking_uri", uri, "--experiment_name", self.settings.use_case]

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment of a child process (trainer, base-model build): this one's plus ``extra``."""
        return {**os.environ, "MLFLOW_TRACKING_URI": self.settings.local.mlflow_tracking_uri, **(extra or {})}

    def notify(self, message: Mapping[str, Any]) -> None:
        """Log it, and write it as one e-mail-style file per DAG run and task to ``.llmops/outbox/``
        (a retry overwrites its own message)."""
        super().notify(message)
        outbox = self.settings.local.home / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        key = f"{message.get('dag_id')}__{message.get('run_id')}__{message.get('task_id')}"
        if message.get("map_index") is not None:  # one message per mapped instance
            key += f"__{message['map_index']}"
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".eml"
        fields = {k: v for k, v in message.items() if k not in ("subject", "runbook") and v is not None}
        body = "\n".join(f"{k}: {v}" for k, v in fields.items())
        if message.get("runbook"):  # the runbook paragraphs of the failed task, last and unindented
            body += f"\n\nrunbook:\n{message['runbook']}"
        to = self.settings.alert_email or "oncall@localhost"
        (outbox / name).write_text(f"To: {to}\nSubject: {message.get('subject')}\n\n{body}\n", encoding="utf-8")

    def api_token(self, client: Any, base_url: str) -> str:
        """The simple auth manager's token: open when all users are admins, else its first user's
        generated password from the Airflow home."""
        from airflow.configuration import AIRFLOW_HOME, conf

        if conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False):
            response = client.get(f"{base_url}/auth/token")
        else:
            default = Path(AIRFLOW_HOME) / "simple_auth_manager_passwords.json.generated"
            path = Path(conf.get("core", "simple_auth_manager_passwords_file", fallback="") or default)
            username, password = next(iter(json.loads(path.read_text()).items()))
            response = client.post(f"{base_url}/auth/token", json={"username": username, "password": password})
        response.raise_for_status()
        return response.json()["access_token"]

    # -- monitoring: alert sink ------------------------------------------------------------------
    def publish_alerts(self, rows: list[Mapping[str, Any]]) -> int:
        """The local alert sink: the ``alerts`` table (replaced by id), one e-mail-style message per alert
        in ``.llmops/outbox/alerts/`` (a re-run rewrites its own files), a log line each, and a JSON POST
        to ``monitoring.webhook_url`` when it is set."""
        import logging

        log = logging.getLogger("llmops.alerts")
        if not rows:
            return 0
        self.warehouse().upsert("alerts", list(rows))
        outbox = self.settings.local.home / "outbox" / "alerts"
        outbox.mkdir(parents=True, exist_ok=True)
        to = self.settings.alert_email or "oncall@localhost"
        for row in rows:
            log.warning("LLMOPS_ALERT %s", json.dumps(dict(row), sort_keys=True, default=str))
            subject = f"[{row['severity']}] {row['metric']} {row.get('model_version') or ''}".strip()
            body = "\n".join(f"{k}: {v}" for k, v in row.items() if k != "message")
            (outbox / f"{row['alert_id']}.eml").write_text(
                f"To: {to}\nSubject: {subject}\n\n{row['message']}\n\n{body}\n", encoding="utf-8"
            )
        url = self.settings.monitoring.webhook_url
        if url:
            import httpx

            for row in rows:
                payload = json.loads(json.dumps(dict(row), default=str))
                httpx.post(url, json=payload, timeout=10.0).raise_for_status()
        return len(rows)

    def write_metric_points(self, points: list[Mapping[str, Any]]) -> int:
        """Locally the ``monitoring_metrics`` table is the metric store: nothing more to write."""
        return 0

    def replace_day_metrics(self, day: str, rows: list[Mapping[str, Any]]) -> int:
        """Replace the ``monitoring_metrics`` rows of ``day`` with ``rows`` in one transaction."""
        from llmops_factory.warehouse import duck

        with duck.session(self.settings.local.warehouse_path) as conn:
            duck.ensure_tables(conn, ["monitoring_metrics"])
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute("DELETE FROM monitoring_metrics WHERE metric_date = CAST(? AS DATE)", [day])
                if rows:
                    cols = ["metric_date", "endpoint", "model_version", "prompt_version", "metric", "value", "n",
                            "dag_run_id"]
                    conn.executemany(
                        f"INSERT INTO monitoring_metrics ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                        [[r.get(c) for c in cols] for r in rows],
                    )
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
        return len(rows)

    def query_monitoring(self, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run a monitoring query (``include/llmops_factory/monitoring/sql``) on DuckDB."""
        from llmops_factory.monitoring import sql
        from llmops_factory.warehouse import duck

        with duck.session(self.settings.local.warehouse_path) as conn:
            return sql.run_duckdb(conn, name, params)

    def serving_machine(self) -> dict[str, Any]:
        """What one deployed model's replica runs on (the cost of serving it): this machine."""
        return {"machine_type": self.settings.monitoring.local_machine_type}
