"""The monitoring SQL: one BigQuery-dialect text per query in ``sql/``, run as-is on BigQuery and
transpiled to DuckDB by ``sqlglot`` on the local target (the tests execute the transpiled text).

Table names are ``{table}`` placeholders filled with the target's qualified names; parameters are
BigQuery named parameters (``@start``), which sqlglot turns into DuckDB's ``$start``. One function has no
DuckDB twin that fails the same way: ``SAFE.PARSE_JSON`` (NULL on invalid JSON) becomes
``CASE WHEN json_valid(x) THEN json(x) END``.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parent / "sql"
TABLES = ("prediction_log", "feedback")


def _fill(source: str, tables: Mapping[str, str]) -> str:
    for name, qualified in tables.items():
        source = source.replace("{" + name + "}", qualified)
    return source


@functools.cache
def text(name: str) -> str:
    """The BigQuery text of ``sql/<name>.sql``."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no monitoring query {name!r} ({path})")
    return path.read_text(encoding="utf-8")


def bigquery(name: str, tables: Mapping[str, str]) -> str:
    """The query for BigQuery with ``tables`` (name → backquoted ``project.dataset.table``)."""
    return _fill(text(name), {t: tables[t] for t in TABLES})


@functools.cache
def duckdb(name: str) -> str:
    """The query transpiled to DuckDB (tables by their plain names)."""
    import sqlglot
    from sqlglot import exp

    def safe_parse_json(node: exp.Expression) -> exp.Expression:
        # BigQuery's SAFE.PARSE_JSON(x) is NULL for invalid JSON; DuckDB's json(x) raises, so guard it
        if isinstance(node, exp.SafeFunc) and isinstance(node.this, exp.ParseJSON):
            arg = node.this.this
            return exp.Case(
                ifs=[exp.If(this=exp.func("json_valid", arg.copy()), true=exp.func("json", arg.copy()))]
            )
        return node

    source = _fill(text(name), {t: t for t in TABLES})
    tree = sqlglot.parse_one(source, read="bigquery").transform(safe_parse_json)
    return tree.sql(dialect="duckdb")


def run_duckdb(conn: Any, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Execute query ``name`` on a DuckDB connection; rows as dicts."""
    from llmops_factory.warehouse import duck

    duck.ensure_tables(conn, list(TABLES))
    cursor = conn.execute(duckdb(name), dict(params))
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def bigquery_parameters(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """BigQuery ``queryParameters`` of ``params`` (datetimes as TIMESTAMP, ints as INT64)."""
    out = []
    for name, value in params.items():
        if isinstance(value, _dt.datetime):
            typ, text_value = "TIMESTAMP", value.isoformat()
        elif isinstance(value, bool) or not isinstance(value, int):
            typ, text_value = "STRING", str(value)
        else:
            typ, text_value = "INT64", str(value)
        out.append({"name": name, "parameterType": {"type": typ}, "parameterValue": {"value": text_value}})
    return out
