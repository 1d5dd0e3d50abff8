"""Deterministic train/eval split by a stable hash of the group key (a conversation never spans splits).

``split_of(group_key, eval_fraction)``: the first 64 bits of ``sha256("llmops-split-v1" + group_key)``
as a fraction of 2**64; below ``eval_fraction`` → ``eval``. The same group lands in the same split on
every run, every day and every runner, so re-runs and backfills agree and an eval conversation is never
trained on.
"""

from __future__ import annotations

import hashlib
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

SPLIT_SALT = "llmops-split-v1"
SPLITS = ("train", "eval")


def split_of(group_key: str, eval_fraction: float) -> str:
    if not 0.0 <= eval_fraction <= 1.0:
        raise ValueError(f"eval_fraction={eval_fraction} must be between 0 and 1")
    digest = hashlib.sha256(f"{SPLIT_SALT}\x1f{group_key}".encode("utf-8", "surrogatepass")).digest()
    return "eval" if int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction else "train"


class AssignSplitFn(beam.DoFn):
    """``(order, row)`` → the row with ``split`` set, on the ``train`` or ``eval`` output."""

    def __init__(self, eval_fraction: float):
        split_of("", eval_fraction)  # validate early, at construction
        self.eval_fraction = eval_fraction

    def process(self, element: tuple[str, dict[str, Any]]):
        order, row = element
        split = split_of(row["group_key"], self.eval_fraction)
        Metrics.counter("split", split).inc()
        yield beam.pvalue.TaggedOutput(split, (order, dict(row, split=split)))


class AssignSplit(beam.PTransform):
    """Examples → ``train`` and ``eval`` outputs."""

    def __init__(self, eval_fraction: float):
        super().__init__()
        self.eval_fraction = eval_fraction

    def expand(self, examples):
        return examples | "HashGroupKey" >> beam.ParDo(AssignSplitFn(self.eval_fraction)).with_outputs(
            *SPLITS
        )
