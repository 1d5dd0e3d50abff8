"""Parse and validate raw records into the pipeline's uniform record shape (see ``records``).

Every problem becomes a dead letter at stage ``parse`` (the bytes cannot be read as the format) or
``validate`` (they can, but a field is missing, has the wrong type or is empty), with a detail that
names the field (``messages[2].content``). Reason codes:

================== =======================================================================
reason             meaning
================== =======================================================================
invalid_utf8       the line / section / CSV field is not valid UTF-8
malformed_json     the line is not a JSON value (truncated, broken quoting, ...)
malformed_csv      CSV syntax error, or a row with a different number of columns than the header
unsupported_format the file type is not one the pipeline reads
empty_file         the file has no byte of data (or only a BOM and whitespace)
unknown_shape      a JSON object without ``messages``, ``conversations`` or ``instruction`` (after the
                   source's field mapping, if any)
not_an_object      a JSON line that is not an object
missing_field      a required field is absent
wrong_type         a field has the wrong JSON type (the detail names it and the type found)
invalid_value      a field has a value outside its domain (e.g. an unknown chat role)
empty_record       nothing to learn from: empty message list, all contents empty, empty section
empty_field        a required text field is empty (``output``, ``agent_reply``, ...)
================== =======================================================================
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from llmops_beam.records import DEAD_LETTER, dead_letter

OPENAI_ROLES = {"system": "system", "user": "user", "assistant": "assistant"}
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "system": "system",
}
TICKET_COLUMNS = ("ticket_id", "customer_message", "agent_reply")


class RecordError(ValueError):
    """A raw record cannot be used; carries the stage, reason code and a detail naming the field."""

    def __init__(self, stage: str, reason: str, detail: str):
        super().__init__(detail)
        self.stage, self.reason, self.detail = stage, reason, detail


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _require(obj: dict, key: str) -> str:
    """A required string field of a JSON object."""
    if key not in obj:
        raise RecordError("validate", "missing_field", f"required field {key!r} is missing")
    value = obj[key]
    if not isinstance(value, str):
        raise RecordError("validate", "wrong_type", f"field {key} must be a string, got {_type_name(value)}")
    return value


def _record_id(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError("validate", "wrong_type", f"field {key} must be a string, got {_type_name(value)}")
    return str(value)


def _invalid_utf8_detail(data: bytes, what: str) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{what} is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason})"
    return f"{what} is not valid UTF-8"


def _text_parts(parts: list, field: str) -> str:
    """The text of OpenAI-style content parts; a part that is not text is an error naming it."""
    texts = []
    for i, part in enumerate(parts):
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            kind = part.get("type") if isinstance(part, dict) else _type_name(part)
            raise RecordError(
                "validate",
                "invalid_value",
                f"field {field}[{i}] is a {kind!r} part; only text parts are used",
            )
        texts.append(part["text"])
    return "\n".join(texts)


def _messages(
    value: Any, roles: dict[str, str], field: str, role_key: str, content_key: str
) -> list[list[str]]:
    if not isinstance(value, list):
        raise RecordError(
            "validate", "wrong_type", f"field {field} must be an array, got {_type_name(value)}"
        )
    if not value:
        raise RecordError("validate", "empty_record", f"field {field} is an empty array")
    texts = []
    for i, message in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(message, dict):
            raise RecordError(
                "validate", "wrong_type", f"{where} must be an object, got {_type_name(message)}"
            )
        role = message.get(role_key)
        if role_key not in message:
            raise RecordError("validate", "missing_field", f"required field {where}.{role_key} is missing")
        if not isinstance(role, str):
            raise RecordError(
                "validate", "wrong_type", f"field {where}.{role_key} must be a string, got {_type_name(role)}"
            )
        if role.lower() not in roles:
            raise RecordError(
                "validate",
                "invalid_value",
                f"field {where}.{role_key}={role!r} is not one of {', '.join(sorted(roles))}",
            )
        if content_key not in message:
            raise RecordError("validate", "missing_field", f"required field {where}.{content_key} is missing")
        content = message[content_key]
        if isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": ...}, ...]
            content = _text_parts(content, f"{where}.{content_key}")
        if content is None and roles[role.lower()] == "assistant" and message.get("tool_calls"):
            content = ""
        if not isinstance(content, str):
            raise RecordError(
                "validate",
                "wrong_type",
                f"field {where}.{content_key} must be a string, got {_type_name(content)}",
            )
        texts.append([roles[role.lower()], content])
    if all(not text.strip() for _, text in texts):
        raise RecordError("validate", "empty_record", f"every {field}[*].{content_key} is empty")
    return texts


def apply_field_mapping(obj: dict, mapping: Mapping[str, str] | None) -> dict:
    """Rename a source's own field names to the canonical ones (``{"instruction": "question", ...}``).

    The canonical names are the keys; a mapped field missing from the object is left missing (the
    validation then names the canonical field and its source name).
    """
    if not mapping:
        return obj
    out = {k: v for k, v in obj.items() if k not in mapping.values()}
    for canonical, own in mapping.items():
        if own in obj:
            out[canonical] = obj[own]
    return out


def _optional_text(obj: dict, key: str, field: str | None = None) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(
            "validate", "wrong_type", f"field {field or key} must be a string, got {_type_name(value)}"
        )
    return value


def _instruction_texts(obj: dict) -> list[list[str]]:
    """Alpaca (``instruction``/``input``/``output``), Dolly (``instruction``/``context``/``response``) and
    seed-task (``instruction`` + ``instances: [{input, output}]``) records as
    ``[["instruction", …], ["input", …], ["output", …], …]`` (one input/output pair per instance)."""
    instruction = _require(obj, "instruction")
    if "instances" in obj and "output" not in obj:
        instances = obj["instances"]
        if not isinstance(instances, list):
            raise RecordError(
                "validate", "wrong_type", f"field instances must be an array, got {_type_name(instances)}"
            )
        if not instances:
            raise RecordError("validate", "empty_record", "field instances is an empty array")
        pairs = []
        for i, instance in enumerate(instances):
            where = f"instances[{i}]"
            if not isinstance(instance, dict):
                raise RecordError(
                    "validate", "wrong_type", f"{where} must be an object, got {_type_name(instance)}"
                )
            if "output" not in instance:
                raise RecordError("validate", "missing_field", f"required field {where}.output is missing")
            output = _optional_text(instance, "output", f"{where}.output")
            if not output.strip():
                raise RecordError("validate", "empty_field", f"field {where}.output is empty")
            pairs.append((_optional_text(instance, "input", f"{where}.input"), output))
        if not instruction.strip():
            raise RecordError("validate", "empty_field", "field instruction is empty")
        texts = [["instruction", instruction]]
        for input_, output in pairs:
            texts.extend([["input", input_], ["output", output]])
        return texts
    dolly = "output" not in obj and "response" in obj
    output_key, input_key = ("response", "context") if dolly else ("output", "input")
    output = _require(obj, output_key)
    input_ = _optional_text(obj, input_key)
    if not instruction.strip() and not output.strip():
        raise RecordError("validate", "empty_record", f"fields instruction and {output_key} are both empty")
    for name, value in (("instruction", instruction), (output_key, output)):
        if not value.strip():
            raise RecordError("validate", "empty_field", f"field {name} is empty")
    return [["instruction", instruction], ["input", input_], ["output", output]]


def parse_json_object(
    obj: Any, default_format: str, mapping: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Interpret one JSON object: ``(format, fields)`` where fields hold kind, texts, ids.

    ``mapping`` renames the source's own fields to the canonical ones first (settings
    ``dataprep.field_mappings``).
    """
    if not isinstance(obj, dict):
        raise RecordError("parse", "not_an_object", f"expected a JSON object, got {_type_name(obj)}")
    obj = apply_field_mapping(obj, mapping)
    fmt = default_format
    for key, candidate in (
        ("messages", "chat_openai"),
        ("conversations", "chat_sharegpt"),
        ("instruction", "instruction"),
    ):
        if key in obj:
            fmt = candidate
            break
    else:
        if default_format not in ("chat_openai", "chat_sharegpt", "instruction"):
            keys = ", ".join(sorted(obj)[:8]) or "none"
            raise RecordError(
                "parse",
                "unknown_shape",
                f"object has none of the fields messages/conversations/instruction (keys: {keys}); "
                "map the source's own field names in settings dataprep.field_mappings",
            )
    if fmt == "chat_openai":
        if "messages" not in obj:
            raise RecordError("validate", "missing_field", "required field 'messages' is missing")
        texts = _messages(obj["messages"], OPENAI_ROLES, "messages", "role", "content")
        return fmt, {"kind": "conversation", "record_id": _record_id(obj, "id"), "texts": texts}
    if fmt == "chat_sharegpt":
        if "conversations" not in obj:
            raise RecordError("validate", "missing_field", "required field 'conversations' is missing")
        texts = _messages(obj["conversations"], SHAREGPT_ROLES, "conversations", "from", "value")
        return fmt, {"kind": "conversation", "record_id": _record_id(obj, "id"), "texts": texts}
    texts = _instruction_texts(obj)
    return "instruction", {"kind": "instruction", "record_id": _record_id(obj, "id"), "texts": texts}


