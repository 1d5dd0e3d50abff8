"""The data-preparation pipeline: one day of raw data → a versioned instruction dataset.

    ReadRawPartition → ParseRecords → NormalizeText → RedactPii → QualityFilter → ExactDedup
      → NearDedup → FormatExamples → AssignSplit → WriteTrain / WriteEval / WriteDeadLetter
      → CountOutcomes → WriteManifest

Outputs (dataset version ``daily-<ds>``) under the storage root: ``datasets/daily-<ds>/{train,eval}/
part-NNNNN-of-MMMMM.jsonl`` (``instruction_examples`` rows), ``datasets/daily-<ds>/dead_letter/…``
(``dead_letter_records`` rows), ``datasets/daily-<ds>/filtered/…`` (one line per filtered record: where
it came from, the step, the reason and a detail) and ``datasets/daily-<ds>/manifest.json`` (written last). The dataset
folder is deleted before the run, so a re-run for the same ``ds`` replaces exactly that day.

``run(argv)`` takes the pipeline's own flags (below) and hands the rest to ``PipelineOptions``, so the
same command runs on ``--runner=DirectRunner`` (storage root a folder or ``file://`` URI) and on
``--runner=DataflowRunner`` (``gs://`` root, ``--project``, ``--region``, ``--setup_file``…).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions, StandardOptions

from llmops_beam.dedup import ExactDedup, NearDedup
from llmops_beam.format import FormatExamples, PortablePrompt
from llmops_beam.io import ReadRawPartition, join, list_partition_files, normalize_root
from llmops_beam.normalize import NormalizeText
from llmops_beam.parse import ParseRecords
from llmops_beam.pii import RedactPii
from llmops_beam.quality import QualityFilter
from llmops_beam.records import STATS
from llmops_beam.sinks import (
    FILTERED_COLUMNS,
    FILTERED_DIR,
    WriteManifest,
    WriteShards,
    dead_letter_row,
    filtered_row,
)
from llmops_beam.split import AssignSplit
from llmops_factory.errors import DeterministicError
from llmops_factory.prompts.refs import DEFAULT_PROMPT_REF

LOG = logging.getLogger(__name__)
DEFAULT_PROMPT = DEFAULT_PROMPT_REF
DEFAULT_INSTRUCTION_PROMPT = "support_instruction@1.0.0"
CANONICAL_FIELDS = frozenset(
    {"id", "instruction", "input", "output", "context", "response", "instances", "messages", "conversations"}
)


class InvalidOptionsError(ValueError, DeterministicError):
    """The pipeline's options are invalid (a retry cannot fix them); the message names each flag."""


def parse_field_mappings(value: str | None) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """``{"source": {"instruction": "question", ...}}`` (JSON) → a hashable, sorted form."""
    if not value:
        return ()
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise InvalidOptionsError(f"--field_mappings is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
        for m in data.values()
    ):
        raise InvalidOptionsError(
            '--field_mappings must map source -> {canonical field: source field}, e.g. {"qa": {"output": "answer"}}'
        )
    unknown = sorted({k for m in data.values() for k in m} - CANONICAL_FIELDS)
    if unknown:
        raise InvalidOptionsError(
            f"--field_mappings names unknown canonical field(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(CANONICAL_FIELDS))}"
        )
    return tuple(sorted((source, tuple(sorted(m.items()))) for source, m in data.items()))


