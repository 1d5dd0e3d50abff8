"""Prompt features for tabular monitoring: the fixed projection, the rows, the Jensen-Shannon check."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from llmops_factory.monitoring import features
from llmops_factory.warehouse import load_schema, table_spec


def _embed(texts):
    """A deterministic stand-in for the sentence embedder: unit vectors seeded by the text."""
    rows = []
    for t in texts:
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).normal(size=384)
        rows.append(v / np.linalg.norm(v))
    return np.asarray(rows)


REFERENCE = [
    f"How do I {verb} my {thing}?"
    for verb in ("cancel", "renew", "pause", "upgrade", "move")
    for thing in ("plan", "order", "account", "invoice", "card", "address")
]


def _projection(texts=REFERENCE):
    return features.fit_projection(
        _embed(texts),
        reference=features.reference_id("snap-abc"),
        embedding_model="x",
        fitted_date="2026-01-05",
    )


def test_the_schemas_hold_exactly_the_features():
    daily = [f["name"] for f in load_schema("prompt_features")]
    reference = [f["name"] for f in load_schema("prompt_feature_reference")]
    assert [c for c in daily if c in features.FEATURES] == list(features.FEATURES)
    assert [c for c in reference if c in features.FEATURES] == list(features.FEATURES)
    assert table_spec("prompt_features").replace_key == ("feature_date",)
    assert table_spec("prompt_feature_reference").replace_key == ("reference_id",)


def test_a_stored_projection_gives_the_same_features_for_the_same_prompt():
    projection = _projection()
    again = features.Projection.from_json(projection.to_json(), where="projection.json")
    prompts = ["How do I cancel my plan?", "Write a poem about the sea"]
    first = features.feature_rows(prompts, projection, _embed)
    assert first == features.feature_rows(prompts, again, _embed)
    assert first[0]["prompt_chars"] == 24.0 and first[0]["prompt_words"] == 6.0
    assert list(first[0]) == list(features.FEATURES)
    # fitted again on the same reference: the same axes (PCA signs are fixed), so days stay comparable
    assert features.feature_rows(prompts, _projection(), _embed) == first


def test_the_real_embedder_gives_the_same_features_for_the_same_prompt():
    from llmops_factory.monitoring import embeddings

    projection = features.fit_projection(
        embeddings.embed(REFERENCE),
        reference="snap-abc-pca8-v1",
        embedding_model="m",
        fitted_date="2026-01-05",
    )
    one = features.feature_rows(["How do I cancel my plan?"], projection, embeddings.embed)
    two = features.feature_rows(["Something else", "How do I cancel my plan?"], projection, embeddings.embed)
    assert one[0] == pytest.approx(two[1], abs=1e-5)
    # the reference's own prompts spread over the first component; a prompt of the reference lands inside
    ref = features.feature_rows(REFERENCE, projection, embeddings.embed)
    pc1 = [r["emb_pc01"] for r in ref]
    assert min(pc1) <= one[0]["emb_pc01"] <= max(pc1)
    assert projection.explained_variance_ratio[0] >= projection.explained_variance_ratio[-1] > 0


def test_an_empty_prompt_is_named_not_dropped():
    with pytest.raises(features.FeatureError, match="prompt 42 has no text"):
        features.feature_rows(["fine", "  "], _projection(), _embed, ids=[41, 42])


def test_a_damaged_projection_file_is_named():
    with pytest.raises(features.FeatureError, match="projection.json: not a feature projection"):
        features.Projection.from_json("{}", where="monitoring/features/reference/x/projection.json")
    data = json.loads(_projection().to_json())
    data["components"] = data["components"][:3]
    with pytest.raises(features.FeatureError, match="expected 8 components"):
        features.Projection.from_json(json.dumps(data), where="projection.json")


def test_too_few_reference_prompts_cannot_fit_a_projection():
    with pytest.raises(features.FeatureError, match="at least 20 prompt embeddings, got 5"):
        features.fit_projection(_embed(REFERENCE[:5]), reference="r", embedding_model="m", fitted_date="d")


def _rows(rng, n, shift=0.0, words=8.0):
    return [
        {
            "prompt_chars": float(rng.normal(40, 5)),
            "prompt_words": float(rng.poisson(words)),
            **{
                f: float(rng.normal(shift if f == "emb_pc01" else 0.0, 1))
                for f in features.FEATURES
                if f not in features.LENGTH_FEATURES
            },
        }
        for _ in range(n)
    ]


def test_same_distribution_stays_under_the_threshold():
    rng = np.random.default_rng(0)
    result = features.feature_drift(_rows(rng, 1000), _rows(rng, 1000), threshold=0.05)
    assert result.drifted == [] and max(result.divergence.values()) < 0.02
    assert set(result.divergence) == set(features.FEATURES)


def test_a_shifted_feature_is_named_as_drifted():
    rng = np.random.default_rng(1)
    result = features.feature_drift(
        _rows(rng, 1000), _rows(rng, 500, shift=2.0, words=20.0), threshold=0.05, bins=10
    )
    assert set(result.drifted) == {"prompt_words", "emb_pc01"}
    out = result.to_dict()
    assert out["max_feature"] in ("prompt_words", "emb_pc01") and out["max_divergence"] > 0.2
    assert "prompt_chars" not in result.drifted


def test_js_divergence_bounds():
    same = features.js_divergence([1.0, 2.0, 3.0] * 10, [1.0, 2.0, 3.0] * 10)
    disjoint = features.js_divergence(list(np.linspace(0, 1, 50)), [100.0] * 50)
    assert same == pytest.approx(0.0, abs=1e-12) and disjoint > 0.5 and disjoint <= 1.0


def test_a_bad_feature_value_names_the_row_and_feature():
    rng = np.random.default_rng(2)
    current = _rows(rng, 20)
    current[3] = {**current[3], "request_id": 77, "emb_pc02": None}
    with pytest.raises(features.FeatureError, match="current feature row 77: emb_pc02 is None"):
        features.feature_drift(_rows(rng, 30), current, threshold=0.1)
    with pytest.raises(
        features.FeatureError, match="at least 20 reference and 10 current rows, got 30 and 3"
    ):
        features.feature_drift(_rows(rng, 30), _rows(rng, 3), threshold=0.1)


def test_a_reference_id_is_a_plain_name():
    assert features.reference_id("snap-0a1b") == "snap-0a1b-pca8-v1"
    with pytest.raises(features.FeatureError, match="invalid snapshot version"):
        features.reference_id("../x")
