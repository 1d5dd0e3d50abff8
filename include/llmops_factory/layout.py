"""The fixed storage layout, relative to the bucket (gcp) or the local storage root (local).

Every stage builds its paths here, so a retry or a backfill writes exactly what it owns and the layout
is the same on both targets (ARCHITECTURE.md, "Storage layout"). Functions return POSIX-style relative
paths without a leading slash; join them onto a root with ``join``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=@+-]*$")


class LayoutError(ValueError):
    """A path segment is not safe to use in the storage layout."""


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not _SAFE_SEGMENT.match(value) or ".." in value:
        raise LayoutError(
            f"{what}={value!r} is not a valid storage path segment "
            "(letters, digits and . _ = @ + - only, not starting with a symbol)"
        )
    return value


def partition_date(ds: str | _dt.date) -> str:
    """Normalise a data-interval date (``YYYY-MM-DD`` or a ``date``) and validate it."""
    if isinstance(ds, _dt.date):
        return ds.isoformat()
    try:
        return _dt.date.fromisoformat(ds).isoformat()
    except (TypeError, ValueError) as exc:
        raise LayoutError(f"ds={ds!r} is not a YYYY-MM-DD date") from exc


def date_range(start: str | _dt.date, end: str | _dt.date) -> list[str]:
    """Every date from ``start`` to ``end`` inclusive, as ``YYYY-MM-DD`` (a backfill's partitions)."""
    first = _dt.date.fromisoformat(partition_date(start))
    last = _dt.date.fromisoformat(partition_date(end))
    if last < first:
        raise LayoutError(f"end date {partition_date(end)} is before start date {partition_date(start)}")
    return [(first + _dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def raw_partition(source: str, ds: str | _dt.date) -> str:
    """``raw/<source>/dt=YYYY-MM-DD/``: one day of one raw source."""
    return f"raw/{_segment(source, 'source')}/dt={partition_date(ds)}/"


def raw_root() -> str:
    return "raw/"


def dataset(dataset_version: str) -> str:
    return f"datasets/{_segment(dataset_version, 'dataset_version')}/"


def dataset_split(dataset_version: str, split: str) -> str:
    if split not in ("train", "eval"):
        raise LayoutError(f"split={split!r} must be 'train' or 'eval'")
    return f"{dataset(dataset_version)}{split}/"


def dataset_dead_letter(dataset_version: str) -> str:
    return f"{dataset(dataset_version)}dead_letter/"


def daily_dataset_version(ds: str | _dt.date) -> str:
    """The dataset version owned by one daily data-preparation run: ``daily-YYYY-MM-DD``."""
    return f"daily-{partition_date(ds)}"


def prompt_bundle(name: str, version: str) -> str:
    return f"prompts/{_segment(name, 'prompt name')}/{_segment(version, 'prompt version')}/"


def prompt_alias(name: str, alias: str) -> str:
    return f"prompts/{_segment(name, 'prompt name')}/aliases/{_segment(alias, 'alias')}.json"


def model(model_version: str) -> str:
    return f"models/{_segment(model_version, 'model_version')}/"


def model_adapter(model_version: str) -> str:
    return f"{model(model_version)}adapter/"


def model_merged(model_version: str) -> str:
    return f"{model(model_version)}merged/"


def base_model(name: str) -> str:
    return f"models/base/{_segment(name, 'base model name')}/"


def eval_dir(model_version: str) -> str:
    return f"eval/{_segment(model_version, 'model_version')}/"


def report(*parts: str) -> str:
    return "reports/" + "/".join(_segment(p, "report path part") for p in parts)


def prompt_features(ds: str | _dt.date) -> str:
    """``monitoring/features/dt=YYYY-MM-DD/``: one day's prompt features (loaded into ``prompt_features``)."""
    return f"monitoring/features/dt={partition_date(ds)}/"


def feature_reference(reference_id: str) -> str:
    """``monitoring/features/reference/<reference_id>/``: a training reference's projection and features."""
    return f"monitoring/features/reference/{_segment(reference_id, 'reference_id')}/"


def join(root: str, relative: str) -> str:
    """Join a root URI or folder (``gs://bucket``, ``file:///x``, ``/x``) and a layout path."""
    return root.rstrip("/") + "/" + relative.lstrip("/")


def run_id_hash(run_id: str) -> str:
    """A short, stable, label-safe digest of a DAG run id (model versions, job labels, job ids)."""
    return hashlib.sha1(str(run_id).encode()).hexdigest()[:12]
