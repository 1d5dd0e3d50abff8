"""Flattened numeric features of logged prompts, for tabular drift monitoring.

Vertex AI Model Monitoring (v2) watches tabular features only, so every logged prompt is turned into a
fixed row of numbers (:data:`FEATURES`):

* ``prompt_chars`` and ``prompt_words`` — the length of the user's text (characters, whitespace words);
* ``emb_pc01`` … ``emb_pc08`` — the prompt's all-MiniLM-L6-v2 embedding projected on the first eight
  principal components of the **training reference**: a PCA (scikit-learn) fitted once on the champion's
  training-snapshot prompts and stored beside the reference features (:class:`Projection`, a JSON file),
  so every later day is projected on the same axes and days stay comparable;
* ``emb_center_cos`` and ``emb_residual`` — from the same stored projection: the cosine of the
  embedding to the reference's centroid, and the length of what the eight components leave unexplained
  (the PCA reconstruction error). Prompts unlike the training data move these two most: a new topic may
  sit anywhere on the in-domain axes, but it lies farther from the centroid and outside the subspace.

The training reference gets the same features from the same text function, and
:func:`feature_drift` compares a day with the reference per feature: the Jensen-Shannon divergence
(``scipy.spatial.distance.jensenshannon``, base 2, squared: 0 = same distribution, 1 = disjoint) of
the two histograms over the reference's quantile bins — the metric Vertex AI Model Monitoring computes
for numeric features (``jensen_shannon_divergence``), so one threshold means the same on both targets.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from llmops_factory.errors import DeterministicError

#: principal components kept (the warehouse schemas have one column each: change them together)
COMPONENTS = 8
LENGTH_FEATURES = ("prompt_chars", "prompt_words")
EMBEDDING_FEATURES = tuple(f"emb_pc{i:02d}" for i in range(1, COMPONENTS + 1))
#: where a prompt lies against the reference as a whole: cosine to its centroid, and the distance left
#: outside the principal components (a PCA reconstruction error: high for prompts unlike the reference)
NOVELTY_FEATURES = ("emb_center_cos", "emb_residual")
FEATURES = LENGTH_FEATURES + EMBEDDING_FEATURES + NOVELTY_FEATURES
#: bump when the feature definitions change: a new version is a new reference (never mixed with old days)
ALGORITHM = "pca8-v1"
MIN_REFERENCE = 20
MIN_CURRENT = 10

Embedder = Callable[[Sequence[str]], np.ndarray]


class FeatureError(ValueError, DeterministicError):
    """Prompts or a stored projection cannot give features; the message names the record or file."""


@dataclasses.dataclass(frozen=True)
class Projection:
    """The fixed linear map from a 384-d prompt embedding to :data:`EMBEDDING_FEATURES` (a fitted PCA)."""

    reference_id: str
    embedding_model: str
    mean: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]
    explained_variance_ratio: tuple[float, ...]
    n_fitted: int
    fitted_date: str

    def apply(self, embeddings: np.ndarray) -> np.ndarray:
        """One row per embedding: the :data:`COMPONENTS` coordinates, then :data:`NOVELTY_FEATURES`."""
        x = np.asarray(embeddings, dtype=np.float64)
        mean = np.asarray(self.mean, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != mean.shape[0]:
            raise FeatureError(
                f"projection {self.reference_id}: embeddings of shape {x.shape} do not match its "
                f"{mean.shape[0]} dimensions"
            )
        components = np.asarray(self.components, dtype=np.float64)
        centred = x - mean
        coordinates = centred @ components.T
        residual = np.linalg.norm(centred - coordinates @ components, axis=1)
        norms = np.linalg.norm(x, axis=1) * (np.linalg.norm(mean) or 1.0)
        center_cos = (x @ mean) / np.where(norms > 0, norms, 1.0)
        return np.column_stack([coordinates, center_cos, residual])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, where: str) -> Projection:
        try:
            data = json.loads(text)
            found = cls(
                reference_id=str(data["reference_id"]),
                embedding_model=str(data["embedding_model"]),
                mean=tuple(float(v) for v in data["mean"]),
                components=tuple(tuple(float(v) for v in row) for row in data["components"]),
                explained_variance_ratio=tuple(float(v) for v in data["explained_variance_ratio"]),
                n_fitted=int(data["n_fitted"]),
                fitted_date=str(data["fitted_date"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise FeatureError(f"{where}: not a feature projection ({type(exc).__name__}: {exc})") from None
        if len(found.components) != COMPONENTS or any(len(r) != len(found.mean) for r in found.components):
            raise FeatureError(
                f"{where}: expected {COMPONENTS} components of {len(found.mean)} values, "
                f"got {[len(r) for r in found.components]}"
            )
        return found


def reference_id(snapshot_version: str) -> str:
    """The reference of a training snapshot under this feature algorithm."""
    if not snapshot_version or "/" in snapshot_version:
        raise FeatureError(f"invalid snapshot version {snapshot_version!r} for a feature reference")
    return f"{snapshot_version}-{ALGORITHM}"


def fit_projection(
    embeddings: np.ndarray, *, reference: str, embedding_model: str, fitted_date: str
) -> Projection:
    """A PCA of the reference prompts' embeddings, kept as a plain JSON-able projection."""
    from sklearn.decomposition import PCA

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) < MIN_REFERENCE:
        raise FeatureError(
            f"reference {reference}: a projection needs at least {MIN_REFERENCE} prompt embeddings, "
            f"got {0 if x.ndim != 2 else len(x)}"
        )
    pca = PCA(n_components=COMPONENTS, svd_solver="full").fit(x)
    return Projection(
        reference_id=reference,
        embedding_model=embedding_model,
        mean=tuple(float(v) for v in pca.mean_),
        components=tuple(tuple(float(v) for v in row) for row in pca.components_),
        explained_variance_ratio=tuple(float(v) for v in pca.explained_variance_ratio_),
        n_fitted=len(x),
        fitted_date=fitted_date,
    )


