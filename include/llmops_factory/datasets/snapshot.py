"""Training snapshots: the curated daily partitions of a window, deduplicated and frozen under a version.

``build_snapshot(root, start, end)`` reads ``datasets/daily-<ds>/{train,eval}/*.jsonl`` for every date of
the window and writes ``datasets/<snapshot_version>/{train,eval}/part-NNNNN-of-MMMMM.jsonl`` plus
``manifest.json``:

1. **Cross-day exact dedup** on ``content_hash``: the first occurrence (date, split, file, line order)
   is kept, later ones are counted as ``exact_duplicates_removed``.
2. **Split**: the daily split is kept, or, with ``eval_fraction``, re-drawn from a stable hash of
   ``group_key`` (a group always lands in one split).
3. **Groups stay whole**: a group seen in both splits (e.g. across days) goes to train.
4. **No near-duplicate across train/eval**: every eval example is checked against a MinHash LSH index
   of the train examples (``llmops_factory.text.neardup.NearDupIndex``: 5-word shingles of
   instruction + input + output; candidates from a
   recall-weighted index 0.2 below the threshold (at the default 0.8 a true
   pair is missed with probability ~5e-5), confirmed by the MinHash Jaccard estimate); a hit
   moves the example's whole group from eval to train (moved, not dropped, so nothing is lost),
   counted in the manifest.

The version is ``snap-<12 hex>`` of a SHA-256 over the input files' bytes and the parameters, so the
same inputs give the same version, and a second run finds the finished manifest and does nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from llmops_factory import layout
from llmops_factory.errors import DeterministicError
from llmops_factory.text.neardup import NearDupIndex

SNAPSHOT_ALGORITHM = "2"  # 2: near-duplicates through llmops_factory.text.neardup (affine32 MinHash)
DEFAULT_NEAR_DUP_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 128
DEFAULT_SHARD_SIZE = 50_000
SPLITS = ("train", "eval")
_SCHEMA_FILE = Path(__file__).resolve().parents[1] / "warehouse" / "schemas" / "instruction_examples.json"


class SnapshotError(ValueError, DeterministicError):
    """The window or its partitions cannot make a snapshot; the message names the dates / file / field."""


def _schema() -> tuple[list[str], list[str]]:
    fields = json.loads(_SCHEMA_FILE.read_text(encoding="utf-8"))
    return [f["name"] for f in fields], [f["name"] for f in fields if f.get("mode") == "REQUIRED"]


@dataclass(frozen=True)
class InputFile:
    partition: str
    split: str
    rel: str
    sha256: str
    size: int


def _hash_file(fs, path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def stable_fraction(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` (the split key), independent of the process or platform."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


def example_text(row: dict[str, Any]) -> str:
    """The text near-duplicates are measured on: instruction, input and output."""
    return "\n".join((row.get("instruction") or "", row.get("input") or "", row.get("output") or ""))


class _Store:
    def __init__(self, root: str) -> None:
        self.fs, base = fsspec.core.url_to_fs(root)
        self.base = base.rstrip("/")

    def path(self, rel: str) -> str:
        return f"{self.base}/{rel.lstrip('/')}"


def _find_inputs(store: _Store, dates: list[str], allow_missing: bool) -> tuple[list[InputFile], list[str]]:
    inputs: list[InputFile] = []
    missing: list[str] = []
    for ds in dates:
        version = layout.daily_dataset_version(ds)
        root = store.path(layout.dataset(version)).rstrip("/")
        if not store.fs.isdir(root):
            missing.append(ds)
            continue
        for split in SPLITS:
            folder = store.path(layout.dataset_split(version, split)).rstrip("/")
            if not store.fs.isdir(folder):
                continue
            names = sorted(p for p in store.fs.ls(folder, detail=False) if p.endswith(".jsonl"))
            for path in names:
                digest, size = _hash_file(store.fs, path)
                rel = layout.dataset_split(version, split) + path.rsplit("/", 1)[-1]
                inputs.append(InputFile(version, split, rel, digest, size))
    if missing and not allow_missing:
        raise SnapshotError(
            f"missing daily partition(s) for {', '.join(missing)}: expected "
            f"{', '.join(layout.dataset(layout.daily_dataset_version(d)) for d in missing)} under {store.base}; "
            "run data preparation for those dates (or pass allow_missing=True to skip them)"
        )
    return inputs, missing


def _rows(store: _Store, item: InputFile, names: list[str], required: list[str]) -> Iterator[dict[str, Any]]:
    with store.fs.open(store.path(item.rel), "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{item.rel} line {number}"
            try:
                row = json.loads(raw)
            except (UnicodeDecodeError, ValueError) as exc:
                raise SnapshotError(f"{where}: not a JSON object ({exc})") from None
            if not isinstance(row, dict):
                raise SnapshotError(f"{where}: expected a JSON object, got {type(row).__name__}")
            for name in required:
                if row.get(name) in (None, ""):
                    if name == "input":
                        continue
                    raise SnapshotError(f"{where}: required field {name!r} is missing or empty")
            unknown = sorted(set(row) - set(names))
            if unknown:
                raise SnapshotError(f"{where}: unknown field(s) {', '.join(unknown)} (instruction_examples)")
            yield row


class _ShardWriter:
    """Writes rows to ``part-NNNNN.tmp`` shards, renamed to ``part-NNNNN-of-MMMMM.jsonl`` at close."""

    def __init__(self, store: _Store, folder: str, shard_size: int) -> None:
        self.store, self.folder, self.shard_size = store, folder, shard_size
        self.tmp: list[str] = []
        self.counts: list[int] = []
        self.digests: list[Any] = []
        self._handle = None

    def write(self, row: dict[str, Any]) -> None:
        if self._handle is None or self.counts[-1] >= self.shard_size:
            self._close_current()
            name = f"{self.folder}part-{len(self.tmp):05d}.tmp"
            self.tmp.append(name)
            self.counts.append(0)
            self.digests.append(hashlib.sha256())
            self._handle = self.store.fs.open(self.store.path(name), "wb")
        data = (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        self._handle.write(data)
        self.digests[-1].update(data)
        self.counts[-1] += 1

    def _close_current(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def close(self) -> list[dict[str, Any]]:
        self._close_current()
        total = len(self.tmp)
        out = []
        for index, (tmp, count, digest) in enumerate(zip(self.tmp, self.counts, self.digests, strict=True)):
            final = f"{self.folder}part-{index:05d}-of-{total:05d}.jsonl"
            self.store.fs.mv(self.store.path(tmp), self.store.path(final))
            out.append({"file": final, "rows": count, "sha256": digest.hexdigest()})
        return out


def _dates(start: str, end: str) -> list[str]:
    try:
        return layout.date_range(start, end)
    except layout.LayoutError as exc:
        raise SnapshotError(f"empty window: {exc}") from None


def snapshot_version(inputs: list[InputFile], params: dict[str, Any]) -> str:
    """``snap-<12 hex>``: SHA-256 of the algorithm version, the parameters and the input files' bytes."""
    payload = {
        "algorithm": SNAPSHOT_ALGORITHM,
        "params": params,
        "inputs": [[i.partition, i.split, i.rel, i.sha256] for i in inputs],
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
    return f"snap-{digest[:12]}"


def build_snapshot(
    root: str,
    start: str,
    end: str,
    eval_fraction: float | None = None,
    near_dup_threshold: float = DEFAULT_NEAR_DUP_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    shard_size: int = DEFAULT_SHARD_SIZE,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """Assemble (or find) the snapshot of the daily partitions from ``start`` to ``end`` inclusive.

    Returns the manifest: ``snapshot_version``, ``uri``, ``partitions``, ``train_examples``,
    ``eval_examples``, per-step ``counts``, the input files and output shards with their SHA-256.
    Raises ``SnapshotError`` for an empty window, missing partitions (naming the dates), a bad row
    (naming the file, line and field) or a window without any example.
    """
    if eval_fraction is not None and not 0.0 <= eval_fraction < 1.0:
        raise SnapshotError(f"eval_fraction={eval_fraction!r} must be in [0, 1)")
    if not 0.0 < near_dup_threshold <= 1.0:
        raise SnapshotError(f"near_dup_threshold={near_dup_threshold!r} must be in (0, 1]")
    if shard_size < 1:
        raise SnapshotError(f"shard_size={shard_size} must be at least 1")
    dates = _dates(start, end)
    store = _Store(root)
    inputs, missing = _find_inputs(store, dates, allow_missing)
    partitions = sorted(
        {i.partition for i in inputs} | {layout.daily_dataset_version(d) for d in dates if d not in missing}
    )
    if not partitions:
        raise SnapshotError(
            f"empty window {dates[0]}..{dates[-1]}: no daily partition found under {store.base}"
        )
    params = {
        "window": [dates[0], dates[-1]],
        "eval_fraction": eval_fraction,
        "near_dup_threshold": near_dup_threshold,
        "num_perm": num_perm,
        "shard_size": shard_size,
    }
    version = snapshot_version(inputs, params)
    out_rel = layout.dataset(version)
    manifest_rel = out_rel + "manifest.json"
    if store.fs.exists(store.path(manifest_rel)):
        with store.fs.open(store.path(manifest_rel), "rb") as handle:
            return json.loads(handle.read())
    if store.fs.exists(store.path(out_rel).rstrip("/")):  # a run died half-way: start over
        store.fs.rm(store.path(out_rel).rstrip("/"), recursive=True)
    for split in SPLITS:
        store.fs.makedirs(store.path(layout.dataset_split(version, split)).rstrip("/"), exist_ok=True)

    names, required = _schema()
    seen_hashes: set[str] = set()
    train_groups: set[str] = set()
    # candidates from a looser, recall-weighted LSH index, confirmed with the MinHash Jaccard estimate
    train_index = NearDupIndex(threshold=near_dup_threshold, num_perm=num_perm)
    eval_rows: list[dict[str, Any]] = []
    counts = {
        "rows_in": 0,
        "exact_duplicates_removed": 0,
        "group_conflicts_moved": 0,
        "near_duplicate_groups_moved": 0,
        "near_duplicate_examples_moved": 0,
    }
    train_writer = _ShardWriter(store, layout.dataset_split(version, "train"), shard_size)
    per_partition: dict[str, dict[str, int]] = {}

    def to_train(row: dict[str, Any]) -> None:
        row["split"] = "train"
        train_groups.add(row["group_key"])
        train_index.add(f"t{counts['train_written']}", example_text(row))
        counts["train_written"] += 1
        train_writer.write(row)

    counts["train_written"] = 0
    for item in inputs:
        stats = per_partition.setdefault(item.partition, {"rows_in": 0, "kept": 0})
        for row in _rows(store, item, names, required):
            counts["rows_in"] += 1
            stats["rows_in"] += 1
            if row["content_hash"] in seen_hashes:
                counts["exact_duplicates_removed"] += 1
                continue
            seen_hashes.add(row["content_hash"])
            stats["kept"] += 1
            split = row["split"]
            if eval_fraction is not None:
                split = "eval" if stable_fraction(row["group_key"]) < eval_fraction else "train"
            if split not in SPLITS:
                raise SnapshotError(f"{item.rel}: split={split!r} is neither train nor eval")
            if split == "train":
                to_train(row)
            else:
                row["split"] = "eval"
                eval_rows.append(row)

    # a group never spans splits: eval groups already seen in train move to train
    conflict = [r for r in eval_rows if r["group_key"] in train_groups]
    moved_groups = {r["group_key"] for r in conflict}
    counts["group_conflicts_moved"] = len(conflict)
    remaining = [r for r in eval_rows if r["group_key"] not in moved_groups]
    for row in conflict:
        to_train(row)

    # no near-duplicate across train/eval: an eval example close to a train example moves with its group
    near_groups = {r["group_key"] for r in remaining if train_index.has_near_duplicate(example_text(r))}
    counts["near_duplicate_groups_moved"] = len(near_groups)
    final_eval = []
    for row in remaining:
        if row["group_key"] in near_groups:
            counts["near_duplicate_examples_moved"] += 1
            to_train(row)
        else:
            final_eval.append(row)
    eval_writer = _ShardWriter(store, layout.dataset_split(version, "eval"), shard_size)
    for row in final_eval:
        eval_writer.write(row)
    train_shards = train_writer.close()
    eval_shards = eval_writer.close()
    train_total = sum(s["rows"] for s in train_shards)
    eval_total = sum(s["rows"] for s in eval_shards)
    if train_total + eval_total == 0:
        store.fs.rm(store.path(out_rel).rstrip("/"), recursive=True)
        raise SnapshotError(f"window {dates[0]}..{dates[-1]} holds no examples in {', '.join(partitions)}")
    counts.pop("train_written")
    counts["train"] = train_total
    counts["eval"] = eval_total
    # reconciliation: every input row is either an exact duplicate or written exactly once
    if counts["rows_in"] != counts["exact_duplicates_removed"] + train_total + eval_total:  # pragma: no cover
        raise SnapshotError(f"snapshot {version} does not reconcile: {counts}")
    content = hashlib.sha256(
        json.dumps([s["sha256"] for s in train_shards + eval_shards]).encode("utf-8")
    ).hexdigest()
    manifest = {
        "snapshot_version": version,
        "uri": layout.join(root, out_rel),
        "window_start": dates[0],
        "window_end": dates[-1],
        "partitions": partitions,
        "missing_dates": missing,
        "train_examples": train_total,
        "eval_examples": eval_total,
        "counts": counts,
        "per_partition": per_partition,
        "params": params,
        "algorithm": SNAPSHOT_ALGORITHM,
        "inputs": [
            {"file": i.rel, "partition": i.partition, "split": i.split, "sha256": i.sha256, "bytes": i.size}
            for i in inputs
        ],
        "outputs": {"train": train_shards, "eval": eval_shards},
        "content_hash": content,
    }
    with store.fs.open(store.path(manifest_rel), "wb") as handle:  # written last: marks the snapshot done
        handle.write((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return manifest
