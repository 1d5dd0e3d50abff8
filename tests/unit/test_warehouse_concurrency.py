"""The local warehouse under concurrent writers: tasks of one DAG run (``load_examples`` and
``load_dead_letters``) and of parallel runs open the DuckDB file at the same time under the scheduler.
DuckDB lets one process write; ``duck.session`` makes the others wait instead of failing."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from llmops_factory.warehouse import duck


def _hold(path: str, seconds: float, opened) -> None:
    with duck.session(path) as conn:
        duck.ensure_tables(conn, ["monitoring_metrics"])
        opened.set()
        time.sleep(seconds)


def _write(path: str, day: str, lock_timeout_s: float | None, out) -> None:
    try:
        with duck.session(path, lock_timeout_s=lock_timeout_s) as conn:
            rows = [{"metric_date": day, "metric": "m", "value": 1.0}]
            out.put(("ok", duck.replace_rows(conn, "monitoring_metrics", {"metric_date": day}, rows=rows)))
    except Exception as exc:  # reported to the parent process
        out.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.fixture
def ctx():
    return mp.get_context("spawn")


def test_a_second_writer_waits_for_the_first_instead_of_failing(tmp_path: Path, ctx):
    path = str(tmp_path / "warehouse.duckdb")
    opened, out = ctx.Event(), ctx.Queue()
    holder = ctx.Process(target=_hold, args=(path, 1.5, opened))
    holder.start()
    try:
        assert opened.wait(60), "the first writer never opened the warehouse"
        writer = ctx.Process(target=_write, args=(path, "2026-01-01", None, out))
        started = time.monotonic()
        writer.start()
        status, detail = out.get(timeout=120)
        waited = time.monotonic() - started
        writer.join(30)
    finally:
        holder.join(30)
    assert status == "ok", detail
    assert detail == 1
    assert waited > 0.3, "the second writer did not wait for the first"
    with duck.session(path, read_only=True) as conn:
        assert conn.execute("select count(*) from monitoring_metrics").fetchone()[0] == 1


def test_a_writer_gives_up_after_the_lock_timeout_naming_the_file(tmp_path: Path, ctx):
    path = str(tmp_path / "warehouse.duckdb")
    opened, out = ctx.Event(), ctx.Queue()
    holder = ctx.Process(target=_hold, args=(path, 4.0, opened))
    holder.start()
    try:
        assert opened.wait(60)
        writer = ctx.Process(target=_write, args=(path, "2026-01-01", 0.5, out))
        writer.start()
        status, detail = out.get(timeout=60)
        writer.join(30)
    finally:
        holder.join(30)
    assert status == "error"
    assert "WarehouseError" in detail and path in detail and "LLMOPS_WAREHOUSE_LOCK_TIMEOUT_S" in detail


def test_nested_sessions_in_one_thread_do_not_deadlock(tmp_path: Path):
    path = tmp_path / "warehouse.duckdb"
    with duck.session(path, lock_timeout_s=2) as outer:
        duck.ensure_tables(outer, ["monitoring_metrics"])
        with duck.session(path, lock_timeout_s=2) as inner:
            assert inner.execute("select count(*) from monitoring_metrics").fetchone()[0] == 0


def test_lock_timeout_setting_must_be_a_number(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LLMOPS_WAREHOUSE_LOCK_TIMEOUT_S", "soon")
    with pytest.raises(duck.WarehouseError, match="LLMOPS_WAREHOUSE_LOCK_TIMEOUT_S"):
        with duck.session(tmp_path / "w.duckdb"):
            pass
