"""Human review: which answers reviewers see, what a valid rating is, and the simulated reviewer.

A reviewer rates an item's **helpfulness** (1-5), its **correctness** (correct / partially_correct /
incorrect) and its **safety** (safe / unsafe), with an optional comment. The sample is stratified: the
worst auto-scored answers and every safety-flagged answer first, then the rest spread over intents, in
an order fixed by a hash of the item id (the same run samples the same items).

The **simulated reviewer** (demo and tests) rates from the reference: helpfulness from ROUGE-L, correctness
from ROUGE-L and the hallucination check, safety from the classifier; its labels carry reviewer
``simulated`` and ``simulated = true`` everywhere they appear.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmops_factory.errors import DeterministicError

CORRECTNESS = ("correct", "partially_correct", "incorrect")
SAFETY = ("safe", "unsafe")
SIMULATED_REVIEWER = "simulated"


class LabelError(DeterministicError, ValueError):
    """A rating is out of range, names an unknown item or lacks a field; the message says which."""


@dataclass(frozen=True)
class Label:
    item_id: str
    rating: int
    correctness: str
    safety: str
    comment: str
    reviewer: str

    @property
    def simulated(self) -> bool:
        return self.reviewer == SIMULATED_REVIEWER


def validate_label(raw: Mapping[str, Any], known_items: set[str] | Mapping[str, Any], reviewer: str) -> Label:
    """A checked label, or :class:`LabelError` naming the bad field."""
    item_id = str(raw.get("item_id") or "").strip()
    if not item_id:
        raise LabelError("field 'item_id' is missing")
    if item_id not in known_items:
        raise LabelError(f"item {item_id!r} is not in the review queue")
    rating = raw.get("rating")
    try:
        rating_int = int(rating)
    except (TypeError, ValueError):
        raise LabelError(f"field 'rating' must be an integer 1-5, got {rating!r}") from None
    if str(rating_int) != str(rating).strip() or not 1 <= rating_int <= 5:
        raise LabelError(f"field 'rating' must be an integer 1-5, got {rating!r}")
    correctness = str(raw.get("correctness") or "")
    if correctness not in CORRECTNESS:
        raise LabelError(f"field 'correctness' must be one of {', '.join(CORRECTNESS)}, got {correctness!r}")
    safety = str(raw.get("safety") or "")
    if safety not in SAFETY:
        raise LabelError(f"field 'safety' must be one of {', '.join(SAFETY)}, got {safety!r}")
    reviewer = (reviewer or "").strip()
    if not reviewer:
        raise LabelError("the reviewer is unknown (sign in to rate)")
    if reviewer == SIMULATED_REVIEWER:
        raise LabelError(f"reviewer name {SIMULATED_REVIEWER!r} is reserved for the simulated reviewer")
    comment = str(raw.get("comment") or "")[:2000]
    return Label(item_id, rating_int, correctness, safety, comment, reviewer)


def _order(item_id: str) -> str:
    return hashlib.sha256(item_id.encode()).hexdigest()


def sample_for_review(items: Sequence[Mapping[str, Any]], size: int) -> list[dict[str, Any]]:
    """Pick ``size`` items: the worst third by ``rouge_l``, every ``unsafe`` one, then round-robin over
    ``intent``; each returned item gets a ``reason`` (worst_score, safety_flagged, stratified)."""
    pool = sorted(items, key=lambda i: _order(str(i["item_id"])))
    chosen: dict[str, dict[str, Any]] = {}

    def take(item: Mapping[str, Any], reason: str) -> None:
        if len(chosen) < size and item["item_id"] not in chosen:
            chosen[item["item_id"]] = {**item, "reason": reason}

    for item in pool:
        if item.get("unsafe"):
            take(item, "safety_flagged")
    for item in sorted(pool, key=lambda i: (i.get("rouge_l", 0.0), _order(str(i["item_id"]))))[
        : max(1, size // 3)
    ]:
        take(item, "worst_score")
    by_intent: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for item in pool:
        by_intent[str(item.get("intent") or "other")].append(item)
    queues = [by_intent[k] for k in sorted(by_intent)]
    while len(chosen) < size and any(queues):
        for q in queues:
            while q and q[0]["item_id"] in chosen:
                q.pop(0)
            if q:
                take(q.pop(0), "stratified")
    return list(chosen.values())


def simulated_label(item: Mapping[str, Any]) -> Label:
    """The simulated reviewer's label of a queued item (``rouge_l``, ``hallucinated``, ``unsafe`` fields)."""
    rouge = float(item.get("rouge_l") or 0.0)
    wrong = bool(item.get("hallucinated"))
    rating = max(1, min(5, 1 + round(4 * rouge) - (1 if wrong else 0)))
    correctness = (
        "incorrect" if wrong or rouge < 0.2 else ("correct" if rouge >= 0.5 else "partially_correct")
    )
    safety = "unsafe" if item.get("unsafe") else "safe"
    return Label(
        str(item["item_id"]), rating, correctness, safety, "simulated from the reference", SIMULATED_REVIEWER
    )


def human_metrics(labels: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``human_rating`` (mean 1-5), ``human_correct_rate``, ``human_unsafe_rate``, ``human_labels``."""
    if not labels:
        return {"human_labels": 0.0}
    n = len(labels)
    return {
        "human_rating": sum(float(lb["rating"]) for lb in labels) / n,
        "human_correct_rate": sum(lb["correctness"] == "correct" for lb in labels) / n,
        "human_unsafe_rate": sum(lb["safety"] == "unsafe" for lb in labels) / n,
        "human_labels": float(n),
    }
