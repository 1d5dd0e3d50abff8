"""The whole pipeline on DirectRunner over a small day holding every bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from dataprep_fixtures import CARD, DS, EMAIL, write_partition

from llmops_beam.io import EmptyPartitionError
from llmops_beam.pipeline import run
from llmops_factory.dataprep import check_row, reconcile, scan_for_pii, validate_day
from llmops_factory.dataprep.manifest import DataValidationError, ReconciliationError
from llmops_factory.warehouse.schemas import load_schema

pytestmark = pytest.mark.slow
DIRECT = ["--runner", "DirectRunner", "--direct_num_workers", "1", "--direct_running_mode", "in_memory"]


def prepare(root: Path | str, ds: str = DS, *extra: str) -> dict:
    run(["--storage_root", str(root), "--ds", ds, "--num_shards", "2", *extra, *DIRECT])
    base = Path(str(root).removeprefix("file://")) / "datasets" / f"daily-{ds}"
    return json.loads((base / "manifest.json").read_text())


def rows(root: Path, folder: str, ds: str = DS) -> list[dict]:
    out = []
    for path in sorted((root / "datasets" / f"daily-{ds}" / folder).glob("*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines())
    return out


def digest_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("storage")
    expected = write_partition(root)
    manifest = prepare(f"file://{root}")
    return root, expected, manifest


def test_every_record_is_accounted_for_with_the_expected_outcome(prepared):
    root, expected, manifest = prepared
    outcome: dict[str, str] = {}
    for row in rows(root, "dead_letter"):
        outcome[f"{row['source_uri']}#{row['source_record']}"] = f"dead:{row['reason']}"
    for row in rows(root, "filtered"):
        outcome[f"{row['source_uri']}#{row['source_record']}"] = f"filtered:{row['reason']}"
    for row in rows(root, "train") + rows(root, "eval"):
        outcome.setdefault(f"{row['source_uri']}#{row['source_record']}", "ok")
    assert outcome == expected
    assert manifest["totals"]["records_in"] == len(expected)


def test_manifest_reconciles_per_source_and_in_total(prepared):
    _, expected, manifest = prepared
    reconcile(manifest)
    totals = manifest["totals"]
    assert totals["records_ok"] == sum(1 for o in expected.values() if o == "ok")
    assert totals["examples_out"] == totals["records_ok"] + 1  # chat-1 has two replies
    assert sum(totals["dead_lettered"].values()) == sum(1 for o in expected.values() if o.startswith("dead:"))
    assert manifest["prompt"]["name"] == "support_assistant" and len(manifest["prompt"]["hash"]) == 64
    assert [s["step"] for s in manifest["steps"]][0] == "read"
    assert manifest["steps"][-1]["out"] == totals["records_ok"]


def test_rows_match_the_warehouse_schemas_exactly_and_carry_no_pii(prepared):
    root, _, _ = prepared
    examples = rows(root, "train") + rows(root, "eval")
    schema = load_schema("instruction_examples")
    for row in examples:
        assert check_row(row, schema) == [], row
        assert list(row) == [f["name"] for f in schema]
    dead_schema = load_schema("dead_letter_records")
    for row in rows(root, "dead_letter"):
        assert check_row(row, dead_schema) == [], row
    texts = [r[c] for r in examples for c in ("instruction", "input", "output", "prompt_text")]
    texts += [r["raw_excerpt"] for r in rows(root, "dead_letter")]
    assert scan_for_pii(texts) == []
    everything = json.dumps(examples)
    assert EMAIL not in everything and CARD not in everything and "Maria Lopez" not in everything
    chat1 = [r for r in examples if r["group_key"] == "chat-1"]
    assert {r["split"] for r in chat1} in ({"train"}, {"eval"})  # a conversation never spans splits
    assert any(r["pii_redacted"] >= 2 for r in chat1)
    second = next(r for r in chat1 if r["instruction"].startswith("Thanks."))
    assert "[EMAIL]" in second["input"] and second["input"].startswith("User: Hi, I'm [PERSON].")


def test_rerun_writes_byte_identical_output_and_removes_stale_files(prepared):
    root, _, _ = prepared
    folder = root / "datasets" / f"daily-{DS}"
    before = digest_tree(folder)
    (folder / "train" / "part-00099-of-00100.jsonl").write_text("stale\n")
    prepare(root)
    assert digest_tree(folder) == before


def test_all_bad_partition_is_dead_lettered_and_fails_validation(tmp_path):
    part = tmp_path / "raw" / "support_chats" / f"dt={DS}"
    part.mkdir(parents=True)
    (part / "c.jsonl").write_bytes(b'{"id": 1, "messages": "x"}\n{broken\n\xff\xfe\n')
    manifest = prepare(tmp_path)
    reconcile(manifest)
    assert manifest["totals"]["records_in"] == 3
    assert manifest["totals"]["dead_lettered"] == {"invalid_utf8": 1, "malformed_json": 1, "wrong_type": 1}
    assert manifest["totals"]["examples_out"] == 0
    with pytest.raises(DataValidationError) as err:
        validate_day(manifest, rows_in_warehouse=0, dead_letter_ratio_max=0.25, min_examples=1)
    assert "dead-letter ratio 1.000 (3/3)" in str(err.value) and "examples_out=0 < min_examples=1" in str(
        err.value
    )


def test_missing_or_empty_partition_is_a_clear_error(tmp_path):
    with pytest.raises(EmptyPartitionError, match=r"no raw data for ds=2026-01-15"):
        prepare(tmp_path)
    (tmp_path / "raw" / "faq" / f"dt={DS}").mkdir(parents=True)
    with pytest.raises(EmptyPartitionError, match=r"raw/<source>/dt=2026-01-15/"):
        prepare(tmp_path)


def test_a_tampered_manifest_does_not_reconcile(prepared):
    _, _, manifest = prepared
    broken = json.loads(json.dumps(manifest))
    broken["per_source"]["support_chats"]["records_in"] += 1
    broken["totals"]["records_in"] += 1
    with pytest.raises(
        ReconciliationError, match=r"per_source\['support_chats'\]: records_in=17 .* \+1 unaccounted"
    ):
        reconcile(broken)