@dataclasses.dataclass(frozen=True)
class PrepConfig:
    """The pipeline's own settings (everything that decides the output; recorded in the manifest)."""

    storage_root: str
    ds: str
    prompt: str = DEFAULT_PROMPT
    instruction_prompt: str = DEFAULT_INSTRUCTION_PROMPT
    prompt_root: str | None = None
    eval_fraction: float = 0.1
    min_chars: int = 20
    max_chars: int = 20_000
    languages: tuple[str, ...] = ("en",)
    num_shards: int = 4
    dead_letter_shards: int = 1
    near_dup_threshold: float = 0.8
    minhash_perm: int = 128
    lsh_bands: int = 20
    lsh_rows: int = 6
    max_context_turns: int = 6
    max_context_chars: int = 2000
    toxicity_threshold: float = 0.8
    field_mappings: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def __post_init__(self):
        from llmops_factory import layout

        object.__setattr__(self, "ds", layout.partition_date(self.ds))
        problems = []
        if not 0 <= self.eval_fraction <= 1:
            problems.append(f"--eval_fraction={self.eval_fraction} must be in [0, 1]")
        if self.min_chars < 0 or self.max_chars <= self.min_chars:
            problems.append(
                f"--min_chars={self.min_chars} / --max_chars={self.max_chars}: need 0 <= min < max"
            )
        if not self.languages:
            problems.append("--languages must name at least one ISO 639-1 code")
        if self.num_shards < 1 or self.dead_letter_shards < 1:
            problems.append("--num_shards and --dead_letter_shards must be >= 1")
        if not 0 < self.near_dup_threshold <= 1:
            problems.append(f"--near_dup_threshold={self.near_dup_threshold} must be in (0, 1]")
        if self.lsh_bands * self.lsh_rows > self.minhash_perm:
            problems.append(f"--lsh_bands*--lsh_rows={self.lsh_bands * self.lsh_rows} > --minhash_perm")
        if not 0 < self.toxicity_threshold <= 1:
            problems.append(f"--toxicity_threshold={self.toxicity_threshold} must be in (0, 1]")
        if problems:
            raise InvalidOptionsError("invalid data-preparation options: " + "; ".join(problems))

    @property
    def field_mapping_dict(self) -> dict[str, dict[str, str]]:
        return {source: dict(pairs) for source, pairs in self.field_mappings}

    @property
    def dataset_version(self) -> str:
        from llmops_factory import layout

        return layout.daily_dataset_version(self.ds)

    def summary(self) -> dict[str, Any]:
        """The options that decide the output (no paths, so the manifest is the same for any root)."""
        data = dataclasses.asdict(self)
        data.pop("storage_root")
        data.pop("prompt_root")
        data["languages"] = list(self.languages)
        data["field_mappings"] = self.field_mapping_dict
        return data


def parse_args(argv: list[str] | None = None) -> tuple[PrepConfig, list[str]]:
    """The pipeline's own flags; unknown ones are returned for ``PipelineOptions``."""
    parser = argparse.ArgumentParser(description="Prepare one day of raw data as instruction examples.")
    parser.add_argument("--storage_root", required=True, help="gs://bucket, file:///path or a local folder")
    parser.add_argument("--ds", required=True, help="partition date YYYY-MM-DD (the run's data interval)")
    parser.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help="serving prompt name@version for prompt_text"
    )
    parser.add_argument(
        "--instruction_prompt",
        default=DEFAULT_INSTRUCTION_PROMPT,
        help="prompt that turns a document section into an instruction",
    )
    parser.add_argument(
        "--prompt_root",
        default=None,
        help="load prompts from published bundles under this storage root (default: repository)",
    )
    parser.add_argument("--eval_fraction", type=float, default=0.1)
    parser.add_argument("--min_chars", type=int, default=20)
    parser.add_argument("--max_chars", type=int, default=20_000)
    parser.add_argument("--languages", default="en", help="comma-separated ISO 639-1 codes to keep")
    parser.add_argument("--num_shards", type=int, default=4, help="shards per split (train and eval)")
    parser.add_argument("--dead_letter_shards", type=int, default=1)
    parser.add_argument(
        "--near_dup_threshold",
        type=float,
        default=0.8,
        help="5-word-shingle Jaccard index at or above which two records are near-duplicates",
    )
    parser.add_argument("--minhash_perm", type=int, default=128)
    parser.add_argument("--lsh_bands", type=int, default=20)
    parser.add_argument("--lsh_rows", type=int, default=6)
    parser.add_argument("--max_context_turns", type=int, default=6)
    parser.add_argument("--max_context_chars", type=int, default=2000)
    parser.add_argument(
        "--toxicity_threshold",
        type=float,
        default=None,
        help="offensive-language probability at or above which a record is filtered "
        "(default: settings dataprep.toxicity_threshold)",
    )
    parser.add_argument(
        "--field_mappings",
        default=None,
        help="JSON {source: {canonical field: source field}} for sources with their own schema "
        "(default: settings dataprep.field_mappings)",
    )
    known, rest = parser.parse_known_args(argv)
    values = vars(known)
    if values["toxicity_threshold"] is None or values["field_mappings"] is None:
        defaults = _dataprep_settings()
        if values["toxicity_threshold"] is None:
            values["toxicity_threshold"] = defaults["toxicity_threshold"]
        if values["field_mappings"] is None:
            values["field_mappings"] = json.dumps(defaults["field_mappings"])
    values["field_mappings"] = parse_field_mappings(values["field_mappings"])
    values["languages"] = tuple(
        sorted({x.strip().lower() for x in values["languages"].split(",") if x.strip()})
    )
    return PrepConfig(**values), rest


