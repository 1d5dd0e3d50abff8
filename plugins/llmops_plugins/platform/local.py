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
