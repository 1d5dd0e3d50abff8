"""Write the day's outputs: JSONL shards with deterministic names and content, dead letters, the manifest.

Shards: ``part-NNNNN-of-MMMMM.jsonl``. A row goes to shard ``sha256(order key) mod M`` and rows are
written sorted by their order key (file order of the raw record, then turn), so a re-run writes
byte-identical files; every shard is written, empty ones included, so the file set is fixed too. Each
writer returns ``{"path", "rows", "bytes", "sha256"}`` per shard, which the manifest lists.

The manifest is written last: its inputs are the count PCollection and the shard descriptions, so it
exists only when every shard has been written, and its counts come from the data, not from metrics.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

STAGE_ORDER = ("read", "parse", "validate", "normalize", "redact", "quality", "dedup", "format")


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.jsonl"


def shard_of(order: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(order.encode("utf-8", "surrogatepass")).digest()[:8], "big") % count


def write_bytes(uri: str, data: bytes) -> None:
    with FileSystems.create(uri, mime_type="application/json") as fh:
        fh.write(data)


class WriteShardFn(beam.DoFn):
    """``(shard, {"shard": [..], "rows": [(order, row), ...]})`` → one file; yields its description."""

    def __init__(self, root: str, relative_dir: str, count: int, columns: tuple[str, ...]):
        self.root, self.relative_dir, self.count, self.columns = root, relative_dir, count, columns
        self.rows_written = Metrics.counter("write", "rows")

    def process(self, element: tuple[int, dict[str, Any]]):
        index, grouped = element
        rows = sorted(grouped["rows"], key=lambda kv: kv[0])
        lines = []
        for _, row in rows:
            lines.append(
                json.dumps({c: row[c] for c in self.columns}, ensure_ascii=False, separators=(",", ":"))
            )
        data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        relative = f"{self.relative_dir.rstrip('/')}/{shard_name(index, self.count)}"
        write_bytes(f"{self.root.rstrip('/')}/{relative}", data)
        self.rows_written.inc(len(rows))
        yield {
            "path": relative,
            "rows": len(rows),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


class WriteShards(beam.PTransform):
    """``(order, row)`` pairs → ``count`` JSONL shards under ``root/relative_dir``; → shard descriptions."""

    def __init__(self, root: str, relative_dir: str, count: int, columns: tuple[str, ...]):
        super().__init__()
        if count < 1:
            raise ValueError(f"shard count must be >= 1, got {count}")
        self.root, self.relative_dir, self.count, self.columns = root, relative_dir, count, tuple(columns)

    def expand(self, keyed_rows):
        count = self.count
        by_shard = keyed_rows | "KeyByShard" >> beam.Map(lambda kv: (shard_of(kv[0], count), kv))
        every_shard = keyed_rows.pipeline | "AllShardIndices" >> beam.Create(
            [(i, None) for i in range(count)]
        )
        return (
            {"shard": every_shard, "rows": by_shard}
            | "GroupRowsByShard" >> beam.CoGroupByKey()
            | "WriteShardFile" >> beam.ParDo(WriteShardFn(self.root, self.relative_dir, count, self.columns))
        )


def dead_letter_row(
    letter: dict[str, Any], dataset_version: str, source_date: str
) -> tuple[str, dict[str, Any]]:
    """A dead letter as ``(order, row)`` in the ``dead_letter_records`` schema."""
    row = {
        "dataset_version": dataset_version,
        "source": letter["source"],
        "source_date": source_date,
        "source_uri": letter["source_uri"],
        "source_record": letter["source_record"],
        "stage": letter["stage"],
        "reason": letter["reason"],
        "detail": letter["detail"],
        "raw_excerpt": letter["raw_excerpt"],
    }
    return f"{letter['sort_key']}#{letter['stage']}#{letter['reason']}", row


FILTERED_DIR = "filtered/"
FILTERED_COLUMNS = ("source", "source_uri", "source_record", "stage", "reason", "detail")


def filtered_row(mark: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A filter mark as ``(order, row)`` for the ``filtered/`` audit log (not a warehouse table)."""
    from llmops_beam.records import sort_key

    return f"{sort_key(mark['source_uri'], mark['source_record'])}#{mark['stage']}#{mark['reason']}", mark


def _zero_counts() -> dict[str, Any]:
    """The counts of one source (or of the whole day) before any record is seen."""
    return {
        "records_in": 0,
        "records_ok": 0,
        "examples_out": 0,
        "train_examples": 0,
        "eval_examples": 0,
        "filtered": {},
        "dead_lettered": {},
    }


