"""Buffered writes of the endpoint's request-response log and feedback into the DuckDB warehouse.

Predictions must not wait for the warehouse, and DuckDB has one writer per file: rows are buffered in
memory and flushed in batches — every ``flush_interval_s``, as soon as ``flush_rows`` are waiting, and on
shutdown — each flush opening the warehouse through ``llmops_factory.warehouse.duck`` for as short a time
as it can. A flush that fails (the file is held by another writer) keeps its rows and is retried; rows are
dropped only past ``max_buffered_rows``, and then counted and logged, never silently.

Each batch is written as a MERGE on the table's replace key (``request_id``): rows of the batch replace
rows with the same key, so a flush retried after a failure it could not see changes nothing more.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmops_factory.warehouse import duck
from llmops_factory.warehouse.schemas import table_spec

log = logging.getLogger(__name__)


def merge_rows(conn: Any, table: str, rows: list[Mapping[str, Any]]) -> int:
    """Upsert ``rows`` into ``table`` on its replace key in one transaction; returns the row count."""
    import pyarrow as pa

    spec = table_spec(table)
    key = spec.replace_key
    latest: dict[tuple, Mapping[str, Any]] = {}
    for row in rows:  # the last row of a key wins inside a batch too
        latest[tuple(row.get(k) for k in key)] = row
    batch = list(latest.values())
    if not batch:
        return 0
    columns = spec.column_names
    arrays = {}
    for f in spec.fields:
        name, typ = f["name"], str(f["type"]).upper()
        values = [r.get(name) for r in batch]
        repeated = str(f.get("mode", "NULLABLE")).upper() == "REPEATED"
        if repeated:
            arrays[name] = pa.array(values, type=pa.list_(pa.string()))
        elif typ in ("NUMERIC", "INTEGER", "INT64"):
            arrays[name] = pa.array(values, type=pa.int64())
        elif typ == "TIMESTAMP":
            arrays[name] = pa.array(values, type=pa.timestamp("us", tz="UTC"))
        elif typ in ("FLOAT", "FLOAT64"):
            arrays[name] = pa.array(values, type=pa.float64())
        else:
            arrays[name] = pa.array(values, type=pa.string())
    staged = pa.table(arrays)
    cols = ", ".join(f'"{c}"' for c in columns)
    casts = ", ".join(
        f'CAST("{c}" AS {duck.duckdb_type(f)})' for c, f in zip(columns, spec.fields, strict=True)
    )
    on = " AND ".join(f't."{k}" = s."{k}"' for k in key)
    duck.ensure_tables(conn, [table])
    conn.register("_llmops_batch", staged)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f'DELETE FROM "{table}" t WHERE EXISTS (SELECT 1 FROM _llmops_batch s WHERE {on})')
        conn.execute(f'INSERT INTO "{table}" ({cols}) SELECT {casts} FROM _llmops_batch')
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.unregister("_llmops_batch")
    return len(batch)


class BufferedWarehouseWriter:
    """A background thread that flushes buffered rows of several tables into the warehouse."""

    def __init__(
        self,
        warehouse_path: Path,
        flush_interval_s: float = 2.0,
        flush_rows: int = 500,
        max_buffered_rows: int = 200_000,
    ) -> None:
        self.path = Path(warehouse_path)
        self.flush_interval_s = flush_interval_s
        self.flush_rows = flush_rows
        self.max_buffered_rows = max_buffered_rows
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written: dict[str, int] = {}
        self.dropped = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self.last_flush_at: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="warehouse-writer", daemon=True)
        self._thread.start()

    def add(self, table: str, row: dict[str, Any]) -> None:
        with self._lock:
            buffered = sum(len(b) for b in self._buffers.values())
            if buffered >= self.max_buffered_rows:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error(
                        "warehouse buffer full (%d rows, last error: %s): %d row(s) dropped so far",
                        buffered,
                        self.last_error,
                        self.dropped,
                    )
                return
            self._buffers.setdefault(table, []).append(row)
            if buffered + 1 >= self.flush_rows:
                self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._buffers.values())

    def flush(self) -> bool:
        """Write everything buffered now; False (rows kept for the next try) if the warehouse refused."""
        with self._lock:
            batches, self._buffers = self._buffers, {}
        if not any(batches.values()):
            return True
        try:
            with duck.session(self.path) as conn:
                for table, rows in batches.items():
                    if rows:
                        self.written[table] = self.written.get(table, 0) + merge_rows(conn, table, rows)
        except Exception as exc:  # noqa: BLE001 - the rows go back to the buffer and are retried
            self.failed_flushes += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "warehouse flush failed (%s); %d row(s) kept for the next try",
                self.last_error,
                sum(map(len, batches.values())),
            )
            with self._lock:
                for table, rows in batches.items():
                    self._buffers[table] = rows + self._buffers.get(table, [])
            return False
        self.last_flush_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
        return True

    def _run(self) -> None:
        backoff = self.flush_interval_s
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            ok = self.flush()
            backoff = self.flush_interval_s if ok else min(backoff * 2, 30.0)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the thread and flush what is left (retrying for up to ``timeout_s``)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        deadline = time.monotonic() + timeout_s
        while not self.flush() and time.monotonic() < deadline:
            time.sleep(0.5)
        left = self.pending()
        if left:
            log.error(
                "%d row(s) could not be written to %s at shutdown: %s", left, self.path, self.last_error
            )

    def stats(self) -> dict[str, Any]:
        return {
            "pending_rows": self.pending(),
            "written_rows": dict(self.written),
            "dropped_rows": self.dropped,
            "failed_flushes": self.failed_flushes,
            "last_error": self.last_error,
            "last_flush_at": self.last_flush_at,
        }
