"""Read one day's raw partition of every source, detecting each file's format.

Layout: ``raw/<source>/dt=<ds>/<file>`` under the storage root (``gs://bucket``, ``file:///…`` or a
local folder). Files whose name starts with ``.`` or ``_`` (markers such as ``_SUCCESS``) are not data.

Format detection is per file, by extension and then content:

============ ================================================================================
extension    format
============ ================================================================================
.jsonl       JSON lines; the first object's keys decide: ``messages`` → ``chat_openai``,
             ``conversations`` → ``chat_sharegpt``, ``instruction`` → ``instruction``
.json        a JSON array of such objects (``item:N`` locators), or JSON lines as above
.md          ``markdown``: ``# Title`` then ``## Section`` blocks (one record per section)
.txt         ``text``: title line, then blank-line separated paragraphs (one record per paragraph)
.csv         ``csv``: ticket export with a header row (one record per CSV row, RFC 4180 quoting)
other        ``unsupported``: the whole file is one record, dead-lettered
============ ================================================================================

Compressed files are read by their last extension (``.gz``, ``.bz2``, ``.zst``, ``.deflate``, with
Beam's own decompressors), and the extension before it decides the format (``chats.jsonl.gz`` is JSON
lines). A UTF-8 byte-order mark at the start of a file is dropped and Windows line endings (``\r\n``)
are read as ``\n``. A file without any data (empty, or only a BOM and whitespace) becomes one raw
record, dead-lettered as ``empty_file`` with the file named.

Reading emits one *raw record* per record with its locator (1-based ``line:N`` for JSON lines and CSV,
the physical line where a CSV record starts; ``section:N`` for documents, ``document`` when a document
has no sections). Bytes that are not UTF-8 are kept as ``bytes`` so the parse step can dead-letter them
with the field named; nothing is dropped here.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from llmops_beam.records import sort_key

FORMATS = ("chat_openai", "chat_sharegpt", "instruction", "markdown", "text", "csv", "unsupported")
_DETECT_KEYS = (
    ("messages", "chat_openai"),
    ("conversations", "chat_sharegpt"),
    ("instruction", "instruction"),
)
_DETECT_LINES = 200


class EmptyPartitionError(FileNotFoundError):
    """No raw file exists for the day: a clear error before any work is started."""


def normalize_root(root: str) -> str:
    """Storage root as Beam's FileSystems expects it: ``file://`` URIs become local paths."""
    if root.startswith("file://"):
        path = root[len("file://") :]
        if path.startswith("localhost/"):
            path = path[len("localhost") :]
        root = path or "/"
    if "://" not in root:
        root = posixpath.abspath(root) if root.startswith("/") else _abspath(root)
    return root.rstrip("/") or "/"


def _abspath(path: str) -> str:
    import os

    return os.path.abspath(path)


def join(root: str, relative: str) -> str:
    return root.rstrip("/") + "/" + relative.lstrip("/")


def list_partition_files(root: str, ds: str) -> list[tuple[str, str]]:
    """``(source, relative path)`` of every data file of the day, sorted; raises when there is none."""
    from llmops_factory import layout

    root = normalize_root(root)
    ds = layout.partition_date(ds)
    pattern = join(root, f"{layout.raw_root()}*/dt={ds}/*")
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except Exception as exc:  # Beam raises BeamIOError for a missing local folder on some versions
        matches = []
        if "No files found" not in str(exc) and "not found" not in str(exc).lower():
            raise
    files = []
    prefix = root.rstrip("/") + "/"
    for meta in matches:
        path = meta.path
        name = posixpath.basename(path)
        if not name or name.startswith((".", "_")) or path.endswith("/"):
            continue
        relative = path[len(prefix) :] if path.startswith(prefix) else path
        parts = relative.split("/")
        if len(parts) != 4 or parts[0] != "raw" or parts[2] != f"dt={ds}":
            continue  # a nested folder, not a file of the partition
        files.append((parts[1], relative))
    files.sort(key=lambda f: f[1])
    if not files:
        raise EmptyPartitionError(
            f"no raw data for ds={ds}: nothing matches {pattern} "
            f"(expected files under raw/<source>/dt={ds}/ for at least one source)"
        )
    return files


