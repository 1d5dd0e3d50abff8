"""What every platform adapter provides (see :mod:`llmops_plugins.platform`)."""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from llmops_factory.layout import run_id_hash
from llmops_factory.settings import Settings

log = logging.getLogger("llmops.platform")


class Warehouse(Protocol):
    def count(self, table: str, **where: Any) -> int: ...

    def rows(self, table: str, columns: list[str], **where: Any) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version in the target's registry."""

    model_name: str
    version: str
    uri: str
    aliases: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


class ModelRegistry(Protocol):
    def register(
        self,
        *,
        model_version: str,
        run_id: str | None,
        idempotency_key: str,
        alias: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> RegisteredVersion: ...

    def set_alias(self, alias: str, version: str) -> None: ...

    def get_by_alias(self, alias: str) -> RegisteredVersion | None: ...


def clean_label(value: Any) -> str:
    """A Google Cloud label value: lowercase, ``[a-z0-9_-]``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]


def idempotency_label(idempotency_key: str) -> str:
    return hashlib.sha1(idempotency_key.encode()).hexdigest()[:40]


class Platform(abc.ABC):
    """Shared behaviour of both adapters; each subclass fills in its services."""

    target: ClassVar[str]
    #: the trainer configuration file (``trainer/configs/<name>.yaml``) this target trains with
    trainer_config: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- storage ---------------------------------------------------------------------------------
    @property
    def storage_uri(self) -> str:
        return self.settings.storage_root

    @abc.abstractmethod
    def storage_root(self):
        """Object storage root as an ``ObjectStoragePath``."""

    @abc.abstractmethod
    def warehouse(self) -> Warehouse:
        """The warehouse client."""

    @abc.abstractmethod
    def registry(self) -> ModelRegistry:
        """The use case's model registry."""

    @abc.abstractmethod
    def endpoint(self) -> Any:
        """The use case's endpoint: ``describe``, ``deploy``, ``undeploy``, ``set_traffic_split``,
        ``predict`` and ``logged`` (the local endpoint server / a Vertex AI Endpoint)."""

    @abc.abstractmethod
    def tracking_args(self) -> list[str]:
        """The trainer's experiment-tracking flags."""

    @abc.abstractmethod
    def api_token(self, client: Any, base_url: str) -> str:
        """A bearer token for the Airflow REST API at ``base_url``."""

    def uri(self, relative: str) -> str:
        """A layout path as a full URI under the storage root (absolute paths and URIs pass through)."""
        from llmops_factory import layout

        if "://" in relative or relative.startswith("/"):
            return relative
        return layout.join(self.storage_uri, relative)

    # -- cost attribution ------------------------------------------------------------------------
    def labels(self, context: Mapping[str, Any], **extra: str) -> dict[str, str]:
        base = {
            "app": "llmops-factory",
            "environment": self.settings.environment,
            "dag_id": context["dag"].dag_id,
            "task_id": context["task"].task_id,
            "run_id_hash": run_id_hash(context["run_id"]),
            **extra,
        }
        return {clean_label(k): clean_label(v) for k, v in base.items()}

    # -- on-call ---------------------------------------------------------------------------------
    def notify(self, message: Mapping[str, Any]) -> None:
        """Every target logs the message as one structured line (Cloud Logging matches it on gcp)."""
        log.error("LLMOPS_TASK_FAILED %s", json.dumps(dict(message), sort_keys=True, default=str))
