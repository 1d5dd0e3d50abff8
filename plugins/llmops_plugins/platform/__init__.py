"""The platform adapter of the current target: the one place where the target is chosen.

``get_platform()`` returns :class:`~llmops_plugins.platform.local.LocalPlatform` (``LLMOPS_TARGET=local``,
the default: a folder, DuckDB, MLflow, a local outbox) or :class:`~llmops_plugins.platform.gcp.GcpPlatform`
(GCS, BigQuery, Vertex AI Model Registry / Experiments, Cloud Logging). Both expose the same services:

* ``storage_root()`` — object storage as an ``ObjectStoragePath`` (``file:///…`` or ``gs://bucket``);
* ``warehouse()`` — ``count`` / ``rows`` over the warehouse tables;
* ``registry()`` — one registry model per use case: ``register`` (idempotent), ``set_alias``, ``get_by_alias``,
  ``ensure_serving_version``;
* ``endpoint()`` — the use case's endpoint: ``describe``, ``deploy``, ``undeploy``, ``set_traffic_split``,
  ``predict``, ``logged`` (the local endpoint server / a Vertex AI Endpoint);
* ``tracking_args()`` — the trainer's experiment-tracking flags (MLflow store / Vertex AI Experiments);
* ``notify(message)`` — deliver an on-call message;
* ``api_token(client, base_url)`` — a bearer token for the Airflow REST API;
* ``labels(...)`` — cost-attribution labels for the resources a task creates.

Step bodies receive the platform as an argument; nothing else asks which target it is on.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from llmops_plugins.platform.base import Platform

_ADAPTERS = {
    "local": "llmops_plugins.platform.local:LocalPlatform",
    "gcp": "llmops_plugins.platform.gcp:GcpPlatform",
}


def get_platform(target: str | None = None) -> Platform:
    """The adapter of ``target`` (default: the settings' target), built on the current settings."""
    from llmops_factory.settings import get_settings

    settings = get_settings()
    name = target or settings.target
    module, _, cls = _ADAPTERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(settings)
