"""Drift math on controlled embeddings (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from llmops_factory.monitoring import drift


def _cloud(rng, n, shift=0.0, dim=16):
    x = rng.normal(size=(n, dim))
    x[:, 0] += shift
    return x


def test_same_distribution_does_not_drift():
    rng = np.random.default_rng(1)
    result = drift.detect(_cloud(rng, 200), _cloud(rng, 200), ["t"] * 200, auc_threshold=0.75, mmd_alpha=0.01)
    assert 0.35 < result.auc < 0.65 and result.mmd_p_value > 0.01 and not result.drifted


def test_shifted_distribution_drifts_and_names_the_most_drifted():
    rng = np.random.default_rng(2)
    current = np.vstack([_cloud(rng, 150), _cloud(rng, 50, shift=6.0)])
    texts = ["in"] * 150 + ["off"] * 50
    result = drift.detect(_cloud(rng, 200), current, texts, auc_threshold=0.75, mmd_alpha=0.01, top_k=5)
    assert result.mmd_drifted and result.drifted
    assert all(t == "off" for t, _ in result.top_examples)


def test_too_few_rows_is_an_error():
    with pytest.raises(ValueError, match="at least 10"):
        drift.detect(np.zeros((5, 3)), np.zeros((20, 3)), ["x"] * 20, auc_threshold=0.75, mmd_alpha=0.01)