def _dataprep_settings() -> dict:
    """The ``dataprep`` block of the project settings (read in the launcher, never on workers)."""
    from llmops_factory.settings import get_settings

    block = get_settings().dataprep
    return {"toxicity_threshold": block.toxicity_threshold, "field_mappings": block.field_mappings}


def load_prompts(config: PrepConfig) -> tuple[PortablePrompt, PortablePrompt]:
    """Load (and integrity-check) both prompts in the launcher; workers get their validated specs."""
    from llmops_factory.prompts import load_prompt

    root = config.prompt_root
    return (
        PortablePrompt(load_prompt(config.prompt, root=root)),
        PortablePrompt(load_prompt(config.instruction_prompt, root=root)),
    )


def _schema_columns(table: str) -> tuple[str, ...]:
    from llmops_factory.warehouse.schemas import load_schema

    return tuple(f["name"] for f in load_schema(table))


def build_pipeline(
    p: beam.Pipeline,
    config: PrepConfig,
    files: list[tuple[str, str]],
    prompts: tuple[PortablePrompt, PortablePrompt],
) -> dict[str, beam.PCollection]:
    """Add the whole pipeline to ``p``; returns the named outputs (for tests and callers)."""
    from llmops_factory import layout

    root = normalize_root(config.storage_root)
    version = config.dataset_version
    serving, instruction = prompts

    raw = p | "ReadRawPartition" >> ReadRawPartition(root, files)
    parsed = raw | "ParseRecords" >> ParseRecords(config.field_mapping_dict)
    normalized = parsed.records | "NormalizeText" >> NormalizeText()
    redacted = normalized | "RedactPii" >> RedactPii()
    passed = redacted.records | "QualityFilter" >> QualityFilter(
        config.min_chars, config.max_chars, config.languages, config.toxicity_threshold
    )
    unique = passed.records | "ExactDedup" >> ExactDedup()
    distinct = unique.records | "NearDedup" >> NearDedup(
        config.near_dup_threshold, config.minhash_perm, config.lsh_bands, config.lsh_rows
    )
    formatted = distinct.records | "FormatExamples" >> FormatExamples(
        serving, instruction, version, config.ds, config.max_context_turns, config.max_context_chars
    )
    split = formatted.examples | "AssignSplit" >> AssignSplit(config.eval_fraction)

    example_columns = _schema_columns("instruction_examples")
    train_files = split.train | "WriteTrain" >> WriteShards(
        root, layout.dataset_split(version, "train"), config.num_shards, example_columns
    )
    eval_files = split.eval | "WriteEval" >> WriteShards(
        root, layout.dataset_split(version, "eval"), config.num_shards, example_columns
    )

    dead_letters = (parsed.dead_letter, formatted.dead_letter) | "AllDeadLetters" >> beam.Flatten()
    filtered = (passed.filtered, unique.filtered, distinct.filtered) | "AllFiltered" >> beam.Flatten()
    dead_files = (
        dead_letters
        | "ToDeadLetterRows" >> beam.Map(dead_letter_row, version, config.ds)
        | "WriteDeadLetter"
        >> WriteShards(
            root,
            layout.dataset_dead_letter(version),
            config.dead_letter_shards,
            _schema_columns("dead_letter_records"),
        )
    )

    filtered_files = (
        filtered
        | "ToFilteredRows" >> beam.Map(filtered_row)
        | "WriteFilteredLog"
        >> WriteShards(
            root, layout.dataset(version) + FILTERED_DIR, config.dead_letter_shards, FILTERED_COLUMNS
        )
    )

    events = (
        raw | "CountRecordsIn" >> beam.Map(lambda r: (("records_in", r["source"]), 1)),
        raw
        | "CountPerFile"
        >> beam.Map(lambda r: (("file", r["source"], r["source_uri"], r["source_format"]), 1)),
        formatted[STATS] | "CountRecordsOk" >> beam.Map(lambda kv: kv),
        split.train | "CountTrain" >> beam.Map(lambda kv: (("examples", kv[1]["source"], "train"), 1)),
        split.eval | "CountEval" >> beam.Map(lambda kv: (("examples", kv[1]["source"], "eval"), 1)),
        filtered
        | "CountFiltered" >> beam.Map(lambda f: (("filtered", f["source"], f["stage"], f["reason"]), 1)),
        dead_letters
        | "CountDeadLettered"
        >> beam.Map(lambda d: (("dead_lettered", d["source"], d["stage"], d["reason"]), 1)),
        redacted[STATS] | "CountPii" >> beam.Map(lambda kv: (("pii", kv[0].split(".", 1)[1]), kv[1])),
    )
    counts = events | "FlattenCounts" >> beam.Flatten() | "SumCounts" >> beam.CombinePerKey(sum)

    base = {
        "format": "llmops-dataprep-manifest-v1",
        "dataset_version": version,
        "ds": config.ds,
        "prompt": serving.describe(),
        "instruction_prompt": instruction.describe(),
        "options": config.summary(),
        "accounting": "records_in = records_ok + sum(filtered) + sum(dead_lettered); "
        "examples_out = train_examples + eval_examples (one example per assistant reply)",
    }
    from llmops_factory.dataprep.manifest import manifest_path

    manifest = (
        counts,
        train_files,
        eval_files,
        dead_files,
        filtered_files,
    ) | "WriteManifest" >> WriteManifest(root, manifest_path(version), base)
    return {
        "raw": raw,
        "records": distinct.records,
        "train": split.train,
        "eval": split.eval,
        "dead_letters": dead_letters,
        "filtered": filtered,
        "counts": counts,
        "manifest": manifest,
    }


