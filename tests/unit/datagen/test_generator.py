"""The corpus generator: determinism, layout, counts, idempotent re-runs and sharding."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmops_factory.datagen import (
    KINDS,
    SOURCES,
    DefectRates,
    GenerationError,
    RatesError,
    generate_day,
    generate_range,
)
from llmops_factory.datagen.__main__ import cli

DS = "2026-03-01"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _count_records(root: Path, summary: dict) -> dict[str, int]:
    """Records as the pipeline counts them: JSONL lines, CSV rows, Markdown ## sections, text paragraphs."""
    counts = {}
    for source, files in summary["files"].items():
        total = 0
        for rel in files:
            path = root / rel
            if rel.endswith(".jsonl"):
                total += sum(1 for line in path.read_bytes().split(b"\n") if line)
            elif rel.endswith(".csv"):
                with open(path, newline="", encoding="utf-8", errors="replace") as handle:
                    total += sum(1 for _ in csv.DictReader(handle))
            elif rel.endswith(".md"):
                total += sum(
                    1 for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("## ")
                )
            else:
                paragraphs = path.read_text(encoding="utf-8").split("\n\n")
                total += len([p for p in paragraphs[1:] if p.strip()])
        counts[source] = total
    return counts


def test_same_seed_and_day_give_identical_bytes_and_days_differ(tmp_path):
    first = generate_day(str(tmp_path / "a"), DS, seed=7, scale=150)
    second = generate_day(str(tmp_path / "b"), DS, seed=7, scale=150)
    assert first == second
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    generate_day(str(tmp_path / "c"), "2026-03-02", seed=7, scale=150)
    a = (tmp_path / "a/raw/support_chats/dt=2026-03-01/conversations-00000.jsonl").read_bytes()
    c = (tmp_path / "c/raw/support_chats/dt=2026-03-02/conversations-00000.jsonl").read_bytes()
    assert a != c
    generate_day(str(tmp_path / "d"), DS, seed=8, scale=150)
    d = (tmp_path / "d/raw/support_chats/dt=2026-03-01/conversations-00000.jsonl").read_bytes()
    assert a != d


