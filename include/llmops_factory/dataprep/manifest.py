"""The data-preparation manifest: its shape, reconciliation and the day's validation.

The Beam pipeline writes ``datasets/daily-<ds>/manifest.json`` last, from counts of its own output
PCollections (exact on every runner). The DAG's validation task reads it and calls ``validate_day``.

Accounting (per source and in total; a *record* is one raw record: a JSONL line, a CSV row, a Markdown
or text section, or one unreadable file)::

    records_in   = records_ok + Σ filtered[reason] + Σ dead_lettered[reason]
    examples_out = Σ examples of the records_ok records   (≥ 1 each; a conversation yields one per reply)
    examples_out = train_examples + eval_examples = Σ rows of the train and eval shards

No Beam or Airflow import.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from llmops_factory.errors import DeterministicError

MANIFEST_FORMAT = "llmops-dataprep-manifest-v1"
MANIFEST_NAME = "manifest.json"


class ReconciliationError(ValueError, DeterministicError):
    """The manifest's counts do not add up; the message gives every mismatching equation with its counts."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("manifest does not reconcile:\n" + "\n".join(f"  - {p}" for p in self.problems))


class DataValidationError(ValueError, DeterministicError):
    """The day's data fails validation; ``problems`` lists every failed check with its counts."""

    def __init__(self, problems: Sequence[str], summary: Mapping[str, Any] | None = None):
        self.problems = list(problems)
        self.summary = dict(summary or {})
        super().__init__("data validation failed:\n" + "\n".join(f"  - {p}" for p in self.problems))


@dataclasses.dataclass(frozen=True)
class DayValidation:
    """What a passing validation checked, for the task log and XCom."""

    dataset_version: str
    records_in: int
    records_ok: int
    examples_out: int
    train_examples: int
    eval_examples: int
    filtered: int
    dead_lettered: int
    dead_letter_ratio: float
    rows_in_warehouse: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def manifest_path(dataset_version: str) -> str:
    """Layout path of a daily dataset's manifest (relative to the storage root)."""
    from llmops_factory import layout

    return layout.dataset(dataset_version) + MANIFEST_NAME


def load_manifest(data: str | bytes | Mapping[str, Any], where: str = "manifest.json") -> dict[str, Any]:
    """Parse a manifest (JSON text or an already-parsed mapping) and check its top-level shape."""
    if isinstance(data, Mapping):
        manifest = dict(data)
    else:
        try:
            manifest = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ReconciliationError([f"{where}: not valid JSON ({exc})"]) from None
    if not isinstance(manifest, dict):
        raise ReconciliationError([f"{where}: expected a JSON object, got {type(manifest).__name__}"])
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ReconciliationError(
            [f"{where}: field 'format' is {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}"]
        )
    missing = [k for k in ("dataset_version", "totals", "per_source", "files") if k not in manifest]
    if missing:
        raise ReconciliationError([f"{where}: missing field(s) {', '.join(missing)}"])
    return manifest


def _int(mapping: Mapping[str, Any], key: str, where: str, problems: list[str]) -> int:
    value = mapping.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        problems.append(f"{where}: field {key!r} must be a non-negative integer, got {value!r}")
        return 0
    return value


def _sum_reasons(mapping: Mapping[str, Any], key: str, where: str, problems: list[str]) -> int:
    reasons = mapping.get(key, {})
    if not isinstance(reasons, Mapping):
        problems.append(f"{where}: field {key!r} must map reason -> count, got {type(reasons).__name__}")
        return 0
    return sum(_int(reasons, r, f"{where}.{key}", problems) for r in reasons)


def _check_counts(counts: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, int]:
    records_in = _int(counts, "records_in", where, problems)
    records_ok = _int(counts, "records_ok", where, problems)
    examples_out = _int(counts, "examples_out", where, problems)
    train = _int(counts, "train_examples", where, problems)
    eval_ = _int(counts, "eval_examples", where, problems)
    filtered = _sum_reasons(counts, "filtered", where, problems)
    dead = _sum_reasons(counts, "dead_lettered", where, problems)
    if records_in != records_ok + filtered + dead:
        problems.append(
            f"{where}: records_in={records_in} != records_ok={records_ok} + filtered={filtered} "
            f"+ dead_lettered={dead} (= {records_ok + filtered + dead}; "
            f"{records_in - records_ok - filtered - dead:+d} unaccounted)"
        )
    if examples_out != train + eval_:
        problems.append(
            f"{where}: examples_out={examples_out} != train_examples={train} + eval_examples={eval_}"
        )
    if records_ok > examples_out:
        problems.append(
            f"{where}: records_ok={records_ok} > examples_out={examples_out} (every kept record yields an example)"
        )
    return {
        "records_in": records_in,
        "records_ok": records_ok,
        "examples_out": examples_out,
        "train_examples": train,
        "eval_examples": eval_,
        "filtered": filtered,
        "dead_lettered": dead,
    }