_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|[IVX]+\.|§\s*\d+)\s*")


def text_heading(body: str, limit: int = 80) -> str:
    """A heading for a plain-text paragraph: its first line when short, else its first sentence."""
    first_line = body.split("\n", 1)[0].strip()
    if "\n" in body.strip() and len(first_line) <= limit and not first_line.endswith((".", ":", ";")):
        return _NUMBERED.sub("", first_line).strip() or first_line
    sentence = re.split(r"(?<=[.!?])\s", _NUMBERED.sub("", first_line), maxsplit=1)[0].strip()
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rsplit(" ", 1)[0] + "…"


def slug_of(uri: str) -> str:
    return posixpath.splitext(posixpath.basename(uri))[0]


def parse_document(raw: dict[str, Any]) -> dict[str, Any]:
    payload = raw["payload"]
    for field in ("title", "heading", "body"):
        if isinstance(payload.get(field), bytes):
            what = "title line" if field == "title" else f"section {field}"
            raise RecordError("parse", "invalid_utf8", _invalid_utf8_detail(payload[field], what))
    slug = slug_of(raw["source_uri"])
    title = (payload.get("title") or "").strip() or slug.replace("-", " ").replace("_", " ").capitalize()
    body = payload.get("body") or ""
    if not body.strip():
        raise RecordError("validate", "empty_record", f"{raw['source_record']} of {slug!r} has an empty body")
    heading = payload.get("heading")
    if heading is None:
        heading = text_heading(body) if raw["source_format"] == "text" else title
    if not heading.strip():
        raise RecordError("validate", "empty_field", "section heading is empty")
    return {
        "kind": "section",
        "record_id": f"{slug}#{raw['source_record']}",
        "group_key": slug,
        "texts": [["title", title], ["heading", heading], ["body", body]],
    }


