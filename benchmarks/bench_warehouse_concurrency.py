"""Benchmark of concurrent warehouse writers on the local target (DuckDB allows one writing process).

N writer processes start together behind a barrier; each replaces its own partition of
``monitoring_metrics`` K times (delete + insert of R rows in one transaction, like a load task).
Three ways to share the file are compared:

* ``none``  — open the file and fail on ``Could not set lock on file`` (the behaviour before the fix);
* ``retry`` — on that error, retry with exponential backoff and jitter (10 ms doubling, cap 0.5 s);
* ``lock``  — ``duck.session``: an inter-process file lock next to the database, wait then write.

Prints, per strategy: writes done / failed, lock conflicts met (failed opens), wall time, and the
per-write latency (median / max, including the wait). Asserts nothing.

    python benchmarks/bench_warehouse_concurrency.py                  # 4 writers x 10 writes x 200 rows
    python benchmarks/bench_warehouse_concurrency.py --writers 8 --writes 20 --rows 2000
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from llmops_factory.warehouse import duck

STRATEGIES = ("none", "retry", "lock")


def _rows(day: str, n: int, attempt: int) -> list[dict]:
    return [
        {"metric_date": day, "metric": f"m{i}", "value": float(i + attempt), "n": i, "model_version": "v1"}
        for i in range(n)
    ]


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


def _writer(strategy: str, path: str, index: int, writes: int, rows: int, barrier, results) -> None:
    day = (dt.date(2026, 1, 1) + dt.timedelta(days=index)).isoformat()
    done = failed = conflicts = 0
    latencies = []
    barrier.wait()
    for attempt in range(writes):
        started = time.perf_counter()
        data = _rows(day, rows, attempt)
        if strategy == "lock":
            with duck.session(path) as conn:
                duck.replace_rows(conn, "monitoring_metrics", {"metric_date": day}, rows=data)
            done += 1
        else:
            delay = 0.01
            while True:
                try:
                    conn = duck.connect(path)
                except Exception as exc:  # duckdb.IOException
                    if not _is_lock_error(exc):
                        raise
                    conflicts += 1
                    if strategy == "none":
                        failed += 1
                        break
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 0.5)
                    continue
                try:
                    duck.replace_rows(conn, "monitoring_metrics", {"metric_date": day}, rows=data)
                finally:
                    conn.close()
                done += 1
                break
        latencies.append(time.perf_counter() - started)
    results.put({"done": done, "failed": failed, "conflicts": conflicts, "latencies": latencies})


def run(strategy: str, writers: int, writes: int, rows: int) -> dict:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-wh-") as tmp:
        path = str(Path(tmp) / "warehouse.duckdb")
        with duck.session(path) as conn:
            duck.ensure_tables(conn, ["monitoring_metrics"])
        barrier = ctx.Barrier(writers + 1)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_writer, args=(strategy, path, i, writes, rows, barrier, results))
            for i in range(writers)
        ]
        for p in procs:
            p.start()
        barrier.wait()
        started = time.perf_counter()
        outs = [results.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - started
        for p in procs:
            p.join()
        with duck.session(path, read_only=True) as conn:
            stored = conn.execute("select count(*) from monitoring_metrics").fetchone()[0]
    lat = [x for o in outs for x in o["latencies"]]
    return {
        "strategy": strategy,
        "done": sum(o["done"] for o in outs),
        "failed": sum(o["failed"] for o in outs),
        "conflicts": sum(o["conflicts"] for o in outs),
        "wall_s": wall,
        "p50_ms": statistics.median(lat) * 1000 if lat else 0.0,
        "max_ms": max(lat) * 1000 if lat else 0.0,
        "rows_stored": stored,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--writes", type=int, default=10, help="writes per writer")
    parser.add_argument("--rows", type=int, default=200, help="rows per write")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    args = parser.parse_args(argv)
    print(f"{args.writers} writer processes x {args.writes} writes x {args.rows} rows, one DuckDB file")
    print(
        f"{'strategy':<8} {'done':>5} {'failed':>6} {'conflicts':>9} {'wall s':>7} {'p50 ms':>8} {'max ms':>8}"
    )
    for strategy in args.strategies:
        r = run(strategy, args.writers, args.writes, args.rows)
        print(
            f"{r['strategy']:<8} {r['done']:>5} {r['failed']:>6} {r['conflicts']:>9} {r['wall_s']:>7.2f} "
            f"{r['p50_ms']:>8.1f} {r['max_ms']:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
