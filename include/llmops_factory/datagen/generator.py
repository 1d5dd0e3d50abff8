"""Generate one day of raw support data, with injected defects and their ground truth.

Layout (relative to the storage root, see ``llmops_factory.layout``)::

    raw/support_chats/dt=<ds>/conversations-00000.jsonl   OpenAI-style chat JSONL (sharded)
    raw/chat_exports/dt=<ds>/export-00000.jsonl           ShareGPT-style JSONL (sharded)
    raw/tickets/dt=<ds>/tickets.csv                        CSV export (tickets-00000.csv... when sharded)
    raw/faq/dt=<ds>/faq.jsonl                              instruction records
    raw/help_center/dt=<ds>/<slug>.md                      Markdown articles
    raw/policies/dt=<ds>/<slug>.txt                        plain-text policies
    reports/datagen/dt=<ds>/ground_truth.jsonl             one object per injection
    reports/datagen/dt=<ds>/summary.json                   counts per source and kind

Output is a pure function of (seed, ds, scale, rates, sources): every random stream is seeded with
``"<seed>:<ds>:<source>[:<purpose>]"``, nothing reads the clock, and files are written in a fixed order.
Records are streamed to sharded files, so memory stays flat at a million records a day.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec

from llmops_factory import layout
from llmops_factory.datagen import content as ct
from llmops_factory.datagen import defects as df
from llmops_factory.datagen import pii
from llmops_factory.datagen.facts import Facts, fact_items, load_facts

GENERATOR_VERSION = "1"
DEFAULT_SCALE = 200
DEFAULT_SHARD_SIZE = 50_000
SOURCES = ("support_chats", "chat_exports", "tickets", "faq", "help_center", "policies")
LINE_SOURCES = ("support_chats", "chat_exports", "tickets")
# Shares of the daily record budget taken by the bounded sources (capped by what the facts hold);
# the rest is split between the conversational sources.
BOUNDED_SHARES = {"faq": 0.10, "help_center": 0.08, "policies": 0.05}
LINE_SHARES = {"support_chats": 0.65, "chat_exports": 0.15, "tickets": 0.20}
TICKET_HEADER = ("ticket_id", "created_at", "subject", "customer_message", "agent_reply", "status")

_ALL_JSON = df.KINDS
_ELIGIBLE = {
    "support_chats": _ALL_JSON,
    "chat_exports": _ALL_JSON,
    "faq": tuple(k for k in df.KINDS if k != "toxic"),
    "tickets": tuple(k for k in df.KINDS if k not in ("malformed_json", "wrong_type")),
    "help_center": ("pii", "empty", "oversized", "other_language"),
    "policies": ("pii", "oversized", "other_language"),
}


class GenerationError(ValueError):
    """Invalid generator arguments; the message names the argument."""


def eligible_kinds(source: str) -> tuple[str, ...]:
    """The defect kinds injected into one source."""
    return _ELIGIBLE[source]


# -- storage ---------------------------------------------------------------------------------------------
class Storage:
    """An fsspec filesystem plus the root path, addressed with layout-relative paths."""

    def __init__(self, root: str) -> None:
        if not root:
            raise GenerationError("root must be a storage URI or folder, got an empty string")
        self.root = root
        self.fs, self.base = fsspec.core.url_to_fs(root)
        self.base = self.base.rstrip("/")

    def path(self, rel: str) -> str:
        return f"{self.base}/{rel.lstrip('/')}"

    def reset_dir(self, rel: str) -> None:
        """Delete a folder (a partition this run owns) and recreate it empty."""
        path = self.path(rel).rstrip("/")
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
        self.fs.makedirs(path, exist_ok=True)

    def open(self, rel: str, mode: str = "wb"):
        return self.fs.open(self.path(rel), mode)


class LineShards:
    """Writes lines to ``<dir><stem>-NNNNN.<ext>`` shards of at most ``shard_size`` records.

    ``single_name`` (e.g. ``tickets.csv``) is used instead when everything fits in one shard; since
    that is only known at the end, shards are renamed on close. ``header`` is repeated in every shard.
    """

    def __init__(
        self,
        storage: Storage,
        directory: str,
        stem: str,
        ext: str,
        shard_size: int,
        single_name: str | None = None,
        header: bytes = b"",
    ) -> None:
        self.storage, self.directory, self.stem, self.ext = storage, directory, stem, ext
        self.shard_size, self.single_name, self.header = shard_size, single_name, header
        self.files: list[str] = []
        self._handle = None
        self._buffer: list[bytes] = []
        self._records = 0  # records in the current shard
        self._line = 0  # physical lines written to the current shard
        self.total = 0

    def _name(self, index: int) -> str:
        return f"{self.directory}{self.stem}-{index:05d}.{self.ext}"

    def _open_next(self) -> None:
        self._flush(close=True)
        name = self._name(len(self.files))
        self.files.append(name)
        self._handle = self.storage.open(name, "wb")
        self._records = 0
        self._line = 0
        if self.header:
            self._buffer.append(self.header)
            self._line += self.header.count(b"\n")

    def _flush(self, close: bool = False) -> None:
        if self._handle is None:
            return
        if self._buffer:
            self._handle.write(b"".join(self._buffer))
            self._buffer = []
        if close:
            self._handle.close()
            self._handle = None

    def write(self, data: bytes) -> tuple[int, int]:
        """Write one record (its bytes end with a newline); returns (shard index, 1-based start line)."""
        if self._handle is None or self._records >= self.shard_size:
            self._open_next()
        start = self._line + 1
        self._buffer.append(data)
        self._records += 1
        self._line += data.count(b"\n")
        self.total += 1
        if len(self._buffer) >= 2000:
            self._flush()
        return len(self.files) - 1, start

    def close(self) -> list[str]:
        """Close the last shard and return the final relative file names, in order."""
        self._flush(close=True)
        if self.single_name and len(self.files) == 1:
            final = f"{self.directory}{self.single_name}"
            self.storage.fs.mv(self.storage.path(self.files[0]), self.storage.path(final))
            self.files = [final]
        return list(self.files)


# -- per-format record handling ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LineFormat:
    """How one line-oriented source builds, serialises and addresses its records."""

    source: str
    id_field: str
    build: Callable[[ct.ContentBuilder, random.Random, str], tuple[dict[str, Any], Any]]
    user_fields: Callable[[dict[str, Any]], list[str]]
    text_fields: Callable[[dict[str, Any]], list[str]]
    full_text: Callable[[dict[str, Any]], str]
    csv: bool = False


def _openai_fields(record: dict[str, Any], roles: tuple[str, ...]) -> list[str]:
    return [f"messages[{i}].content" for i, m in enumerate(record["messages"]) if m["role"] in roles]


def _sharegpt_fields(record: dict[str, Any], roles: tuple[str, ...]) -> list[str]:
    return [f"conversations[{i}].value" for i, m in enumerate(record["conversations"]) if m["from"] in roles]


def full_text(source: str, record: dict[str, Any]) -> str:
    """The text a near-duplicate is measured on: every message / field joined by newlines."""
    if source == "support_chats":
        return "\n".join(m["content"] for m in record["messages"] if m["role"] != "system")
    if source == "chat_exports":
        return "\n".join(m["value"] for m in record["conversations"] if m["from"] != "system")
    if source == "faq":
        return "\n".join((record["instruction"], record["input"], record["output"]))
    if source == "tickets":
        return "\n".join((record["subject"], record["customer_message"], record["agent_reply"]))
    raise GenerationError(f"unknown line source {source!r}")


FORMATS = {
    "support_chats": LineFormat(
        "support_chats",
        "id",
        lambda b, rng, rid: b.support_chat(rng, rid),
        lambda r: _openai_fields(r, ("user",)),
        lambda r: _openai_fields(r, ("user", "assistant")),
        lambda r: full_text("support_chats", r),
    ),
    "chat_exports": LineFormat(
        "chat_exports",
        "id",
        lambda b, rng, rid: b.chat_export(rng, rid),
        lambda r: _sharegpt_fields(r, ("human",)),
        lambda r: _sharegpt_fields(r, ("human", "gpt")),
        lambda r: full_text("chat_exports", r),
    ),
    "tickets": LineFormat(
        "tickets",
        "ticket_id",
        lambda b, rng, rid: b.ticket(rng, rid),
        lambda r: ["customer_message"],
        lambda r: ["customer_message", "agent_reply"],
        lambda r: full_text("tickets", r),
        csv=True,
    ),
    "faq": LineFormat(
        "faq",
        "id",
        None,  # FAQ records are drawn without replacement (see _faq_records)
        lambda r: ["instruction"],
        lambda r: ["instruction", "output"],
        lambda r: full_text("faq", r),
    ),
}


def _json_line(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False)


def _csv_row(row: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([row[name] for name in TICKET_HEADER])
    return buffer.getvalue()


@dataclass
class _Original:
    record: dict[str, Any]
    data: bytes
    file: str
    locator: str
    record_id: str


class _DayWriter:
    """Shared state of one day: storage, ground truth, counters."""

    def __init__(self, storage: Storage, ds: str, seed: int, rates: df.DefectRates, facts: Facts) -> None:
        self.storage, self.ds, self.seed, self.rates = storage, ds, seed, rates
        self.builder = ct.ContentBuilder(facts, ds)
        self.ds_compact = ds.replace("-", "")
        self.injections: dict[str, Counter] = {}
        self.records: dict[str, int] = {}
        self.files: dict[str, list[str]] = {}
        gt_dir = layout.report("datagen", f"dt={ds}") + "/"
        storage.reset_dir(gt_dir)
        self.gt_rel = gt_dir + "ground_truth.jsonl"
        self.summary_rel = gt_dir + "summary.json"
        self._gt = storage.open(self.gt_rel, "wb")
        self._gt_buffer: list[bytes] = []

    def rng(self, source: str, purpose: str = "") -> random.Random:
        return random.Random(f"{self.seed}:{self.ds}:{source}" + (f":{purpose}" if purpose else ""))

    def record_truth(self, entry: dict[str, Any]) -> None:
        self.injections.setdefault(entry["source"], Counter())[entry["kind"]] += 1
        self._gt_buffer.append((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        if len(self._gt_buffer) >= 2000:
            self._gt.write(b"".join(self._gt_buffer))
            self._gt_buffer = []

    def close(self) -> None:
        self._gt.write(b"".join(self._gt_buffer))
        self._gt.close()


# -- line sources ------------------------------------------------------------------------------------------
def _inject_line(
    day: _DayWriter,
    fmt: LineFormat,
    kind: str,
    record: dict[str, Any],
    rng: random.Random,
    originals: deque,
) -> tuple[str, list[dict[str, Any]]] | None:
    """Apply one defect; returns (serialised text, ground-truth details) or None when not possible."""
    serialise = _csv_row if fmt.csv else (lambda r: _json_line(r) + "\n")
    details: list[dict[str, Any]] = []
    if kind in ("exact_duplicate", "near_duplicate"):
        if not originals:
            return None
        original: _Original = originals[rng.randrange(len(originals))]
        of = {"file": original.file, "record": original.locator, "record_id": original.record_id}
        if kind == "exact_duplicate":
            return original.data.decode("utf-8"), [{"record_id": original.record_id, "duplicate_of": of}]
        copy_, edits, score = df.near_duplicate(
            rng, original.record, fmt.text_fields(original.record), fmt.full_text
        )
        copy_[fmt.id_field] = record[fmt.id_field]
        if "created_at" in copy_:
            copy_["created_at"] = record["created_at"]
        return serialise(copy_), [{"duplicate_of": of, "jaccard": round(score, 4), "edits": edits}]
    user_fields = fmt.user_fields(record)
    if kind == "pii":
        path = rng.choice(user_fields)
        for pii_kind in rng.sample(pii.PII_KINDS, 2 if rng.random() < 0.25 else 1):
            value = pii.draw(pii_kind, rng)
            sentence = rng.choice(pii.CUSTOMER_SENTENCES[pii_kind]).format(v=value)
            text = df.get_path(record, path)
            df.set_path(record, path, df.insert_sentence(text, sentence, at_start=pii_kind == "person_name"))
            details.append({"pii_kind": pii_kind, "value": value, "field": path})
        return serialise(record), details
    if kind == "toxic":
        path = user_fields[0]
        phrase, words = rng.choice(ct.TOXIC_PHRASES)
        df.set_path(
            record, path, df.insert_sentence(df.get_path(record, path), phrase, at_start=rng.random() < 0.5)
        )
        return serialise(record), [{"field": path, "words": list(words)}]
    if kind == "oversized":
        path = user_fields[-1]
        log = ct.oversized_log(rng, rng.randrange(df.OVERSIZED_MIN_CHARS, 3 * df.OVERSIZED_MIN_CHARS))
        text = df.get_path(record, path) + "\nHere is the log from the app:\n" + log
        df.set_path(record, path, text)
        return serialise(record), [{"field": path, "chars": len(text)}]
    if kind == "other_language":
        lang = rng.choice(ct.LANGUAGES)
        ctx = {
            "plan": rng.choice(("Basic", "Plus", "Premium", "Family")),
            "plan_price": "€12.99",
            "ref": ct.ref_code(rng),
        }
        pairs = list(ct.FOREIGN[lang])
        rng.shuffle(pairs)
        pairs = [(u.format(**ctx), a.format(**ctx)) for u, a in pairs[: rng.randint(1, 2)]]
        if fmt.source == "support_chats":
            record["messages"] = [
                m
                for u, a in pairs
                for m in ({"role": "user", "content": u}, {"role": "assistant", "content": a})
            ]
        elif fmt.source == "chat_exports":
            record["conversations"] = [
                m for u, a in pairs for m in ({"from": "human", "value": u}, {"from": "gpt", "value": a})
            ]
        elif fmt.source == "faq":
            record["instruction"], record["output"] = pairs[0]
        else:
            record["subject"] = ct.FOREIGN_SUBJECTS[lang]
            record["customer_message"], record["agent_reply"] = pairs[0]
        return serialise(record), [{"lang": lang}]
    if kind == "empty":
        if fmt.source == "support_chats":
            field = rng.choice(("messages", "content"))
            if field == "messages":
                record["messages"] = []
            else:
                for message in record["messages"]:
                    message["content"] = ""
                field = "messages[].content"
        elif fmt.source == "chat_exports":
            field = "conversations"
            record["conversations"] = []
        elif fmt.source == "faq":
            field = "output"
            record["output"] = ""
        else:
            field = "customer_message,agent_reply"
            record["customer_message"] = record["agent_reply"] = ""
        return serialise(record), [{"field": field}]
    if kind == "wrong_type":
        if fmt.source in ("support_chats", "chat_exports"):
            container = "messages" if fmt.source == "support_chats" else "conversations"
            key = "content" if fmt.source == "support_chats" else "value"
            if rng.random() < 0.5:
                record[container] = fmt.full_text(record)
                return serialise(record), [{"field": container, "expected": "array", "got": "string"}]
            path = rng.choice(user_fields)
            df.set_path(record, path, rng.randrange(1, 10_000))
            return serialise(record), [{"field": path, "expected": "string", "got": "number", "key": key}]
        if rng.random() < 0.5:
            record["output"] = rng.randrange(1, 10_000)
            return serialise(record), [{"field": "output", "expected": "string", "got": "number"}]
        record["instruction"] = [record["instruction"]]
        return serialise(record), [{"field": "instruction", "expected": "string", "got": "array"}]
    if kind == "malformed_json":
        broken, how = df.break_json(rng, _json_line(record))
        try:
            json.loads(broken)
        except ValueError:
            return broken + "\n", [{"how": how}]
        raise AssertionError(f"malformed_json injection produced valid JSON: {broken!r}")  # pragma: no cover
    if kind == "invalid_utf8":
        path = rng.choice(user_fields)
        words = df.get_path(record, path).split(" ")
        pos = rng.randrange(len(words))
        words[pos] = words[pos] + df.MARKER
        df.set_path(record, path, " ".join(words))
        return serialise(record), [{"field": path, "bytes": rng.choice(df.INVALID_UTF8_BYTES).hex()}]
    raise GenerationError(f"unknown defect kind {kind!r}")  # pragma: no cover


def _write_line_source(
    day: _DayWriter,
    source: str,
    count: int,
    shard_size: int,
    records: Iterable[dict[str, Any]] | None = None,
) -> None:
    fmt = FORMATS[source]
    directory = layout.raw_partition(source, day.ds)
    day.storage.reset_dir(directory)
    if source == "support_chats":
        shards = LineShards(day.storage, directory, "conversations", "jsonl", shard_size)
    elif source == "chat_exports":
        shards = LineShards(day.storage, directory, "export", "jsonl", shard_size)
    elif source == "tickets":
        header = _csv_row({name: name for name in TICKET_HEADER}).encode("utf-8")
        shards = LineShards(day.storage, directory, "tickets", "csv", shard_size, "tickets.csv", header)
    else:
        shards = LineShards(day.storage, directory, "faq", "jsonl", shard_size, "faq.jsonl")
    clean_rng = day.rng(source)
    defect_rng = day.rng(source, "defects")
    inject_rng = day.rng(source, "inject")
    eligible = eligible_kinds(source)
    originals: deque = deque(maxlen=512)
    pending: list[dict[str, Any]] = []  # ground truth waits for the final file names
    prefix = {"support_chats": "chat", "chat_exports": "exp", "tickets": "T", "faq": "faq"}[source]
    iterator = iter(records) if records is not None else None
    for index in range(1, count + 1):
        record_id = f"{prefix}-{day.ds_compact}-{index:07d}"
        if iterator is not None:
            record = next(iterator)
            record["id"] = record_id
        else:
            record, _ = fmt.build(day.builder, clean_rng, record_id)
        kind = day.rates.draw(defect_rng.random(), eligible)
        result = _inject_line(day, fmt, kind, record, inject_rng, originals) if kind else None
        if result is None:
            kind = None
            text = _csv_row(record) if fmt.csv else _json_line(record) + "\n"
            details: list[dict[str, Any]] = []
        else:
            text, details = result
        data = text.encode("utf-8")
        if kind == "invalid_utf8":
            data = data.replace(df.MARKER_BYTES, bytes.fromhex(details[0]["bytes"]))
        shard, line = shards.write(data)
        locator = f"line:{line}"
        if kind is None:
            originals.append(_Original(record, data, str(shard), locator, record_id))
        for detail in details:
            entry = {"kind": kind, "source": source, "file": shard, "record": locator, "record_id": record_id}
            entry.update(detail)
            if "duplicate_of" in entry:
                entry["duplicate_of"] = dict(entry["duplicate_of"])
            pending.append(entry)
        if len(pending) >= 5000 and len(shards.files) > 1:  # file names are final once sharded
            _flush_pending(day, shards, pending)
    shards.close()
    _flush_pending(day, shards, pending)
    day.records[source] = count
    day.files[source] = list(shards.files)


def _flush_pending(day: _DayWriter, shards: LineShards, pending: list[dict[str, Any]]) -> None:
    """Write ground truth with shard indexes resolved to file names (known once a shard is opened).

    The single-file rename (``tickets.csv``) happens on close, so entries are resolved against the
    final names then; entries flushed earlier always belong to a multi-shard source.
    """
    for entry in pending:
        entry["file"] = shards.files[int(entry["file"])]
        if "duplicate_of" in entry:
            entry["duplicate_of"]["file"] = shards.files[int(entry["duplicate_of"]["file"])]
        day.record_truth(entry)
    pending.clear()


# -- document sources ----------------------------------------------------------------------------------------
def _foreign_section(rng: random.Random, lang: str) -> tuple[str, str]:
    ctx = {
        "plan": rng.choice(("Basic", "Plus", "Premium", "Family")),
        "plan_price": "€12.99",
        "ref": ct.ref_code(rng),
    }
    user, agent = rng.choice(ct.FOREIGN[lang])
    return ct.FOREIGN_HEADINGS[lang], f"{user.format(**ctx)}\n\n{agent.format(**ctx)}"


def _document_defect(
    day: _DayWriter, source: str, rng: random.Random, kind: str, heading: str, body: str
) -> tuple[str, str, dict[str, Any]]:
    if kind == "pii":
        pii_kind = rng.choice(pii.PII_KINDS)
        value = pii.draw(pii_kind, rng)
        sentence = rng.choice(pii.DOCUMENT_SENTENCES[pii_kind]).format(v=value)
        return heading, f"{body} {sentence}", {"pii_kind": pii_kind, "value": value}
    if kind == "empty":
        return heading, "", {}
    if kind == "oversized":
        body = (
            body
            + "\n"
            + ct.oversized_table(rng, rng.randrange(df.OVERSIZED_MIN_CHARS, 2 * df.OVERSIZED_MIN_CHARS))
        )
        return heading, body, {"chars": len(body)}
    if kind == "other_language":
        lang = rng.choice(ct.LANGUAGES)
        new_heading, new_body = _foreign_section(rng, lang)
        if source == "policies":
            new_body = new_body.replace("\n\n", " ")
        return new_heading, new_body, {"lang": lang}
    raise GenerationError(f"defect {kind!r} does not apply to {source}")  # pragma: no cover


def _write_documents(day: _DayWriter, source: str, budget: int) -> None:
    directory = layout.raw_partition(source, day.ds)
    day.storage.reset_dir(directory)
    specs = list(ct.ARTICLES if source == "help_center" else ct.POLICIES)
    order_rng = day.rng(source, "order")
    order_rng.shuffle(specs)
    chosen, total = [], 0
    for spec in specs:
        if total + len(spec.sections) > budget:
            break
        chosen.append(spec)
        total += len(spec.sections)
    clean_rng = day.rng(source)
    defect_rng = day.rng(source, "defects")
    inject_rng = day.rng(source, "inject")
    files = []
    for spec in sorted(chosen, key=lambda s: s.slug):
        title, sections = day.builder.document(clean_rng, spec)
        rel = f"{directory}{spec.slug}.{'md' if source == 'help_center' else 'txt'}"
        out_sections = []
        for number, (heading, body) in enumerate(sections, start=1):
            kind = day.rates.draw(defect_rng.random(), eligible_kinds(source))
            if kind:
                heading, body, detail = _document_defect(day, source, inject_rng, kind, heading, body)
                entry = {"kind": kind, "source": source, "file": rel, "record": f"section:{number}"}
                entry.update(detail)
                day.record_truth(entry)
            out_sections.append((heading, body))
        if source == "help_center":
            text = f"# {title}\n\n" + "".join(
                f"## {heading}\n\n{body}\n\n" if body else f"## {heading}\n\n"
                for heading, body in out_sections
            )
        else:
            text = title + "\n\n" + "\n\n".join(body for _, body in out_sections) + "\n"
        with day.storage.open(rel, "wb") as handle:
            handle.write(text.rstrip("\n").encode("utf-8") + b"\n")
        files.append(rel)
    day.records[source] = total
    day.files[source] = files


def _write_faq(day: _DayWriter, count: int, shard_size: int) -> None:
    entries = day.builder.faq_entries(day.rng("faq", "order"), count)
    _write_line_source(day, "faq", len(entries), shard_size, records=(record for record, _ in entries))


# -- the public entry points -------------------------------------------------------------------------------
def plan_counts(scale: int, sources: Sequence[str] = SOURCES, facts: Facts | None = None) -> dict[str, int]:
    """Records per source for a day of ``scale`` records (bounded sources are capped by the facts)."""
    if not isinstance(scale, int) or scale < 1:
        raise GenerationError(f"scale={scale!r} must be at least 1 record per day")
    caps = {
        "faq": len(fact_items(facts or Facts())),
        "help_center": sum(len(s.sections) for s in ct.ARTICLES),
        "policies": sum(len(s.sections) for s in ct.POLICIES),
    }
    counts: dict[str, int] = {}
    for source, share in BOUNDED_SHARES.items():
        if source in sources:
            counts[source] = min(caps[source], int(round(scale * share)))
    remainder = max(0, scale - sum(counts.values()))
    counts.update(_split_lines(remainder, [s for s in LINE_SOURCES if s in sources]))
    return counts


def _split_lines(remainder: int, line: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    if line:
        weight = sum(LINE_SHARES[s] for s in line)
        for source in line[1:]:
            counts[source] = int(round(remainder * LINE_SHARES[source] / weight))
        counts[line[0]] = remainder - sum(counts.values())
    return counts


def generate_day(
    root: str,
    ds: str,
    seed: int = 0,
    scale: int = DEFAULT_SCALE,
    rates: Mapping[str, float] | df.DefectRates | None = None,
    sources: Sequence[str] | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one day of raw data under ``root`` and return its summary (also in ``summary.json``).

    ``scale`` is the number of raw records of the day (JSONL lines, CSV rows, document sections) when at
    least one conversational source is generated; ``rates`` overrides the default injection rates;
    ``sources`` restricts the sources written (all by default). A re-run for the same ``ds`` first
    deletes that day's partition of every source and that day's ground truth, then rewrites them.
    """
    ds = layout.partition_date(ds)
    chosen = tuple(SOURCES if sources is None else sources)
    unknown = sorted(set(chosen) - set(SOURCES))
    if unknown:
        raise GenerationError(f"unknown source(s) {', '.join(unknown)}; expected {', '.join(SOURCES)}")
    if not chosen:
        raise GenerationError("sources is empty: name at least one of " + ", ".join(SOURCES))
    if shard_size < 1:
        raise GenerationError(f"shard_size={shard_size} must be at least 1")
    defect_rates = df.DefectRates.from_mapping(rates)
    storage = Storage(root)
    fact_table = Facts(facts if facts is not None else load_facts())
    budgets = plan_counts(scale, chosen, fact_table)
    for source in SOURCES:  # the run owns the whole raw day: stale sources of an earlier run go too
        if source not in chosen:
            path = storage.path(layout.raw_partition(source, ds)).rstrip("/")
            if storage.fs.exists(path):
                storage.fs.rm(path, recursive=True)
    day = _DayWriter(storage, ds, seed, defect_rates, fact_table)
    try:
        # bounded sources first: the conversational sources share whatever budget they leave
        for source in ("faq", "help_center", "policies"):
            if source == "faq" and source in chosen:
                _write_faq(day, budgets[source], shard_size)
            elif source in chosen:
                _write_documents(day, source, budgets[source])
        remainder = max(0, scale - sum(day.records.values()))
        for source, count in _split_lines(remainder, [s for s in LINE_SOURCES if s in chosen]).items():
            _write_line_source(day, source, count, shard_size)
    finally:
        day.close()
    summary = {
        "ds": ds,
        "seed": seed,
        "scale": scale,
        "generator_version": GENERATOR_VERSION,
        "rates": defect_rates.as_dict(),
        "records": {s: day.records[s] for s in SOURCES if s in day.records},
        "total_records": sum(day.records.values()),
        "files": {s: day.files[s] for s in SOURCES if s in day.files},
        "injections": {
            s: dict(sorted(day.injections.get(s, {}).items())) for s in SOURCES if s in day.records
        },
        "injections_total": dict(sorted(sum(day.injections.values(), Counter()).items())),
        "ground_truth": day.gt_rel,
    }
    with storage.open(day.summary_rel, "wb") as handle:
        handle.write((json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return summary


def date_range(start: str, end: str) -> list[str]:
    """Every date from ``start`` to ``end`` inclusive, as ``YYYY-MM-DD``."""
    try:
        return layout.date_range(start, end)
    except layout.LayoutError as exc:
        raise GenerationError(str(exc)) from None


def generate_range(root: str, start: str, end: str, **kwargs: Any) -> list[dict[str, Any]]:
    """``generate_day`` for every date of a window (a backfill); each day is independent of the others."""
    return [generate_day(root, ds, **kwargs) for ds in date_range(start, end)]
