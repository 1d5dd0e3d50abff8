"""Snapshot assembly from hand-made daily partitions in the instruction_examples schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmops_factory.datasets import SnapshotError, build_snapshot
from llmops_factory.datasets.__main__ import cli

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()


def text(seed: int, length: int = 80) -> str:
    """A distinct sentence per seed (different seeds share almost no 5-word shingles)."""
    return " ".join(
        f"{WORDS[(seed * 7 + i * (seed % 5 + 1)) % len(WORDS)]}{(seed * 31 + i) % 97}" for i in range(length)
    )


def row(ds: str, group: str, body: str, split: str, output: str = "the answer") -> dict:
    content = hashlib.sha256(f"{body}\n\n{output}".encode()).hexdigest()
    return {
        "example_id": hashlib.sha256(f"{ds}{group}{content}".encode()).hexdigest()[:16],
        "dataset_version": f"daily-{ds}",
        "source": "support_chats",
        "source_date": ds,
        "source_uri": f"raw/support_chats/dt={ds}/conversations-00000.jsonl",
        "source_record": "line:1",
        "source_format": "chat_openai",
        "group_key": group,
        "split": split,
        "instruction": body,
        "input": "",
        "output": output,
        "prompt_name": "support_assistant",
        "prompt_version": "1.0.0",
        "prompt_hash": "0" * 64,
        "prompt_text": f"User: {body}\nAssistant: ",
        "language": "en",
        "pii_redacted": 0,
        "content_hash": content,
    }


def write_day(root: Path, ds: str, train: list[dict], eval_: list[dict]) -> None:
    for split, rows in (("train", train), ("eval", eval_)):
        folder = root / f"datasets/daily-{ds}/{split}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-00000-of-00001.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_split(root: Path, manifest: dict, split: str) -> list[dict]:
    rows = []
    for shard in manifest["outputs"][split]:
        rows += [json.loads(line) for line in (root / shard["file"]).read_text().splitlines()]
    return rows


@pytest.fixture
def three_days(tmp_path):
    d1, d2, d3 = "2026-03-01", "2026-03-02", "2026-03-03"
    write_day(
        tmp_path,
        d1,
        [row(d1, f"g{i}", text(i), "train") for i in range(8)],
        [row(d1, "e1", text(100), "eval")],
    )
    # day 2 repeats an example of day 1 exactly (cross-day duplicate) and has an eval near-duplicate of train
    near = text(3).split()
    near[5] = "changed"
    write_day(
        tmp_path,
        d2,
        [row(d2, "g20", text(20), "train"), row(d1, "g0", text(0), "train")],
        [
            row(d2, "e2", " ".join(near), "eval"),
            row(d2, "e2", text(201), "eval"),
            row(d2, "e3", text(300), "eval"),
        ],
    )
    # day 3: group e3 shows up again, this time in train (a group may never span splits)
    write_day(tmp_path, d3, [row(d3, "e3", text(301), "train")], [row(d3, "e4", text(400), "eval")])
    return tmp_path


def test_snapshot_dedups_moves_near_duplicates_and_keeps_groups_whole(three_days):
    manifest = build_snapshot(str(three_days), "2026-03-01", "2026-03-03")
    assert manifest["snapshot_version"].startswith("snap-") and len(manifest["snapshot_version"]) == 17
    assert manifest["partitions"] == ["daily-2026-03-01", "daily-2026-03-02", "daily-2026-03-03"]
    counts = manifest["counts"]
    assert counts["rows_in"] == 16
    assert counts["exact_duplicates_removed"] == 1
    assert counts["group_conflicts_moved"] == 1  # e3's eval example joins its train example
    assert counts["near_duplicate_groups_moved"] == 1 and counts["near_duplicate_examples_moved"] == 2
    assert counts["rows_in"] == counts["exact_duplicates_removed"] + counts["train"] + counts["eval"]
    train, eval_ = read_split(three_days, manifest, "train"), read_split(three_days, manifest, "eval")
    assert {r["group_key"] for r in eval_} == {"e1", "e4"}
    assert not {r["group_key"] for r in train} & {r["group_key"] for r in eval_}
    assert all(r["split"] == "train" for r in train) and all(r["split"] == "eval" for r in eval_)
    hashes = [r["content_hash"] for r in train + eval_]
    assert len(hashes) == len(set(hashes))
    assert manifest["train_examples"] == len(train) == 13 and manifest["eval_examples"] == len(eval_) == 2
    assert manifest["uri"].endswith(f"datasets/{manifest['snapshot_version']}/")
    for split in ("train", "eval"):
        for shard in manifest["outputs"][split]:
            data = (three_days / shard["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == shard["sha256"]
            assert Path(shard["file"]).name.startswith("part-00000-of-00001")
    schema_fields = set(row("2026-03-01", "g", "x", "train"))
    assert all(set(r) == schema_fields for r in train + eval_)


def test_same_inputs_same_version_and_second_run_is_a_noop(three_days):
    first = build_snapshot(str(three_days), "2026-03-01", "2026-03-03")
    folder = three_days / "datasets" / first["snapshot_version"]
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    second = build_snapshot(three_days.as_uri(), "2026-03-01", "2026-03-03")
    assert second["snapshot_version"] == first["snapshot_version"]
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    # a changed input is a new version
    write_day(three_days, "2026-03-03", [row("2026-03-03", "z", text(999), "train")], [])
    third = build_snapshot(str(three_days), "2026-03-01", "2026-03-03")
    assert third["snapshot_version"] != first["snapshot_version"]


def test_eval_fraction_resplits_by_group_deterministically(three_days):
    a = build_snapshot(str(three_days), "2026-03-01", "2026-03-03", eval_fraction=0.5, shard_size=3)
    b = build_snapshot(str(three_days), "2026-03-01", "2026-03-03", eval_fraction=0.5, shard_size=3)
    assert a == b
    assert len(a["outputs"]["train"]) >= 2 and all(s["rows"] <= 3 for s in a["outputs"]["train"])
    train, eval_ = read_split(three_days, a, "train"), read_split(three_days, a, "eval")
    assert not {r["group_key"] for r in train} & {r["group_key"] for r in eval_}
    assert (
        a["snapshot_version"]
        != build_snapshot(str(three_days), "2026-03-01", "2026-03-03")["snapshot_version"]
    )


def test_missing_and_empty_windows_are_clear_errors(three_days):
    with pytest.raises(SnapshotError, match=r"2026-03-04, 2026-03-05"):
        build_snapshot(str(three_days), "2026-03-03", "2026-03-05")
    partial = build_snapshot(str(three_days), "2026-03-03", "2026-03-05", allow_missing=True)
    assert partial["missing_dates"] == ["2026-03-04", "2026-03-05"]
    with pytest.raises(SnapshotError, match="empty window"):
        build_snapshot(str(three_days), "2026-03-03", "2026-03-01")
    with pytest.raises(SnapshotError, match="no daily partition"):
        build_snapshot(str(three_days), "2026-04-01", "2026-04-02", allow_missing=True)
    write_day(three_days, "2026-05-01", [], [])
    with pytest.raises(SnapshotError, match="holds no examples"):
        build_snapshot(str(three_days), "2026-05-01", "2026-05-01")


def test_bad_rows_name_file_line_and_field(three_days):
    broken = row("2026-03-06", "g", text(5), "train")
    del broken["output"]
    write_day(three_days, "2026-03-06", [row("2026-03-06", "h", text(6), "train"), broken], [])
    with pytest.raises(
        SnapshotError, match=r"daily-2026-03-06/train/part-00000-of-00001.jsonl line 2.*'output'"
    ):
        build_snapshot(str(three_days), "2026-03-06", "2026-03-06")
    (three_days / "datasets/daily-2026-03-06/train/part-00000-of-00001.jsonl").write_text("{not json\n")
    with pytest.raises(SnapshotError, match="line 1: not a JSON object"):
        build_snapshot(str(three_days), "2026-03-06", "2026-03-06")


def test_cli_prints_the_manifest_summary(three_days):
    result = CliRunner().invoke(
        cli, ["snapshot", "--root", str(three_days), "--start", "2026-03-01", "--end", "2026-03-03"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["train_examples"] == 13 and summary["eval_examples"] == 2
    bad = CliRunner().invoke(
        cli, ["snapshot", "--root", str(three_days), "--start", "2026-03-09", "--end", "2026-03-09"]
    )
    assert bad.exit_code != 0 and "2026-03-09" in bad.output
