"""The pipeline on a day written by the raw-data generator, scored against its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops_beam.pipeline import run
from llmops_factory.dataprep import reconcile
from llmops_factory.dataprep.groundtruth import load_outputs, read_jsonl, score_near_duplicates, score_pii

datagen = pytest.importorskip("llmops_factory.datagen")
pytestmark = pytest.mark.slow

DS = "2026-02-03"
EXPECTED_OUTCOME = {
    "empty": {"dead:empty_record", "dead:empty_field"},
    "exact_duplicate": {"filtered:exact_duplicate"},
    "near_duplicate": {"filtered:near_duplicate"},
    "invalid_utf8": {"dead:invalid_utf8"},
    "malformed_json": {"dead:malformed_json"},
    "wrong_type": {"dead:wrong_type"},
    "other_language": {"filtered:other_language"},
    "oversized": {"filtered:too_long"},
    "toxic": {"filtered:toxic"},
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    rates = {
        "exact_duplicate": 0.05,
        "near_duplicate": 0.05,
        "pii": 0.1,
        "empty": 0.02,
        "oversized": 0.02,
        "malformed_json": 0.02,
        "wrong_type": 0.02,
        "invalid_utf8": 0.02,
        "other_language": 0.02,
        "toxic": 0.02,
    }
    datagen.generate_day(root.as_uri(), DS, seed=7, scale=400, rates=rates)
    run(
        [
            "--storage_root",
            root.as_uri(),
            "--ds",
            DS,
            "--runner",
            "DirectRunner",
            "--direct_num_workers",
            "1",
            "--direct_running_mode",
            "in_memory",
        ]
    )
    dataset = root / "datasets" / f"daily-{DS}"
    gt = read_jsonl([root / "reports" / "datagen" / f"dt={DS}" / "ground_truth.jsonl"])
    return dataset, gt, json.loads((dataset / "manifest.json").read_text())


def test_every_injected_defect_ends_with_its_reason(generated):
    dataset, gt, manifest = generated
    reconcile(manifest)
    summary = json.loads(
        (dataset.parents[1] / "reports" / "datagen" / f"dt={DS}" / "summary.json").read_text()
    )
    assert manifest["totals"]["records_in"] == summary["total_records"]
    out = load_outputs(dataset)
    outcome = {}
    for row in out["dead_letter"]:
        outcome[(row["source_uri"], row["source_record"])] = f"dead:{row['reason']}"
    for row in out["filtered"]:
        outcome[(row["source_uri"], row["source_record"])] = f"filtered:{row['reason']}"
    wrong = [
        (g["kind"], g["file"], g["record"], outcome.get((g["file"], g["record"]), "kept"))
        for g in gt
        if g["kind"] in EXPECTED_OUTCOME
        and outcome.get((g["file"], g["record"])) not in EXPECTED_OUTCOME[g["kind"]]
    ]
    assert wrong == []
    assert {g["kind"] for g in gt} >= set(EXPECTED_OUTCOME)  # the day really holds every kind


def test_injected_pii_is_all_redacted_and_near_duplicates_are_found(generated):
    dataset, gt, _ = generated
    pii = score_pii(gt, dataset)
    assert pii["injected"] > 10 and pii["leaked"] == 0, pii["leaks"]
    near = score_near_duplicates(gt, load_outputs(dataset))
    assert near["detectable"] > 5 and near["recall"] >= 0.95, near


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_backfill_of_several_days_equals_single_runs(tmp_path):
    days = ["2026-02-01", "2026-02-02", "2026-02-03"]
    together, alone = tmp_path / "together", tmp_path / "alone"
    for day in days:
        datagen.generate_day(together.as_uri(), day, seed=3, scale=60)
    datagen.generate_day(alone.as_uri(), days[1], seed=3, scale=60)
    direct = ["--runner", "DirectRunner", "--direct_num_workers", "1", "--direct_running_mode", "in_memory"]
    for day in days:  # a backfill: the days one after another in one storage root
        run(["--storage_root", str(together), "--ds", day, *direct])
    run(["--storage_root", str(alone), "--ds", days[1], *direct])
    assert sorted(p.name for p in (together / "datasets").iterdir()) == [f"daily-{d}" for d in days]
    assert _digests(together / "datasets" / f"daily-{days[1]}") == _digests(
        alone / "datasets" / f"daily-{days[1]}"
    )