def build_manifest(
    base: dict[str, Any], counts: list[tuple[tuple, int]], shards: dict[str, list[dict]]
) -> dict:
    """Assemble the manifest from ``((kind, ...), n)`` counts and the shard descriptions."""
    per_source: dict[str, dict[str, Any]] = defaultdict(_zero_counts)
    stages: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: {"filtered": {}, "dead_lettered": {}})
    pii: dict[str, int] = {}
    inputs: dict[str, dict[str, Any]] = {}
    for key, n in counts:
        kind = key[0]
        if kind == "records_in":
            per_source[key[1]]["records_in"] += n
        elif kind == "records_ok":
            per_source[key[1]]["records_ok"] += n
        elif kind == "examples":
            _, source, split = key
            per_source[source]["examples_out"] += n
            per_source[source][f"{split}_examples"] += n
        elif kind in ("filtered", "dead_lettered"):
            _, source, stage, reason = key
            bucket = per_source[source][kind]
            bucket[reason] = bucket.get(reason, 0) + n
            stage_bucket = stages[stage][kind]
            stage_bucket[reason] = stage_bucket.get(reason, 0) + n
        elif kind == "pii":
            pii[key[1]] = pii.get(key[1], 0) + n
        elif kind == "file":
            _, source, path, fmt = key
            inputs[path] = {"path": path, "source": source, "format": fmt, "records": n}
        else:  # pragma: no cover - a programming error, not data
            raise ValueError(f"unknown count key {key!r}")
    totals: dict[str, Any] = _zero_counts()
    for counts_ in per_source.values():
        for field in ("records_in", "records_ok", "examples_out", "train_examples", "eval_examples"):
            totals[field] += counts_[field]
        for field in ("filtered", "dead_lettered"):
            for reason, n in counts_[field].items():
                totals[field][reason] = totals[field].get(reason, 0) + n
    steps = []
    remaining = totals["records_in"]
    for stage in STAGE_ORDER:
        filtered_ = dict(sorted(stages[stage]["filtered"].items())) if stage in stages else {}
        dead_ = dict(sorted(stages[stage]["dead_lettered"].items())) if stage in stages else {}
        out = remaining - sum(filtered_.values()) - sum(dead_.values())
        steps.append(
            {"step": stage, "in": remaining, "filtered": filtered_, "dead_lettered": dead_, "out": out}
        )
        remaining = out

    def _sorted(d: dict) -> dict:
        return {k: (_sorted(v) if isinstance(v, dict) else v) for k, v in sorted(d.items())}

    return {
        **base,
        "totals": _sorted(totals),
        "per_source": {s: _sorted(c) for s, c in sorted(per_source.items())},
        "steps": steps,
        "pii_redacted": dict(sorted(pii.items())),
        "inputs": [inputs[p] for p in sorted(inputs)],
        "files": {k: sorted(v, key=lambda s: s["path"]) for k, v in sorted(shards.items())},
    }


class WriteManifestFn(beam.DoFn):
    """Write ``manifest.json`` once every shard is written; yields the manifest."""

    def __init__(self, root: str, relative_path: str, base: dict[str, Any]):
        self.root, self.relative_path, self.base = root, relative_path, base

    def process(self, _, counts, train, eval_, dead, filtered):
        manifest = build_manifest(
            self.base,
            list(counts),
            {
                "train": list(train),
                "eval": list(eval_),
                "dead_letter": list(dead),
                "filtered": list(filtered),
            },
        )
        data = (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
        write_bytes(f"{self.root.rstrip('/')}/{self.relative_path}", data)
        yield manifest


class WriteManifest(beam.PTransform):
    """Counts + shard descriptions → ``manifest.json`` (the run's last write)."""

    def __init__(self, root: str, relative_path: str, base: dict[str, Any]):
        super().__init__()
        self.root, self.relative_path, self.base = root, relative_path, base

    def expand(self, inputs):
        counts, train, eval_, dead, filtered = inputs
        AsList = beam.pvalue.AsList
        return (
            counts.pipeline
            | "Once" >> beam.Create([None])
            | "WriteManifestJson"
            >> beam.ParDo(
                WriteManifestFn(self.root, self.relative_path, self.base),
                AsList(counts),
                AsList(train),
                AsList(eval_),
                AsList(dead),
                AsList(filtered),
            )
        )
