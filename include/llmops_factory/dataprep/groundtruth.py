"""Score a prepared day against the raw-data generator's ground truth (used by tests and benchmarks).

The generator records every injected defect in ``reports/datagen/dt=<ds>/ground_truth.jsonl``
(``kind``, ``file``, ``record``, and per kind ``duplicate_of``, ``value``, ...). The pipeline records
every decision: examples (``source_uri``/``source_record``), ``filtered/`` and ``dead_letter/`` rows.

* Near-duplicate precision/recall: a predicted near-duplicate is a record filtered as
  ``near_duplicate``. Injected near-duplicates that could not be detected are left out of recall:
  the copy or its original was removed earlier for another reason (dead letter, quality filter, exact
  duplicate). A prediction counts as correct when the record is an injected near-duplicate, or an
  injected duplicate's original that lost to its own copy (the component keeps one of the two).
* PII recall: an injected value counts as redacted when it appears in none of the rows its record
  produced (examples, the dead-letter excerpt, the filter-log line).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(paths):
        with open(path, encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def load_outputs(dataset_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The rows of every output folder of a prepared day (``train``, ``eval``, ``dead_letter``, ``filtered``)."""
    base = Path(dataset_dir)
    return {
        name: read_jsonl(base.glob(f"{name}/*.jsonl"))
        for name in ("train", "eval", "dead_letter", "filtered")
    }


def _loc(file: str, record: str) -> tuple[str, str]:
    return file, record


def score_near_duplicates(
    ground_truth: list[Mapping[str, Any]], outputs: Mapping[str, list[Mapping[str, Any]]]
) -> dict[str, Any]:
    """Precision and recall of near-duplicate removal against the injected near-duplicates."""
    removed_other: set[tuple[str, str]] = set()
    predicted: set[tuple[str, str]] = set()
    for row in outputs["filtered"]:
        loc = _loc(row["source_uri"], row["source_record"])
        (predicted if row["reason"] == "near_duplicate" else removed_other).add(loc)
    for row in outputs["dead_letter"]:
        removed_other.add(_loc(row["source_uri"], row["source_record"]))
    injected: dict[tuple[str, str], tuple[str, str]] = {}
    for item in ground_truth:
        if item.get("kind") == "near_duplicate":
            original = item.get("duplicate_of") or {}
            injected[_loc(item["file"], item["record"])] = _loc(
                original.get("file", ""), original.get("record", "")
            )
    detectable = {
        copy: orig
        for copy, orig in injected.items()
        if copy not in removed_other and orig not in removed_other
    }
    originals = set(detectable.values())
    true_positive = {loc for loc in predicted if loc in injected or loc in originals}
    found = {copy for copy, orig in detectable.items() if copy in predicted or orig in predicted}
    precision = len(true_positive) / len(predicted) if predicted else 1.0
    recall = len(found) / len(detectable) if detectable else 1.0
    return {
        "injected": len(injected),
        "detectable": len(detectable),
        "predicted": len(predicted),
        "true_positive": len(true_positive),
        "found": len(found),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "false_positives": sorted(f"{f}#{r}" for f, r in predicted - true_positive)[:20],
        "missed": sorted(f"{f}#{r}" for f, r in set(detectable) - found)[:20],
    }


def score_pii(ground_truth: list[Mapping[str, Any]], dataset_dir: str | Path) -> dict[str, Any]:
    """Share of injected PII values that appear in no written row of their record.

    Every row a raw record produced (examples, its dead letter with the raw excerpt, its filter-log line)
    is searched for the exact value injected into that record.
    """
    by_record: dict[tuple[str, str], list[str]] = {}
    for rows in load_outputs(dataset_dir).values():
        for row in rows:
            key = _loc(row["source_uri"], row["source_record"])
            by_record.setdefault(key, []).append(json.dumps(row, ensure_ascii=False))
    injected, leaked, by_kind = 0, [], {}
    for item in ground_truth:
        if item.get("kind") != "pii" or not item.get("value"):
            continue
        injected += 1
        kind = item.get("pii_kind", "?")
        stats = by_kind.setdefault(kind, {"injected": 0, "leaked": 0})
        stats["injected"] += 1
        value = str(item["value"])
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        text = "\n".join(by_record.get(_loc(item["file"], item["record"]), ()))
        if value in text or escaped in text:
            stats["leaked"] += 1
            leaked.append(f"{item['file']}#{item['record']} {kind}")
    recall = (injected - len(leaked)) / injected if injected else 1.0
    return {
        "injected": injected,
        "leaked": len(leaked),
        "recall": round(recall, 4),
        "by_kind": by_kind,
        "leaks": leaked[:20],
    }