def test_layout_and_counts_match_the_summary(tmp_path):
    summary = generate_day(tmp_path.as_uri(), DS, scale=300)
    assert set(summary["records"]) == set(SOURCES)
    assert summary["total_records"] == 300 == sum(summary["records"].values())
    assert _count_records(tmp_path, summary) == summary["records"]
    assert summary["files"]["tickets"] == [f"raw/tickets/dt={DS}/tickets.csv"]
    assert summary["files"]["faq"] == [f"raw/faq/dt={DS}/faq.jsonl"]
    assert all(f.endswith(".md") for f in summary["files"]["help_center"])
    assert all(f.endswith(".txt") for f in summary["files"]["policies"])
    on_disk = json.loads((tmp_path / f"reports/datagen/dt={DS}/summary.json").read_text())
    assert on_disk == summary
    truth = [json.loads(line) for line in (tmp_path / summary["ground_truth"]).read_text().splitlines()]
    assert sum(summary["injections_total"].values()) == len(truth)
    with open(tmp_path / f"raw/tickets/dt={DS}/tickets.csv", newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == [
            "ticket_id", "created_at", "subject", "customer_message", "agent_reply", "status",
        ]  # fmt: skip


def test_markdown_and_text_documents_follow_the_contract(tmp_path):
    summary = generate_day(str(tmp_path), DS, scale=400, rates=DefectRates.none())
    for rel in summary["files"]["help_center"]:
        lines = (tmp_path / rel).read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# ") and lines[1] == "" and lines[2].startswith("## ")
    for rel in summary["files"]["policies"]:
        text = (tmp_path / rel).read_text(encoding="utf-8")
        title, *paragraphs = text.split("\n\n")
        assert "\n" not in title and len(paragraphs) >= 3


def test_rerun_replaces_exactly_that_day(tmp_path):
    generate_day(str(tmp_path), DS, scale=200)
    generate_day(str(tmp_path), "2026-03-02", scale=200)
    other_day = _files(tmp_path / "raw/support_chats/dt=2026-03-02")
    stale = tmp_path / f"raw/help_center/dt={DS}/old-article.md"
    stale.write_text("# Old\n")
    summary = generate_day(str(tmp_path), DS, scale=120)
    assert not stale.exists()
    assert _count_records(tmp_path, summary) == summary["records"]
    assert _files(tmp_path / "raw/support_chats/dt=2026-03-02") == other_day
    again = generate_day(str(tmp_path), DS, scale=120)
    assert again == summary


def test_sources_subset_removes_other_sources_of_the_day(tmp_path):
    generate_day(str(tmp_path), DS, scale=100)
    summary = generate_day(str(tmp_path), DS, scale=100, sources=["support_chats", "faq"])
    assert set(summary["records"]) == {"support_chats", "faq"}
    assert summary["total_records"] == 100
    assert not (tmp_path / f"raw/tickets/dt={DS}").exists()
    with pytest.raises(GenerationError, match="unknown source"):
        generate_day(str(tmp_path), DS, sources=["emails"])


def test_large_days_are_sharded_and_ground_truth_points_into_the_right_shard(tmp_path):
    rates = {kind: 0.04 for kind in KINDS}
    summary = generate_day(str(tmp_path), DS, scale=700, rates=rates, shard_size=40)
    chats = summary["files"]["support_chats"]
    assert len(chats) > 2 and chats[0].endswith("conversations-00000.jsonl")
    for rel in chats + summary["files"]["chat_exports"]:
        assert len((tmp_path / rel).read_bytes().splitlines()) <= 40
    tickets = summary["files"]["tickets"]
    assert len(tickets) > 1 and tickets[0].endswith("tickets-00000.csv")
    for rel in tickets:
        with open(tmp_path / rel, newline="", encoding="utf-8", errors="replace") as handle:
            assert sum(1 for _ in csv.DictReader(handle)) <= 40
    assert _count_records(tmp_path, summary) == summary["records"]
    truth = [json.loads(line) for line in (tmp_path / summary["ground_truth"]).read_text().splitlines()]
    for entry in truth:
        assert (tmp_path / entry["file"]).is_file(), entry
        if entry["source"] in ("support_chats", "chat_exports", "faq") and entry["kind"] not in (
            "malformed_json",
            "invalid_utf8",
        ):
            number = int(entry["record"].split(":")[1])
            line = (tmp_path / entry["file"]).read_bytes().splitlines()[number - 1]
            assert json.loads(line)["id"] == entry["record_id"]


def test_backfill_range_equals_single_days(tmp_path):
    generate_range(str(tmp_path / "range"), "2026-03-01", "2026-03-03", scale=80)
    for ds in ("2026-03-01", "2026-03-02", "2026-03-03"):
        generate_day(str(tmp_path / "single"), ds, scale=80)
    assert _files(tmp_path / "range") == _files(tmp_path / "single")


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(RatesError, match="add up to"):
        DefectRates.from_mapping({"pii": 0.9, "toxic": 0.5})
    with pytest.raises(RatesError, match="unknown defect kind"):
        DefectRates.from_mapping({"typos": 0.1})
    with pytest.raises(RatesError, match="pii"):
        DefectRates.from_mapping({"pii": -0.1})
    with pytest.raises(GenerationError, match="scale"):
        generate_day(str(tmp_path), DS, scale=0)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        generate_day(str(tmp_path), "2026-13-01")


def test_cli_generates_a_range_and_reports_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["generate", "--root", tmp_path.as_uri(), "--ds", DS, "--days", "2", "--scale", "60", "--no-defects"],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["ds"] for line in lines] == [DS, "2026-03-02"]
    assert all(line["injections"] == {} for line in lines)
    assert (tmp_path / "raw/support_chats/dt=2026-03-02/conversations-00000.jsonl").is_file()
    bad = runner.invoke(cli, ["generate", "--root", str(tmp_path), "--ds", "2026-02-30"])
    assert bad.exit_code != 0 and "2026-02-30" in bad.output
    bad_rate = runner.invoke(cli, ["generate", "--root", str(tmp_path), "--ds", DS, "--rate", "pii"])
    assert bad_rate.exit_code != 0 and "KIND=RATE" in bad_rate.output
