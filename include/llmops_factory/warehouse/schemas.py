"""Read the warehouse schemas: BigQuery JSON schema files plus ``tables.yaml`` (partitioning, clustering).

The same files feed Terraform (``google_bigquery_table.schema = file(...)``), the BigQuery code path
(load jobs and table creation) and the DuckDB tables of the local target.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
TABLES_FILE = Path(__file__).resolve().parent / "tables.yaml"

_BQ_TYPES = {
    "STRING",
    "BYTES",
    "INTEGER",
    "INT64",
    "FLOAT",
    "FLOAT64",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOLEAN",
    "BOOL",
    "TIMESTAMP",
    "DATE",
    "TIME",
    "DATETIME",
    "JSON",
    "RECORD",
    "STRUCT",
}
_MODES = {"NULLABLE", "REQUIRED", "REPEATED"}


class SchemaError(ValueError):
    """A schema file or tables.yaml entry is invalid; the message names the file and field."""


@dataclasses.dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    fields: tuple[dict[str, Any], ...]
    time_partitioning: dict[str, str] | None
    clustering: tuple[str, ...]
    replace_key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(f["name"] for f in self.fields)

    @property
    def partition_field(self) -> str | None:
        return (self.time_partitioning or {}).get("field")


def _check_fields(fields: Any, where: str) -> None:
    if not isinstance(fields, list) or not fields:
        raise SchemaError(f"{where}: a schema is a non-empty JSON list of fields")
    seen: set[str] = set()
    for i, field in enumerate(fields):
        if not isinstance(field, dict) or "name" not in field or "type" not in field:
            raise SchemaError(f"{where}: field #{i} needs 'name' and 'type'")
        name, typ = field["name"], str(field["type"]).upper()
        if typ not in _BQ_TYPES:
            raise SchemaError(f"{where}: field {name!r} has unknown type {field['type']!r}")
        if field.get("mode", "NULLABLE").upper() not in _MODES:
            raise SchemaError(f"{where}: field {name!r} has unknown mode {field.get('mode')!r}")
        if name in seen:
            raise SchemaError(f"{where}: field {name!r} is declared twice")
        seen.add(name)
        if typ in ("RECORD", "STRUCT"):
            _check_fields(field.get("fields"), f"{where}.{name}")


@functools.cache
def _tables() -> dict[str, Any]:
    with TABLES_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise SchemaError(f"{TABLES_FILE}: expected a mapping of table name to spec")
    return data


def table_names() -> list[str]:
    return sorted(_tables())


def load_schema(table: str) -> list[dict[str, Any]]:
    """The BigQuery JSON schema of ``table`` (a list of field dicts), validated."""
    path = SCHEMA_DIR / f"{table}.json"
    if not path.is_file():
        raise SchemaError(f"no schema file for table {table!r} (expected {path.name} in {SCHEMA_DIR.name}/)")
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path.name}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    _check_fields(fields, path.name)
    return fields


@functools.cache
def table_spec(table: str) -> TableSpec:
    tables = _tables()
    if table not in tables:
        raise SchemaError(
            f"table {table!r} is not declared in {TABLES_FILE.name} (known: {', '.join(tables)})"
        )
    raw = tables[table] or {}
    fields = tuple(load_schema(table))
    names = {f["name"] for f in fields}
    spec = TableSpec(
        name=table,
        description=str(raw.get("description", "")),
        fields=fields,
        time_partitioning=raw.get("time_partitioning"),
        clustering=tuple(raw.get("clustering", ())),
        replace_key=tuple(raw.get("replace_key", ())),
    )
    for col in (
        *spec.clustering,
        *spec.replace_key,
        *([spec.partition_field] if spec.partition_field else []),
    ):
        if col not in names:
            raise SchemaError(
                f"{TABLES_FILE.name}: table {table!r} names column {col!r} that its schema lacks"
            )
    return spec
