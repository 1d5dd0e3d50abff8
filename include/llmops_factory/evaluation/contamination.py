"""Contamination: eval and benchmark items that are near-duplicates of training examples.

The definition of "near-duplicate" is the project's one (``llmops_factory.text.neardup``: Jaccard of word
5-gram shingles, MinHash LSH index) — the same unit data preparation deduplicates with. An eval example is
compared as instruction + input + reference output, a benchmark item as its MMLU prompt (question and
options) against the training examples' instruction + input + output. Contaminated items are excluded
from scoring and their count is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ContaminationResult:
    checked: int
    contaminated: dict[str, str]  # item id -> the training key it duplicates

    @property
    def count(self) -> int:
        return len(self.contaminated)


def find_contaminated(
    train_texts: Iterable[tuple[str, str]], items: Iterable[tuple[str, str]], threshold: float = 0.8
) -> ContaminationResult:
    """``(key, text)`` of training examples and of items → the items with a near-duplicate in training."""
    from llmops_factory.text.neardup import NearDupIndex

    index = NearDupIndex(threshold=threshold, exact=True)
    for key, text in train_texts:
        if key not in index:
            index.add(key, text)
    hits: dict[str, str] = {}
    checked = 0
    for item_id, text in items:
        checked += 1
        found = index.query(text)
        if found:
            hits[item_id] = str(found[0][0])
    return ContaminationResult(checked, hits)