COMPRESSED_EXTENSIONS = (".gz", ".bz2", ".zst", ".deflate")
_BOM = b"\xef\xbb\xbf"


def data_name(name: str) -> str:
    """The file name without its compression extension (``a.jsonl.gz`` → ``a.jsonl``)."""
    stem, ext = posixpath.splitext(name)
    return stem if ext.lower() in COMPRESSED_EXTENSIONS else name


def detect_format(name: str, data: bytes) -> str:
    """The format of a file from its name and (for JSON) its first records."""
    ext = posixpath.splitext(data_name(name))[1].lower()
    if ext in (".md", ".markdown"):
        return "markdown"
    if ext == ".txt":
        return "text"
    if ext == ".csv":
        return "csv"
    if ext not in (".jsonl", ".json", ".ndjson"):
        return "unsupported"
    head = data.lstrip()[:1]
    if ext == ".json" and head == b"[":
        return "instruction"
    for line in data.split(b"\n", _DETECT_LINES)[:_DETECT_LINES]:
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(obj, dict):
            for key, fmt in _DETECT_KEYS:
                if key in obj:
                    return fmt
    return "instruction" if ext == ".json" else "unknown_jsonl"


def _raw(source: str, uri: str, locator: str, fmt: str, payload: Any, **meta: Any) -> dict[str, Any]:
    return {
        "source": source,
        "source_uri": uri,
        "source_record": locator,
        "source_format": fmt,
        "sort_key": sort_key(uri, locator),
        "payload": payload,
        "meta": meta,
    }


