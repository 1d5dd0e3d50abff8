"""reconcile / validate_day / check_row on hand-made manifests (Beam-free)."""

from __future__ import annotations

import copy

import pytest

from llmops_factory.dataprep import (
    DataValidationError,
    ReconciliationError,
    check_row,
    load_manifest,
    reconcile,
    validate_day,
)
from llmops_factory.dataprep.manifest import MANIFEST_FORMAT


def counts(records_in, ok, examples, train, filtered, dead):
    return {
        "records_in": records_in,
        "records_ok": ok,
        "examples_out": examples,
        "train_examples": train,
        "eval_examples": examples - train,
        "filtered": filtered,
        "dead_lettered": dead,
    }


def shards(n):
    return [{"path": "x/part-00000-of-00001.jsonl", "rows": n, "bytes": 0, "sha256": "0" * 64}]


GOOD = {
    "format": MANIFEST_FORMAT,
    "dataset_version": "daily-2026-01-15",
    "totals": counts(10, 6, 8, 7, {"too_short": 1, "near_duplicate": 1}, {"malformed_json": 2}),
    "per_source": {
        "chats": counts(6, 4, 6, 5, {"too_short": 1}, {"malformed_json": 1}),
        "faq": counts(4, 2, 2, 2, {"near_duplicate": 1}, {"malformed_json": 1}),
    },
    "files": {"train": shards(7), "eval": shards(1), "dead_letter": shards(2), "filtered": shards(2)},
}


def test_a_consistent_manifest_reconciles():
    reconcile(GOOD)
    assert validate_day(GOOD, 8, 0.25, 1).dead_letter_ratio == 0.2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda m: m["per_source"]["faq"].update(records_in=5),
            "per_source['faq']: records_in=5 != records_ok=2 + filtered=1 + dead_lettered=1",
        ),
        (lambda m: m["totals"].update(records_ok=5), "totals: records_in=10 != records_ok=5"),
        (lambda m: m["totals"]["filtered"].update(too_short=2), "totals.filtered"),
        (
            lambda m: m["files"]["train"][0].update(rows=6),
            "files.train: 6 rows written in 1 shard(s) != 7 counted",
        ),
        (lambda m: m["per_source"]["chats"].update(train_examples=6), "examples_out=6 != train_examples=6"),
        (lambda m: m["totals"].update(records_in=-1), "must be a non-negative integer"),
    ],
)
def test_each_inconsistency_is_reported_with_its_counts(mutate, message):
    broken = copy.deepcopy(GOOD)
    mutate(broken)
    with pytest.raises(ReconciliationError) as err:
        reconcile(broken)
    assert message in str(err.value)


def test_validate_day_lists_every_failed_check():
    with pytest.raises(DataValidationError) as err:
        validate_day(GOOD, rows_in_warehouse=5, dead_letter_ratio_max=0.1, min_examples=100)
    text = str(err.value)
    assert "dead-letter ratio 0.200 (2/10) > 0.1 (by reason: malformed_json=2)" in text
    assert "examples_out=8 < min_examples=100" in text
    assert "warehouse holds 5 rows for daily-2026-01-15 but the manifest counts examples_out=8" in text
    assert err.value.summary["records_in"] == 10


def test_load_manifest_rejects_other_documents():
    with pytest.raises(ReconciliationError, match="not valid JSON"):
        load_manifest("{nope")
    with pytest.raises(ReconciliationError, match="field 'format'"):
        load_manifest({"format": "something-else"})


def test_check_row_is_exact():
    fields = [
        {"name": "a", "type": "STRING", "mode": "REQUIRED"},
        {"name": "n", "type": "INT64"},
        {"name": "d", "type": "DATE", "mode": "REQUIRED"},
    ]
    assert check_row({"a": "x", "n": None, "d": "2026-01-15"}, fields) == []
    problems = check_row({"a": None, "n": True, "d": "15/01/2026", "extra": 1}, fields)
    assert problems == [
        "unexpected column(s) extra",
        "column 'a' is REQUIRED but null",
        "column 'n' (INT64) has a bool value",
        "column 'd' (DATE) is not YYYY-MM-DD: '15/01/2026'",
    ]


def test_row_checker_agrees_with_check_row():
    from llmops_factory.dataprep.manifest import row_checker

    fields = [
        {"name": "a", "type": "STRING", "mode": "REQUIRED"},
        {"name": "n", "type": "INT64"},
        {"name": "d", "type": "DATE", "mode": "REQUIRED"},
        {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    ]
    check = row_checker(fields)
    rows = [
        {"a": "x", "n": None, "d": "2026-01-15", "tags": ["t"]},
        {"a": "x", "n": 3, "d": "2026-01-15", "tags": []},
        {"a": None, "n": True, "d": "15/01/2026", "tags": [], "extra": 1},
        {"a": "x", "n": 1.5, "d": "2026-01-15", "tags": ["t"]},
        {"a": "x", "n": 1, "d": "2026-01-15", "tags": "t"},
        {"a": "x", "n": 1, "d": "2026-01-15", "tags": [1]},
        {"a": "x", "n": 1, "d": "2026-13-01", "tags": []},
        {"a": "x", "n": 1, "tags": []},
    ]
    for row in rows:
        assert check(row) == check_row(row, fields), row
    assert [bool(check(row)) for row in rows] == [False, False, True, True, True, True, True, True]
