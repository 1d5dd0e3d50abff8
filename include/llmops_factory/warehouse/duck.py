"""The DuckDB warehouse of the local target: tables created from the BigQuery schema files.

Writes are idempotent: ``replace_rows`` deletes the rows a task owns (its replace key, e.g. one
``source_date`` partition) and inserts the new ones in one transaction — the DuckDB counterpart of a
BigQuery load with a partition decorator and ``WRITE_TRUNCATE``.

Concurrency: DuckDB lets one process at a time open a database file for writing, and a second process
fails at once with ``Could not set lock on file``. Under the scheduler, tasks of one DAG run (and of
parallel runs) open the warehouse at the same time, so :func:`session` serialises them with an
inter-process file lock next to the database (``warehouse.duckdb.lock``): a session waits for the
previous one to close, up to ``lock_timeout_s`` (``LLMOPS_WAREHOUSE_LOCK_TIMEOUT_S``, default 600 s),
then fails naming the file. ``benchmarks/bench_warehouse_concurrency.py`` compares this with
retrying on the lock error.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmops_factory.warehouse.schemas import TableSpec, table_names, table_spec

_SCALAR = {
    "STRING": "VARCHAR",
    "BYTES": "BLOB",
    "INTEGER": "BIGINT",
    "INT64": "BIGINT",
    "FLOAT": "DOUBLE",
    "FLOAT64": "DOUBLE",
    "NUMERIC": "DECIMAL(38, 9)",
    "BIGNUMERIC": "DECIMAL(38, 9)",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "TIME": "TIME",
    "DATETIME": "TIMESTAMP",
    "JSON": "JSON",
}


class WarehouseError(RuntimeError):
    """A warehouse write or read failed; the message names the table and the offending field or file."""


def duckdb_type(field: Mapping[str, Any]) -> str:
    typ = str(field["type"]).upper()
    if typ in ("RECORD", "STRUCT"):
        inner = ", ".join(f'"{f["name"]}" {duckdb_type(f)}' for f in field["fields"])
        base = f"STRUCT({inner})"
    else:
        base = _SCALAR[typ]
    return f"{base}[]" if str(field.get("mode", "NULLABLE")).upper() == "REPEATED" else base


def create_table_sql(spec: TableSpec) -> str:
    cols = []
    for f in spec.fields:
        not_null = " NOT NULL" if str(f.get("mode", "NULLABLE")).upper() == "REQUIRED" else ""
        cols.append(f'  "{f["name"]}" {duckdb_type(f)}{not_null}')
    return f'CREATE TABLE IF NOT EXISTS "{spec.name}" (\n' + ",\n".join(cols) + "\n)"


def connect(path: str | Path, read_only: bool = False):
    """Open the DuckDB warehouse file (created with its parent folder if needed)."""
    import duckdb

    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only)


DEFAULT_LOCK_TIMEOUT_S = 600.0
_LOCKS: dict[str, Any] = {}
_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> Any:
    """One ``FileLock`` per database file and process: re-entrant within a thread (a nested session
    does not deadlock), exclusive across threads and processes."""
    import filelock

    key = str(path.resolve())
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = filelock.FileLock(key + ".lock")
        return lock


def _lock_timeout(lock_timeout_s: float | None) -> float:
    if lock_timeout_s is not None:
        return lock_timeout_s
    raw = os.environ.get("LLMOPS_WAREHOUSE_LOCK_TIMEOUT_S", "")
    try:
        return float(raw) if raw.strip() else DEFAULT_LOCK_TIMEOUT_S
    except ValueError:
        raise WarehouseError(
            f"LLMOPS_WAREHOUSE_LOCK_TIMEOUT_S must be a number of seconds, got {raw!r}"
        ) from None


@contextlib.contextmanager
def session(
    path: str | Path, read_only: bool = False, *, lock_timeout_s: float | None = None
) -> Iterator[Any]:
    """A connection to the warehouse file, held under its inter-process lock until it closes.

    Readers take the lock too: DuckDB refuses a read-only open while another process writes.
    Raises :class:`WarehouseError` naming the file when the lock is not free within the timeout.
    """
    import filelock

    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    timeout = _lock_timeout(lock_timeout_s)
    lock = _file_lock(path)
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise WarehouseError(
            f"warehouse {path} is locked by another task for more than {timeout:g} s "
            f"(lock file {path}.lock); raise LLMOPS_WAREHOUSE_LOCK_TIMEOUT_S or look for a stuck process"
        ) from None
    try:
        conn = connect(path, read_only=read_only)
        try:
            yield conn
        finally:
            conn.close()
    finally:
        lock.release()


def ensure_tables(conn: Any, tables: Iterable[str] | None = None) -> list[str]:
    """Create every warehouse table that does not exist yet; returns the table names."""
    names = list(tables) if tables is not None else table_names()
    for name in names:
        conn.execute(create_table_sql(table_spec(name)))
    return names


def _check_key(spec: TableSpec, key: Mapping[str, Any]) -> None:
    if set(key) != set(spec.replace_key):
        raise WarehouseError(
            f"table {spec.name!r}: replace key must be exactly {list(spec.replace_key)}, got {sorted(key)}"
        )


def _validate_row(spec: TableSpec, row: Mapping[str, Any], where: str) -> None:
    unknown = set(row) - set(spec.column_names)
    if unknown:
        raise WarehouseError(f"{where}: table {spec.name!r} has no column(s) {sorted(unknown)}")
    for f in spec.fields:
        if str(f.get("mode", "NULLABLE")).upper() == "REQUIRED" and row.get(f["name"]) in (None, ""):
            if row.get(f["name"]) == "" and str(f["type"]).upper() == "STRING":
                continue
            raise WarehouseError(f"{where}: required field {f['name']!r} of table {spec.name!r} is missing")


def replace_rows(
    conn: Any,
    table: str,
    key: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]] = (),
    jsonl_files: Sequence[str | Path] = (),
) -> int:
    """Replace the rows of ``table`` matching ``key`` with ``rows`` and/or the rows of JSONL files.

    Every new row must match ``key`` (a row outside it would break idempotency) and the schema.
    Returns the number of rows now under ``key``.
    """
    spec = table_spec(table)
    _check_key(spec, key)
    ensure_tables(conn, [table])
    cols = ", ".join(f'"{c}"' for c in spec.column_names)
    where = " AND ".join(f'"{k}" = ?' for k in spec.replace_key)
    params = [key[k] for k in spec.replace_key]
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f'DELETE FROM "{table}" WHERE {where}', params)
        for i, row in enumerate(rows):
            _validate_row(spec, row, f"row #{i}")
            outside = {k: row.get(k) for k in spec.replace_key if str(row.get(k)) != str(key[k])}
            if outside:
                raise WarehouseError(f"row #{i} of table {table!r} lies outside the replace key: {outside}")
        if rows:
            placeholders = ", ".join("?" for _ in spec.column_names)
            conn.executemany(
                f'INSERT INTO "{table}" ({cols}) VALUES ({placeholders})',
                [[_to_db(row.get(c)) for c in spec.column_names] for row in rows],
            )
        for path in jsonl_files:
            _insert_jsonl(conn, spec, Path(path), where, params)
        count = conn.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', params).fetchone()[0]
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return int(count)


def _to_db(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _insert_jsonl(conn: Any, spec: TableSpec, path: Path, where: str, params: list[Any]) -> None:
    if not path.is_file():
        raise WarehouseError(f"table {spec.name!r}: load file {path} does not exist")
    if path.stat().st_size == 0:
        return
    columns = "{" + ", ".join(f"'{f['name']}': '{duckdb_type(f)}'" for f in spec.fields) + "}"
    conn.execute("DROP TABLE IF EXISTS _llmops_staging")
    try:
        conn.execute(
            "CREATE TEMP TABLE _llmops_staging AS SELECT * FROM "
            f"read_json(?, format = 'newline_delimited', columns = {columns})",
            [str(path)],
        )
    except Exception as exc:  # duckdb raises several error classes; name the file and table
        raise WarehouseError(f"loading {path} into {spec.name!r} failed: {exc}") from exc
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    staged = conn.execute("SELECT count(*) FROM _llmops_staging").fetchone()[0]
    if staged != lines:
        raise WarehouseError(f"loading {path} into {spec.name!r}: {lines} lines but {staged} rows parsed")
    outside = conn.execute(f"SELECT count(*) FROM _llmops_staging WHERE NOT ({where})", params).fetchone()[0]
    if outside:
        raise WarehouseError(
            f"loading {path} into {spec.name!r}: {outside} row(s) lie outside the replace key {params}"
        )
    for f in spec.fields:
        if str(f.get("mode", "NULLABLE")).upper() == "REQUIRED":
            missing = conn.execute(
                f'SELECT count(*) FROM _llmops_staging WHERE "{f["name"]}" IS NULL'
            ).fetchone()[0]
            if missing:
                raise WarehouseError(
                    f"loading {path} into {spec.name!r}: required field {f['name']!r} is missing in {missing} row(s)"
                )
    cols = ", ".join(f'"{c}"' for c in spec.column_names)
    conn.execute(f'INSERT INTO "{spec.name}" ({cols}) SELECT {cols} FROM _llmops_staging')
    conn.execute("DROP TABLE _llmops_staging")