def _decode(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def iter_json_lines(source: str, uri: str, fmt: str, data: bytes):
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue  # blank separator lines are not records
        yield _raw(source, uri, f"line:{number}", fmt, _decode(line.rstrip(b"\r")))


def iter_json_array(source: str, uri: str, data: bytes):
    text = _decode(data)
    if isinstance(text, bytes):
        yield _raw(source, uri, "document", "instruction", text)
        return
    try:
        items = json.loads(text)
    except ValueError as exc:
        yield _raw(source, uri, "document", "instruction", text, error=f"invalid JSON array: {exc}")
        return
    if not isinstance(items, list):
        yield _raw(source, uri, "document", "instruction", items, error="expected a JSON array of records")
        return
    for number, item in enumerate(items, start=1):
        yield _raw(source, uri, f"item:{number}", "instruction", item, parsed=True)


_MD_SECTION = re.compile(rb"^##[ \t]+", re.M)


def iter_markdown(source: str, uri: str, data: bytes):
    """One raw record per ``## Section`` (payload: title/heading/body); ``document`` when there is none."""
    title_line, _, rest = data.partition(b"\n")
    if title_line.startswith(b"# "):
        title = _decode(title_line[2:].strip())
    else:
        title, rest = None, data
    starts = [m.start() for m in _MD_SECTION.finditer(rest)]
    if not starts:
        yield _raw(
            source,
            uri,
            "document",
            "markdown",
            {"title": title, "heading": None, "body": _decode(rest.strip())},
        )
        return
    intro = rest[: starts[0]].strip()
    if intro:
        yield _raw(
            source, uri, "section:0", "markdown", {"title": title, "heading": None, "body": _decode(intro)}
        )
    for number, start in enumerate(starts, start=1):
        end = starts[number] if number < len(starts) else len(rest)
        block = rest[start:end]
        heading, _, body = block.partition(b"\n")
        yield _raw(
            source,
            uri,
            f"section:{number}",
            "markdown",
            {"title": title, "heading": _decode(heading[2:].strip()), "body": _decode(body.strip())},
        )


_PARAGRAPH_SPLIT = re.compile(rb"\n[ \t]*\r?\n")


def iter_text(source: str, uri: str, data: bytes):
    """Title line, then one raw record per blank-line separated paragraph."""
    title_line, _, rest = data.partition(b"\n")
    paragraphs = [p.strip() for p in _PARAGRAPH_SPLIT.split(rest) if p.strip()]
    title = _decode(title_line.strip())
    if not paragraphs:
        yield _raw(source, uri, "document", "text", {"title": title, "heading": None, "body": ""})
        return
    for number, paragraph in enumerate(paragraphs, start=1):
        yield _raw(
            source,
            uri,
            f"section:{number}",
            "text",
            {"title": title, "heading": None, "body": _decode(paragraph)},
        )


def iter_csv(source: str, uri: str, data: bytes):
    """One raw record per CSV row (locator: its first physical line); undecodable fields stay bytes."""
    lines = io.StringIO(data.decode("utf-8", "surrogateescape"), newline="")
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    last_line = 0
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield _raw(source, uri, f"line:{start}", "csv", b"", error=f"CSV syntax error: {exc}")
            continue
        last_line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if header is None:
            header = [h.strip().lstrip("\ufeff") for h in row]
            continue
        fields: dict[str, Any] = {}
        bad_fields = []
        for i, cell in enumerate(row):
            name = header[i] if i < len(header) else f"column_{i + 1}"
            try:
                cell.encode("utf-8")
                fields[name] = cell
            except UnicodeEncodeError:
                bad_fields.append(name)
                fields[name] = cell.encode("utf-8", "surrogateescape")
        yield _raw(
            source,
            uri,
            f"line:{start}",
            "csv",
            fields,
            header=header,
            columns=len(row),
            invalid_utf8_fields=bad_fields,
        )


class ReadPartitionFileFn(beam.DoFn):
    """Read one file of the partition and emit its raw records (file-level problems become records too)."""

    def __init__(self, root: str):
        self.root = root
        self.files = Metrics.counter("read", "files")
        self.records = Metrics.counter("read", "records_in")

    def process(self, element: tuple[str, str]):
        source, relative = element
        try:
            with FileSystems.open(join(self.root, relative), compression_type=CompressionTypes.AUTO) as fh:
                data = fh.read()
        except (OSError, EOFError, ValueError) as exc:  # corrupt archive: a dead letter naming the file
            self.files.inc()
            self.records.inc()
            yield _raw(
                source,
                relative,
                "document",
                "unsupported",
                b"",
                error=f"cannot decompress {relative}: {type(exc).__name__}: {exc}",
            )
            return
        self.files.inc()
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        fmt = detect_format(relative, data)
        if fmt in ("markdown", "text") and b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        if not data.strip():
            records = iter(
                [
                    _raw(
                        source,
                        relative,
                        "document",
                        fmt,
                        "",
                        error=f"file {relative} is empty ({len(data)} bytes of whitespace)"
                        if data
                        else f"file {relative} is empty (0 bytes)",
                        reason="empty_file",
                    )
                ]
            )
        elif fmt == "markdown":
            records = iter_markdown(source, relative, data)
        elif fmt == "text":
            records = iter_text(source, relative, data)
        elif fmt == "csv":
            records = iter_csv(source, relative, data)
        elif fmt == "instruction" and data.lstrip()[:1] == b"[":
            records = iter_json_array(source, relative, data)
        elif fmt in ("chat_openai", "chat_sharegpt", "instruction", "unknown_jsonl"):
            records = iter_json_lines(source, relative, fmt, data)
        else:
            records = iter(
                [
                    _raw(
                        source,
                        relative,
                        "document",
                        "unsupported",
                        data[:4096],
                        error=f"unsupported file type {posixpath.splitext(data_name(relative))[1] or '(none)'} "
                        f"({relative})",
                    )
                ]
            )
        for record in records:
            self.records.inc()
            yield record


class ReadRawPartition(beam.PTransform):
    """``files`` (``(source, relative path)`` pairs) → raw records, spread over workers after reading."""

    def __init__(self, root: str, files: list[tuple[str, str]]):
        super().__init__()
        self.root = normalize_root(root)
        self.files = list(files)

    def expand(self, pbegin):
        return (
            pbegin
            | "ListFiles" >> beam.Create(self.files)
            | "ReadFiles" >> beam.ParDo(ReadPartitionFileFn(self.root))
            | "SpreadRecords" >> beam.Reshuffle()
        )
