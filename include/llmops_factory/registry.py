"""Local model registry on MLflow: versions with lineage tags, aliases, idempotent registration.

The gcp target uses Vertex AI Model Registry with the same model identity (one registered model per use
case, a version per training run, aliases ``candidate`` / ``challenger`` / ``champion``). Here a version's
``source`` is the merged model folder (``models/<version>/merged`` under the storage root) and its tags
carry the lineage (dataset snapshot, prompt, base model, DAG run).

``register_version`` is idempotent: the caller passes a key that identifies the training run (the DAG run
id plus the sweep index); a second call with the same key returns the version the first call created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

IDEMPOTENCY_TAG = "llmops.idempotency_key"
ALIASES = ("candidate", "challenger", "champion")


class RegistryError(RuntimeError):
    """A registry lookup or update failed; the message names the model, version or alias."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version."""

    name: str
    version: str
    source: str
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the local store: a SQLite file in the MLflow folder."""
    explicit = os.environ.get("MLFLOW_TRACKING_URI")
    if explicit:
        return explicit
    from llmops_factory.settings import get_settings

    folder = get_settings().local.mlflow_dir
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _client(uri: str | None = None):
    from mlflow import MlflowClient

    uri = uri or tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _to_version(mv: Any) -> ModelVersion:
    return ModelVersion(
        name=mv.name,
        version=str(mv.version),
        source=mv.source,
        run_id=mv.run_id or None,
        tags=dict(mv.tags or {}),
        aliases=tuple(getattr(mv, "aliases", None) or ()),
    )


def _quote(value: str) -> str:
    if "'" in value:
        raise RegistryError(f"value {value!r} must not contain a single quote")
    return f"'{value}'"


def find_by_idempotency_key(
    model_name: str, idempotency_key: str, uri: str | None = None
) -> ModelVersion | None:
    """The version registered with this key, if any."""
    client = _client(uri)
    found = client.search_model_versions(
        f"name={_quote(model_name)} and tags.`{IDEMPOTENCY_TAG}`={_quote(idempotency_key)}"
    )
    if not found:
        return None
    return _to_version(min(found, key=lambda mv: int(mv.version)))


def register_version(
    model_name: str,
    source_uri: str,
    run_id: str | None,
    idempotency_key: str,
    tags: Mapping[str, Any] | None = None,
    alias: str | None = "candidate",
    uri: str | None = None,
) -> str:
    """Register ``source_uri`` as a new version of ``model_name`` and point ``alias`` at it.

    A call with an ``idempotency_key`` that was already registered returns that version (and re-points
    the alias at it) instead of creating a second one. Returns the version number as a string.
    """
    from mlflow.exceptions import MlflowException

    if not idempotency_key:
        raise RegistryError("register_version needs a non-empty idempotency_key (DAG run id + sweep index)")
    if alias is not None and alias not in ALIASES:
        raise RegistryError(f"alias {alias!r} is not one of {', '.join(ALIASES)}")
    client = _client(uri)
    existing = find_by_idempotency_key(model_name, idempotency_key, uri)
    if existing is not None:
        version = existing.version
    else:
        try:
            client.create_registered_model(model_name)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        all_tags[IDEMPOTENCY_TAG] = idempotency_key
        created = client.create_model_version(model_name, source=source_uri, run_id=run_id, tags=all_tags)
        version = str(created.version)
    if alias is not None:
        client.set_registered_model_alias(model_name, alias, version)
    return version


def set_alias(model_name: str, alias: str, version: str, uri: str | None = None) -> None:
    """Point ``alias`` at ``version`` (moving it from any other version)."""
    from mlflow.exceptions import MlflowException

    if alias not in ALIASES:
        raise RegistryError(f"alias {alias!r} is not one of {', '.join(ALIASES)}")
    try:
        _client(uri).set_registered_model_alias(model_name, alias, str(version))
    except MlflowException as exc:
        raise RegistryError(
            f"cannot set alias {alias!r} of {model_name} to version {version}: {exc}"
        ) from exc


def get_version_by_alias(model_name: str, alias: str, uri: str | None = None) -> ModelVersion | None:
    """The version ``alias`` points at, or ``None`` when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(uri).get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise
    return _to_version(mv)


def list_versions(model_name: str, uri: str | None = None) -> list[ModelVersion]:
    """Every version of ``model_name``, oldest first (empty when the model does not exist)."""
    found = _client(uri).search_model_versions(f"name={_quote(model_name)}")
    return sorted((_to_version(mv) for mv in found), key=lambda v: int(v.version))