def parse_ticket(raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw["meta"]
    fields = raw["payload"]
    if meta.get("invalid_utf8_fields"):
        name = meta["invalid_utf8_fields"][0]
        raise RecordError("parse", "invalid_utf8", _invalid_utf8_detail(fields[name], f"CSV field {name!r}"))
    header = meta.get("header") or []
    if meta.get("columns") != len(header):
        raise RecordError(
            "parse",
            "malformed_csv",
            f"row has {meta.get('columns')} columns, header has {len(header)} ({', '.join(header)})",
        )
    for column in TICKET_COLUMNS:
        if column not in fields:
            raise RecordError("validate", "missing_field", f"required CSV column {column!r} is missing")
    customer, reply = fields["customer_message"], fields["agent_reply"]
    if not customer.strip() and not reply.strip():
        raise RecordError(
            "validate", "empty_record", "fields customer_message and agent_reply are both empty"
        )
    for name, value in (
        ("ticket_id", fields["ticket_id"]),
        ("customer_message", customer),
        ("agent_reply", reply),
    ):
        if not value.strip():
            raise RecordError("validate", "empty_field", f"CSV field {name} is empty")
    texts = [
        ["subject", fields.get("subject", "") or ""],
        ["customer_message", customer],
        ["agent_reply", reply],
    ]
    return {"kind": "ticket", "record_id": fields["ticket_id"].strip(), "texts": texts}


def parse_raw(
    raw: dict[str, Any], field_mappings: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, Any]:
    """Turn one raw record into a record, or raise ``RecordError``."""
    meta, payload, fmt = raw["meta"], raw["payload"], raw["source_format"]
    if meta.get("error"):
        reason = meta.get("reason") or {"unsupported": "unsupported_format", "csv": "malformed_csv"}.get(
            fmt, "malformed_json"
        )
        raise RecordError("parse", reason, meta["error"])
    if fmt in ("markdown", "text"):
        parsed = parse_document(raw)
    elif fmt == "csv":
        parsed = parse_ticket(raw)
    else:
        if isinstance(payload, bytes):
            raise RecordError("parse", "invalid_utf8", _invalid_utf8_detail(payload, "line"))
        if meta.get("parsed"):
            obj = payload
        else:
            try:
                obj = json.loads(payload)
            except ValueError as exc:
                raise RecordError("parse", "malformed_json", f"invalid JSON: {exc}") from None
        fmt, parsed = parse_json_object(obj, fmt, (field_mappings or {}).get(raw["source"]))
    record = {k: raw[k] for k in ("source", "source_uri", "source_record", "sort_key")}
    record["source_format"] = fmt
    record.update(parsed)
    if not record.get("group_key"):
        record["group_key"] = record.get("record_id") or f"{record['source_uri']}#{record['source_record']}"
    return record


class ParseRecordFn(beam.DoFn):
    """Raw record → record; unusable records → dead letters (stage parse/validate) with the field named."""

    def setup(self):
        from llmops_factory.dataprep.pii import PiiRedactor

        self.redactor = PiiRedactor()

    def __init__(self, field_mappings: Mapping[str, Mapping[str, str]] | None = None):
        self.field_mappings = {k: dict(v) for k, v in (field_mappings or {}).items()}
        self.ok = Metrics.counter("parse", "records_ok")
        self.bad = Metrics.counter("parse", "dead_lettered")

    def process(self, raw: dict[str, Any]):
        try:
            record = parse_raw(raw, self.field_mappings)
        except RecordError as err:
            self.bad.inc()
            Metrics.counter("dead_letter", f"{err.stage}.{err.reason}").inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER,
                dead_letter(raw, err.stage, err.reason, err.detail, raw["payload"], self.redactor),
            )
            return
        self.ok.inc()
        yield record


class ParseRecords(beam.PTransform):
    """Raw records → ``records`` (main) and ``dead_letter`` outputs."""

    def __init__(self, field_mappings: Mapping[str, Mapping[str, str]] | None = None):
        super().__init__()
        self.field_mappings = field_mappings

    def expand(self, raw_records):
        return raw_records | "ParseAndValidate" >> beam.ParDo(
            ParseRecordFn(self.field_mappings)
        ).with_outputs(DEAD_LETTER, main="records")
