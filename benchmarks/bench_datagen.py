"""Benchmark of the raw corpus generator: throughput, peak memory and linearity of cost.

Each size runs in a fresh subprocess (so peak RSS is that size's own), writing one day into a temporary
folder that is deleted afterwards. Prints one line per size and the time ratio between the largest and
the smallest size (linear cost: the ratio is close to the ratio of the sizes).

    python benchmarks/bench_datagen.py                       # 100k and 1M records
    python benchmarks/bench_datagen.py --records 20000 200000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, shutil, sys, time
from pathlib import Path
from llmops_factory.datagen import generate_day
root, records, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
summary = generate_day(root, "2026-03-01", seed=seed, scale=records)
seconds = time.perf_counter() - start
size = sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
print(json.dumps({
    "records": summary["total_records"],
    "seconds": seconds,
    "bytes": size,
    "files": sum(len(v) for v in summary["files"].values()),
    "injections": sum(summary["injections_total"].values()),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_one(records: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-datagen-") as root:
        env = dict(os.environ)
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, root, str(records), str(seed)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--records", type=int, nargs="+", default=[100_000, 1_000_000], help="Records per day."
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = []
    print(
        f"{'records':>10} {'seconds':>9} {'records/s':>10} {'MB out':>8} {'files':>6} {'injected':>9} {'peak RSS MB':>12}"
    )
    for records in sorted(args.records):
        r = run_one(records, args.seed)
        results.append(r)
        print(
            f"{r['records']:>10} {r['seconds']:>9.1f} {r['records'] / r['seconds']:>10.0f} "
            f"{r['bytes'] / 1e6:>8.1f} {r['files']:>6} {r['injections']:>9} {r['peak_rss_mb']:>12.0f}"
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(
            f"time({large['records']})/time({small['records']}) = {large['seconds'] / small['seconds']:.2f} "
            f"for a size ratio of {large['records'] / small['records']:.1f} (single process, one core)"
        )


if __name__ == "__main__":
    main()