def reconcile(manifest: Mapping[str, Any]) -> None:
    """Check the accounting equations of a manifest, per source and in total; raise ``ReconciliationError``.

    Checks: records_in = records_ok + Σ filtered + Σ dead_lettered; examples_out = train + eval; the
    totals equal the sum over sources; the rows of the written shards equal the counted examples and
    dead letters.
    """
    manifest = load_manifest(manifest)
    problems: list[str] = []
    totals = _check_counts(manifest["totals"], "totals", problems)
    per_source = manifest["per_source"]
    if not isinstance(per_source, Mapping):
        raise ReconciliationError(["per_source: expected a mapping of source -> counts"])
    summed = dict.fromkeys(totals, 0)
    for source in sorted(per_source):
        counts = _check_counts(per_source[source], f"per_source[{source!r}]", problems)
        for key, value in counts.items():
            summed[key] += value
    for key, value in totals.items():
        if summed[key] != value:
            problems.append(f"totals.{key}={value} != sum over sources {summed[key]}")
    for reason_key in ("filtered", "dead_lettered"):
        by_reason: dict[str, int] = {}
        for counts in per_source.values():
            for reason, n in (counts.get(reason_key) or {}).items():
                by_reason[reason] = by_reason.get(reason, 0) + int(n)
        declared = {k: int(v) for k, v in (manifest["totals"].get(reason_key) or {}).items() if int(v)}
        if {k: v for k, v in by_reason.items() if v} != declared:
            problems.append(f"totals.{reason_key} {declared} != sum over sources {by_reason}")
    files = manifest["files"]
    for split, expected in (
        ("train", totals["train_examples"]),
        ("eval", totals["eval_examples"]),
        ("dead_letter", totals["dead_lettered"]),
        ("filtered", totals["filtered"]),
    ):
        shards = files.get(split)
        if not isinstance(shards, list):
            problems.append(f"files.{split}: missing list of shards")
            continue
        rows = sum(int(s.get("rows", 0)) for s in shards)
        if rows != expected:
            problems.append(
                f"files.{split}: {rows} rows written in {len(shards)} shard(s) != {expected} counted"
            )
    if problems:
        raise ReconciliationError(problems)


def validate_day(
    manifest: Mapping[str, Any],
    rows_in_warehouse: int,
    dead_letter_ratio_max: float,
    min_examples: int,
) -> DayValidation:
    """Validate one prepared day; raise ``DataValidationError`` listing every failure with counts.

    Checks that the manifest reconciles, that the warehouse partition holds exactly ``examples_out``
    rows, that dead_lettered / records_in ≤ ``dead_letter_ratio_max`` and that at least
    ``min_examples`` examples came out. The PII re-scan of the rows is ``scan_for_pii`` (the caller
    reads the rows from its warehouse).
    """
    problems: list[str] = []
    try:
        reconcile(manifest)
    except ReconciliationError as exc:
        problems.extend(exc.problems)
    manifest = load_manifest(manifest)
    totals = manifest["totals"]
    records_in = int(totals.get("records_in", 0))
    examples_out = int(totals.get("examples_out", 0))
    dead = sum(int(v) for v in (totals.get("dead_lettered") or {}).values())
    filtered = sum(int(v) for v in (totals.get("filtered") or {}).values())
    ratio = dead / records_in if records_in else 1.0
    dead_by_reason = ", ".join(f"{k}={v}" for k, v in sorted((totals.get("dead_lettered") or {}).items()))
    if records_in == 0:
        problems.append("records_in=0: the raw partition held no records")
    if ratio > dead_letter_ratio_max:
        problems.append(
            f"dead-letter ratio {ratio:.3f} ({dead}/{records_in}) > {dead_letter_ratio_max} "
            f"(by reason: {dead_by_reason or 'none'})"
        )
    if examples_out < min_examples:
        problems.append(f"examples_out={examples_out} < min_examples={min_examples}")
    if rows_in_warehouse != examples_out:
        problems.append(
            f"warehouse holds {rows_in_warehouse} rows for {manifest['dataset_version']} "
            f"but the manifest counts examples_out={examples_out}"
        )
    summary = DayValidation(
        dataset_version=str(manifest["dataset_version"]),
        records_in=records_in,
        records_ok=int(totals.get("records_ok", 0)),
        examples_out=examples_out,
        train_examples=int(totals.get("train_examples", 0)),
        eval_examples=int(totals.get("eval_examples", 0)),
        filtered=filtered,
        dead_lettered=dead,
        dead_letter_ratio=round(ratio, 6),
        rows_in_warehouse=rows_in_warehouse,
    )
    if problems:
        raise DataValidationError(problems, summary.as_dict())
    return summary


# -- warehouse row checks ---------------------------------------------------------------------------
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "INT64": (int,),
    "INTEGER": (int,),
    "FLOAT64": (float, int),
    "FLOAT": (float, int),
    "BOOL": (bool,),
    "BOOLEAN": (bool,),
    "DATE": (str,),
    "TIMESTAMP": (str,),
    "JSON": (str, dict, list),
}


def check_row(row: Mapping[str, Any], fields: Sequence[Mapping[str, Any]]) -> list[str]:
    """Problems that keep ``row`` (a JSON-ready dict) from matching a BigQuery schema exactly.

    Exact means: the same set of columns, REQUIRED columns non-null, values of the column's type
    (DATE as ``YYYY-MM-DD``). Returns an empty list for a conforming row.
    """
    problems: list[str] = []
    names = [f["name"] for f in fields]
    extra = sorted(set(row) - set(names))
    missing = [n for n in names if n not in row]
    if extra:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    for field in fields:
        name = field["name"]
        if name not in row:
            continue
        value = row[name]
        mode = str(field.get("mode", "NULLABLE")).upper()
        typ = str(field["type"]).upper()
        if value is None:
            if mode == "REQUIRED":
                problems.append(f"column {name!r} is REQUIRED but null")
            continue
        values = value if mode == "REPEATED" else [value]
        if mode == "REPEATED" and not isinstance(value, list):
            problems.append(f"column {name!r} is REPEATED but not a list")
            continue
        for v in values:
            allowed = _PY_TYPES.get(typ)
            if allowed and (
                not isinstance(v, allowed) or (typ in ("INT64", "INTEGER") and isinstance(v, bool))
            ):
                problems.append(f"column {name!r} ({typ}) has a {type(v).__name__} value")
            elif typ == "DATE":
                try:
                    _dt.date.fromisoformat(v)
                except ValueError:
                    problems.append(f"column {name!r} (DATE) is not YYYY-MM-DD: {v!r}")
    return problems
