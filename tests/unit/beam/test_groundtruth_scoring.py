"""The ground-truth scoring used by the benchmark and the generated-day test can see failures."""

from __future__ import annotations

import json

from llmops_factory.dataprep.groundtruth import score_near_duplicates, score_pii

F = "raw/s/dt=2026-01-15/f.jsonl"


def gt_near(copy: int, original: int) -> dict:
    return {
        "kind": "near_duplicate",
        "file": F,
        "record": f"line:{copy}",
        "duplicate_of": {"file": F, "record": f"line:{original}"},
    }


def mark(line: int, reason: str) -> dict:
    return {"source_uri": F, "source_record": f"line:{line}", "reason": reason}


def test_near_duplicate_precision_and_recall():
    gt = [gt_near(2, 1), gt_near(4, 3), gt_near(6, 5), gt_near(8, 7)]
    outputs = {
        "filtered": [
            mark(2, "near_duplicate"),
            mark(3, "near_duplicate"),
            mark(9, "near_duplicate"),
            mark(5, "too_long"),
        ],
        "dead_letter": [],
    }
    score = score_near_duplicates(gt, outputs)
    # 6->5 is not detectable (its original was filtered first); 8->7 was missed; line 9 is a false positive;
    # line 3 is an original that lost to its own copy: a correct removal.
    assert (score["detectable"], score["found"], score["predicted"], score["true_positive"]) == (3, 2, 3, 2)
    assert score["precision"] == round(2 / 3, 4) and score["recall"] == round(2 / 3, 4)
    assert score["missed"] == [f"{F}#line:8"] and score["false_positives"] == [f"{F}#line:9"]


def test_pii_recall_counts_values_left_in_the_rows_of_their_record(tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    rows = [
        {"source_uri": F, "source_record": "line:1", "instruction": "mail [EMAIL]"},
        {"source_uri": F, "source_record": "line:2", "instruction": "call +44 7700 900123"},
    ]
    (train / "part-00000-of-00001.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    gt = [
        {"kind": "pii", "pii_kind": "email", "file": F, "record": "line:1", "value": "a@b.io"},
        {"kind": "pii", "pii_kind": "phone", "file": F, "record": "line:2", "value": "+44 7700 900123"},
    ]
    score = score_pii(gt, tmp_path)
    assert (score["injected"], score["leaked"], score["recall"]) == (2, 1, 0.5)
    assert score["by_kind"]["phone"] == {"injected": 1, "leaked": 1}
