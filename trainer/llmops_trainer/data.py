"""Snapshot rows → tokenized supervised examples → packed training sequences.

Rows follow the ``instruction_examples`` schema. The training text of an example is the shared prompt
renderer's text (the exact serving input) followed by the reference output and EOS; labels are ``-100`` on
the BOS and prompt tokens so the loss is on the response only. Packing puts several examples into one
sequence; ``position_ids`` restart at 0 for every example, which makes the model's attention
block-diagonal (each example attends only to itself) and its positions per example, exactly as if each
example ran alone.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_trainer import storage

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
REQUIRED_FIELDS = ("instruction", "output")
SPLITS = ("train", "eval")


class DataError(ValueError):
    """The snapshot is missing, empty or malformed; the message names the file, record and field."""


@dataclass(frozen=True)
class Example:
    """One instruction example as read from the snapshot."""

    instruction: str
    input: str
    output: str
    example_id: str
    group_key: str
    split: str
    source: str  # file:line, for error messages


@dataclass
class SplitData:
    """The rows of one split plus where they came from."""

    uri: str
    files: list[str]
    examples: list[Example]
    sha256: str


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: tuple[int, ...]
    prompt_len: int  # tokens at the start that carry no loss (BOS + prompt)
    example_id: str

    @property
    def response_tokens(self) -> int:
        return len(self.input_ids) - self.prompt_len


@dataclass
class TokenizeStats:
    examples: int = 0
    truncated: int = 0
    dropped: int = 0
    dropped_ids: list[str] = field(default_factory=list)


def split_uri(data_uri: str, split: str) -> str:
    """``datasets/<v>/`` or ``datasets/<v>/<split>/`` → the split folder."""
    trimmed = data_uri.rstrip("/")
    if trimmed.rsplit("/", 1)[-1] in SPLITS:
        return trimmed
    return storage.join(trimmed, split)


def snapshot_root(split_folder: str) -> str:
    trimmed = split_folder.rstrip("/")
    return trimmed.rsplit("/", 1)[0] if trimmed.rsplit("/", 1)[-1] in SPLITS else trimmed


def read_manifest(split_folder: str) -> dict[str, Any] | None:
    """The snapshot's ``manifest.json`` (beside the split folders), or ``None`` when absent."""
    uri = storage.join(snapshot_root(split_folder), "manifest.json")
    if not storage.exists(uri):
        return None
    try:
        manifest = json.loads(storage.read_bytes(uri))
    except json.JSONDecodeError as exc:
        raise DataError(f"{uri}: manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or "snapshot_version" not in manifest:
        raise DataError(f"{uri}: manifest lacks field 'snapshot_version'")
    return manifest


def read_split(uri: str, expected_split: str | None = None, limit: int | None = None) -> SplitData:
    """Read every ``part-*.jsonl`` file of a split folder, failing clearly on bad input."""
    if not storage.exists(uri):
        raise DataError(f"dataset split folder {uri} does not exist")
    names = [n for n in storage.list_dir(uri) if n.startswith("part-") and n.endswith(".jsonl")]
    if not names:
        raise DataError(f"dataset split folder {uri} has no part-*.jsonl files")
    digest = hashlib.sha256()
    examples: list[Example] = []
    files = []
    for name in names:
        file_uri = storage.join(uri, name)
        files.append(file_uri)
        raw = storage.read_bytes(file_uri)
        digest.update(name.encode() + b"\0" + hashlib.sha256(raw).digest())
        for line_no, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            examples.append(_parse_row(line, f"{file_uri}:{line_no}", expected_split))
    if not examples:
        raise DataError(f"dataset split folder {uri} is empty (files {', '.join(names)} hold no rows)")
    if limit is not None:
        examples = examples[:limit]
    return SplitData(uri=uri, files=files, examples=examples, sha256=digest.hexdigest())


def _parse_row(line: str, where: str, expected_split: str | None) -> Example:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise DataError(f"{where}: a row must be a JSON object")
    for name in REQUIRED_FIELDS:
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: field {name!r} is missing or empty")
    text_input = row.get("input") or ""
    if not isinstance(text_input, str):
        raise DataError(f"{where}: field 'input' must be a string or null")
    split = row.get("split") or ""
    if expected_split and split and split != expected_split:
        raise DataError(f"{where}: field 'split' is {split!r} but the row is in the {expected_split} folder")
    return Example(
        instruction=row["instruction"],
        input=text_input,
        output=row["output"],
        example_id=str(row.get("example_id") or where),
        group_key=str(row.get("group_key") or ""),
        split=split or (expected_split or ""),
        source=where,
    )


def check_disjoint(train: SplitData, eval_: SplitData) -> None:
    """A conversation/document (group_key) must never be in both splits."""
    train_groups = {e.group_key for e in train.examples if e.group_key}
    both = sorted(g for g in {e.group_key for e in eval_.examples if e.group_key} if g in train_groups)
    if both:
        raise DataError(
            f"group_key(s) {', '.join(both[:5])} appear in both {train.uri} and {eval_.uri} (split leak)"
        )


def render_prompts(examples: Sequence[Example], prompt_ref: str, prompt_root: str | None = None):
    """Render every example with the shared serving prompt; returns ``(prompt, texts)``."""
    from llmops_factory.prompts import load_prompt, render

    prompt = load_prompt(prompt_ref, root=prompt_root) if prompt_root else load_prompt(prompt_ref)
    texts = []
    for ex in examples:
        try:
            texts.append(render(prompt, {"instruction": ex.instruction, "input": ex.input}).text)
        except Exception as exc:  # the renderer's own error names the variable
            raise DataError(f"{ex.source}: prompt {prompt_ref} cannot render this row: {exc}") from exc
    return prompt, texts


def tokenize_examples(
    examples: Sequence[Example],
    prompt_texts: Sequence[str],
    tokenizer,
    max_seq_length: int,
) -> tuple[list[TokenizedExample], TokenizeStats]:
    """BOS + prompt + output + EOS, prompt masked; long responses are truncated, counted and logged.

    An example whose prompt alone leaves no room for a response token is dropped, counted and logged
    by id (never silently).
    """
    stats = TokenizeStats()
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos_id = tokenizer.eos_token_id
    if eos_id is None:
        raise DataError("the tokenizer has no EOS token; the model could not learn where answers end")
    prompt_ids = tokenizer(list(prompt_texts), add_special_tokens=False)["input_ids"]
    output_ids = tokenizer([ex.output for ex in examples], add_special_tokens=False)["input_ids"]
    out: list[TokenizedExample] = []
    for ex, p_ids, o_ids in zip(examples, prompt_ids, output_ids, strict=True):
        stats.examples += 1
        prompt_part = bos + list(p_ids)
        response = list(o_ids) + [eos_id]
        room = max_seq_length - len(prompt_part)
        if room < 1:
            stats.dropped += 1
            stats.dropped_ids.append(ex.example_id)
            log.warning(
                "example %s (%s): prompt is %d tokens, max_seq_length %d leaves no room for the response; "
                "dropped",
                ex.example_id,
                ex.source,
                len(prompt_part),
                max_seq_length,
            )
            continue
        if len(response) > room:
            stats.truncated += 1
            response = response[:room]
        out.append(TokenizedExample(tuple(prompt_part + response), len(prompt_part), ex.example_id))
    if stats.truncated:
        log.warning(
            "%d of %d examples had their response truncated to max_seq_length",
            stats.truncated,
            stats.examples,
        )
    return out, stats


def pack(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit-decreasing bin packing: groups of example indices whose lengths fit ``capacity``.

    Deterministic: ties break by index. Each group keeps its examples in index order.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (remaining capacity, bin id)
    for idx in order:
        size = lengths[idx]
        if size > capacity:
            raise ValueError(f"example {idx} has {size} tokens > capacity {capacity}")
        pos = bisect.bisect_left(free, (size, -1))
        if pos < len(free):
            remaining, bin_id = free.pop(pos)
            bins[bin_id].append(idx)
            remaining -= size
        else:
            bin_id = len(bins)
            bins.append([idx])
            remaining = capacity - size
        if remaining > 0:
            bisect.insort(free, (remaining, bin_id))
    return [sorted(b) for b in bins]


def build_rows(examples: Sequence[TokenizedExample], max_seq_length: int, packing: bool) -> list[list[int]]:
    """Rows of example indices: packed groups, or one example per row."""
    if packing:
        return pack([len(e.input_ids) for e in examples], max_seq_length)
    return [[i] for i in range(len(examples))]


def collate(
    rows: Iterable[Sequence[int]],
    examples: Sequence[TokenizedExample],
    pad_token_id: int,
    pad_to: int | None = None,
) -> dict[str, Any]:
    """Tensors for one micro-batch: ``input_ids``, ``labels``, ``position_ids`` (no attention mask).

    Positions restart at 0 for each example and for the trailing padding, so every example sees only
    itself (block-diagonal causal attention) and padding sees only padding. Labels are ``-100`` on
    prompt and padding tokens. Rows are padded to the longest row, or to ``pad_to``.
    """
    import torch

    rows = [list(r) for r in rows]
    lengths = [sum(len(examples[i].input_ids) for i in r) for r in rows]
    width = pad_to or max(lengths)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        cursor = 0
        for i in row:
            ex = examples[i]
            n = len(ex.input_ids)
            ids[b, cursor : cursor + n] = torch.tensor(ex.input_ids)
            labels[b, cursor + ex.prompt_len : cursor + n] = torch.tensor(ex.input_ids[ex.prompt_len :])
            positions[b, cursor : cursor + n] = torch.arange(n)
            cursor += n
        if cursor < width:
            positions[b, cursor:] = torch.arange(width - cursor)
    real = torch.tensor(lengths).sum().item()
    return {
        "input_ids": ids,
        "labels": labels,
        "position_ids": positions,
        "real_tokens": int(real),
        "label_tokens": int((labels != IGNORE_INDEX).sum().item()),
        "total_tokens": int(ids.numel()),
    }


def collate_flat(rows: Iterable[Sequence[int]], examples: Sequence[TokenizedExample]) -> dict[str, Any]:
    """One micro-batch as a single unpadded sequence, for per-example (segment) attention.

    The examples of all ``rows`` go back to back in one row; ``position_ids`` restart at 0 for each
    example and ``segments`` holds each example's ``(start, end)``, so attention (see ``attention.py``)
    keeps every example to itself, as in ``collate``. Nothing is padded: the model computes only real
    tokens. Labels are ``-100`` on prompt tokens.
    """
    import torch

    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    segments: list[tuple[int, int]] = []
    for row in rows:
        for i in row:
            ex = examples[i]
            n = len(ex.input_ids)
            segments.append((len(ids), len(ids) + n))
            ids += ex.input_ids
            labels += [IGNORE_INDEX] * ex.prompt_len + list(ex.input_ids[ex.prompt_len :])
            positions += range(n)
    label_tensor = torch.tensor([labels], dtype=torch.long)
    return {
        "input_ids": torch.tensor([ids], dtype=torch.long),
        "labels": label_tensor,
        "position_ids": torch.tensor([positions], dtype=torch.long),
        "segments": segments,
        "real_tokens": len(ids),
        "label_tokens": int((label_tensor != IGNORE_INDEX).sum().item()),
        "total_tokens": len(ids),
    }


def useful_fraction(
    rows: Sequence[Sequence[int]],
    examples: Sequence[TokenizedExample],
    batch_size: int,
    pad_to: int | None = None,
) -> float:
    """Share of non-padding tokens in the batches these rows make (in order, ``batch_size`` rows each)."""
    real = total = 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        lengths = [sum(len(examples[i].input_ids) for i in r) for r in batch]
        real += sum(lengths)
        total += len(batch) * (pad_to or max(lengths))
    return real / total if total else 0.0