def delete_dataset(root: str, dataset_version: str) -> int:
    """Delete ``datasets/<version>/`` under ``root`` (idempotent re-run); returns the files removed."""
    from llmops_factory import layout

    root = normalize_root(root)
    folder = join(root, layout.dataset(dataset_version))
    if "://" not in folder:
        import os
        import shutil

        if not os.path.isdir(folder):
            return 0
        count = sum(len(files) for _, _, files in os.walk(folder))
        shutil.rmtree(folder)
        return count
    matches = FileSystems.match([folder + "**"])[0].metadata_list
    paths = [m.path for m in matches]
    if paths:
        FileSystems.delete(paths)
    return len(paths)


def run(argv: list[str] | None = None, save_main_session: bool = False) -> dict[str, Any]:
    """Run the pipeline for one day; returns ``{"dataset_version", "manifest_uri", "files_in", "state"}``.

    Fails before any work when the partition has no file (``EmptyPartitionError``) or an option or
    prompt is invalid.
    """
    config, pipeline_args = parse_args(argv)
    options = PipelineOptions(pipeline_args)
    options.view_as(SetupOptions).save_main_session = save_main_session
    root = normalize_root(config.storage_root)
    files = list_partition_files(root, config.ds)
    prompts = load_prompts(config)
    removed = delete_dataset(root, config.dataset_version)
    from llmops_factory.dataprep.manifest import manifest_path

    LOG.info(
        "data prep ds=%s: %d raw files, runner=%s, removed %d old output files of %s",
        config.ds,
        len(files),
        options.view_as(StandardOptions).runner or "DirectRunner",
        removed,
        config.dataset_version,
    )
    p = beam.Pipeline(options=options)
    build_pipeline(p, config, files, prompts)
    result = p.run()
    state = result.wait_until_finish()
    return {
        "dataset_version": config.dataset_version,
        "manifest_uri": join(root, manifest_path(config.dataset_version)),
        "files_in": len(files),
        "state": str(state),
    }
