"""Automatic text metrics of generated answers against references, and their confidence intervals.

ROUGE-1/2/L F-measures come from Google's ``rouge-score`` (stemming on), BLEU and chrF from
``sacrebleu`` (corpus level, its default tokenisation), exact match after normalising case, punctuation
and whitespace. Scores are on a 0..1 scale (sacrebleu's 0..100 is divided by 100) so every metric of the
quality gate reads the same way.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_SPACES = re.compile(r"\s+")
Z95 = 1.959963984540054


class MetricsError(ValueError):
    """Inputs to a metric are unusable (lengths differ, nothing to score); the message says which."""


def normalise(text: str) -> str:
    """Lower-cased, punctuation removed, whitespace collapsed (the exact-match comparison)."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


@dataclass(frozen=True)
class ItemScores:
    rouge1: float
    rouge2: float
    rouge_l: float
    exact_match: float


def item_scores(predictions: Sequence[str], references: Sequence[str]) -> list[ItemScores]:
    """Per-item ROUGE F-measures and exact match (for slices, distributions and the worst examples)."""
    _check(predictions, references)
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    out = []
    for pred, ref in zip(predictions, references, strict=True):
        s = scorer.score(ref, pred)
        out.append(
            ItemScores(
                rouge1=s["rouge1"].fmeasure,
                rouge2=s["rouge2"].fmeasure,
                rouge_l=s["rougeL"].fmeasure,
                exact_match=float(normalise(pred) == normalise(ref) and bool(normalise(ref))),
            )
        )
    return out


def generation_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus-level ``rouge1``, ``rouge2``, ``rouge_l`` (means of the item F-measures), ``bleu``,
    ``chrf`` and ``exact_match``, all on 0..1."""
    items = item_scores(predictions, references)
    import sacrebleu

    refs = [list(references)]
    n = len(items)
    return {
        "rouge1": sum(i.rouge1 for i in items) / n,
        "rouge2": sum(i.rouge2 for i in items) / n,
        "rouge_l": sum(i.rouge_l for i in items) / n,
        "bleu": sacrebleu.corpus_bleu(list(predictions), refs).score / 100.0,
        "chrf": sacrebleu.corpus_chrf(list(predictions), refs).score / 100.0,
        "exact_match": sum(i.exact_match for i in items) / n,
    }


def proportion_ci(successes: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of a proportion (``(nan, nan)`` for n = 0)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_difference_ci(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired items with its normal-approximation 95% interval: ``(mean, lo, hi)``.

    For two models scored on the same benchmark items, the difference is significant when the interval
    excludes 0.
    """
    _check(a, b)
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return (mean, math.nan, math.nan)
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    half = Z95 * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


def _check(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise MetricsError(f"{len(a)} predictions but {len(b)} references: they must pair up one to one")
    if not a:
        raise MetricsError("nothing to score: no predictions")