def feature_rows(
    texts: Sequence[str], projection: Projection, embed: Embedder, *, ids: Sequence[Any] | None = None
) -> list[dict[str, float]]:
    """One feature row per text (the order of ``texts``). An empty or non-text prompt fails, naming
    its id: a prompt with no text has no features, and dropping it would bias the day."""
    ids = list(ids) if ids is not None else list(range(len(texts)))
    if len(ids) != len(texts):
        raise FeatureError(f"{len(ids)} ids for {len(texts)} prompts")
    for key, text in zip(ids, texts, strict=True):
        if not isinstance(text, str) or not text.strip():
            raise FeatureError(f"prompt {key!r} has no text ({text!r}): no features can be computed")
    if not texts:
        return []
    projected = projection.apply(embed(list(texts)))
    rows = []
    for text, values in zip(texts, projected, strict=True):
        row = {"prompt_chars": float(len(text)), "prompt_words": float(len(text.split()))}
        names = EMBEDDING_FEATURES + NOVELTY_FEATURES
        row.update({name: float(v) for name, v in zip(names, values, strict=True)})
        rows.append(row)
    return rows


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    """Per-feature Jensen-Shannon divergence of a day against the reference."""

    divergence: dict[str, float]
    threshold: float
    n_reference: int
    n_current: int

    @property
    def drifted(self) -> list[str]:
        return sorted(
            (f for f, v in self.divergence.items() if v > self.threshold),
            key=lambda f: -self.divergence[f],
        )

    def to_dict(self) -> dict[str, Any]:
        top = max(self.divergence, key=self.divergence.get) if self.divergence else None
        return {
            "divergence": dict(self.divergence),
            "threshold": self.threshold,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted": self.drifted,
            "max_feature": top,
            "max_divergence": self.divergence[top] if top else None,
        }


def js_divergence(reference: Sequence[float], current: Sequence[float], *, bins: int = 10) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two samples' histograms over the reference's
    quantile bins (open-ended outer bins, so no current value falls outside)."""
    from scipy.spatial.distance import jensenshannon

    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if len(ref) == 0 or len(cur) == 0:
        raise FeatureError(f"a divergence needs values on both sides, got {len(ref)} and {len(cur)}")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    p = np.histogram(ref, bins=edges)[0].astype(np.float64)
    q = np.histogram(cur, bins=edges)[0].astype(np.float64)
    distance = float(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    return 0.0 if math.isnan(distance) else distance**2


def feature_drift(
    reference: Sequence[Mapping[str, Any]],
    current: Sequence[Mapping[str, Any]],
    *,
    threshold: float,
    bins: int = 10,
) -> FeatureDrift:
    """Compare the day's feature rows with the reference's, feature by feature. A row missing a feature
    or holding a non-number fails, naming the row and the feature."""
    if len(reference) < MIN_REFERENCE or len(current) < MIN_CURRENT:
        raise FeatureError(
            f"feature drift needs at least {MIN_REFERENCE} reference and {MIN_CURRENT} current rows, "
            f"got {len(reference)} and {len(current)}"
        )
    columns = {side: _columns(rows, side) for side, rows in (("reference", reference), ("current", current))}
    divergence = {
        f: round(js_divergence(columns["reference"][f], columns["current"][f], bins=bins), 6)
        for f in FEATURES
    }
    return FeatureDrift(divergence, threshold, len(reference), len(current))


def _columns(rows: Sequence[Mapping[str, Any]], side: str) -> dict[str, np.ndarray]:
    out = {}
    for f in FEATURES:
        values = []
        for i, row in enumerate(rows):
            value = row.get(f)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                key = row.get("request_id", row.get("example_id", f"#{i}"))
                raise FeatureError(f"{side} feature row {key}: {f} is {value!r}, not a finite number")
            values.append(float(value))
        out[f] = np.asarray(values)
    return out


def day_of(value: _dt.datetime | str) -> str:
    return value if isinstance(value, str) else value.strftime("%Y-%m-%d")
