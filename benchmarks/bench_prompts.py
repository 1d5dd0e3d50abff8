"""Benchmark of the prompts package: validation wall time per prompt, render throughput, publish/resolve.

Prints figures, asserts nothing. Sizes are flags:

    python benchmarks/bench_prompts.py                    # the repository's prompts, 20 repeats
    python benchmarks/bench_prompts.py --copies 200       # also 200 synthetic prompt versions
    python benchmarks/bench_prompts.py --tokenizer PATH   # count with a Hugging Face tokenizer
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmops_factory.prompts import load_prompt, publish_repo, render, resolve, set_alias
from llmops_factory.prompts.lockfile import write_lock
from llmops_factory.prompts.tokens import token_counter
from llmops_factory.prompts.validator import validate_prompts

REPO = Path(__file__).resolve().parents[1]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def bench_validate(prompts_dir: Path, repeat: int, tokenizer: str | None) -> None:
    counter = token_counter(tokenizer)
    per_prompt: dict[str, list[float]] = {}
    totals = []
    for _ in range(repeat):
        started = time.perf_counter()
        report = validate_prompts(prompts_dir, counter=counter)
        totals.append(time.perf_counter() - started)
        if not report.ok:
            raise SystemExit("validation failed:\n" + "\n".join(map(str, report.issues)))
        for p in report.prompts:
            per_prompt.setdefault(p.ref, []).append(p.seconds)
    print(f"validate ({counter.name}), {len(per_prompt)} prompt files, {repeat} runs:")
    for ref, times in sorted(per_prompt.items()):
        print(f"  {ref:<28} median {_ms(statistics.median(times))}  max {_ms(max(times))}")
    print(f"  all files: median {_ms(statistics.median(totals))}  first run {_ms(totals[0])}")


def bench_copies(prompts_dir: Path, copies: int, tokenizer: str | None) -> None:
    source = (prompts_dir / "support_assistant" / "1.1.0.yaml").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "prompts"
        for index in range(copies):
            version = f"2.{index}.0"
            target = folder / "support_assistant" / f"{version}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source.replace("version: 1.1.0", f"version: {version}"))
        started = time.perf_counter()
        report = validate_prompts(folder, counter=token_counter(tokenizer))
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        write_lock(folder)
        lock_elapsed = time.perf_counter() - started
    assert report.ok, report.issues
    print(
        f"validate {copies} synthetic prompt versions: {elapsed:.3f} s total, {_ms(elapsed / copies)} per prompt; "
        f"lock: {lock_elapsed:.3f} s"
    )


def bench_render(n: int) -> None:
    prompt = load_prompt("support_assistant@1.0.0")
    variables = {"instruction": "How do I change my billing date?", "input": "Plan: Plus, monthly, EUR."}
    started = time.perf_counter()
    for _ in range(n):
        render(prompt, variables)
    elapsed = time.perf_counter() - started
    print(
        f"render support_assistant@1.0.0: {n} renders in {elapsed:.3f} s = {elapsed / n * 1e6:.1f} us/render "
        f"({n / elapsed:,.0f} renders/s)"
    )


def bench_store(prompts_dir: Path, resolves: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).as_uri()
        started = time.perf_counter()
        results = publish_repo(root, prompts_dir=prompts_dir)
        publish = time.perf_counter() - started
        started = time.perf_counter()
        publish_repo(root, prompts_dir=prompts_dir)
        republish = time.perf_counter() - started
        set_alias("support_assistant", "production", "1.0.0", root)
        started = time.perf_counter()
        for _ in range(resolves):
            resolve("support_assistant@production", root)
        per_resolve = (time.perf_counter() - started) / resolves
    print(
        f"publish {len(results)} versions (validate + lock check + write): {_ms(publish)}; "
        f"identical republish (no-op): {_ms(republish)}; resolve alias + verify bundle: {_ms(per_resolve)}"
    )


def bench_cli(prompts_dir: Path) -> None:
    env = dict(os.environ)
    command = [sys.executable, "-m", "llmops_factory.prompts", "validate", "--prompts-dir", str(prompts_dir)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    print(f"CLI `validate` wall time (new process, imports included): {time.perf_counter() - started:.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts-dir", type=Path, default=REPO / "prompts")
    parser.add_argument("--repeat", type=int, default=20, help="validation runs over the repository prompts")
    parser.add_argument(
        "--copies", type=int, default=100, help="synthetic prompt versions to validate (0: skip)"
    )
    parser.add_argument("--renders", type=int, default=20000, help="renders for the throughput figure")
    parser.add_argument("--resolves", type=int, default=50, help="alias resolutions for the store figure")
    parser.add_argument("--tokenizer", default=None, help="Hugging Face tokenizer path for exact counts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        prompts_dir = Path(tmp) / "prompts"
        shutil.copytree(args.prompts_dir, prompts_dir)
        bench_validate(prompts_dir, args.repeat, args.tokenizer)
        if args.copies:
            bench_copies(prompts_dir, args.copies, args.tokenizer)
        bench_render(args.renders)
        bench_store(prompts_dir, args.resolves)
        bench_cli(prompts_dir)


if __name__ == "__main__":
    main()
