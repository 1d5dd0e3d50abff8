"""Benchmark of the evaluation stage on the local target.

    .venv/bin/python benchmarks/bench_evaluation.py throughput --model_dir .llmops/storage/models/<mv>/merged \
        --prompt support_assistant@1.0.0 --rows 32
    .venv/bin/python benchmarks/bench_evaluation.py dag [--model_version <mv>]     # eval DAG wall time
    .venv/bin/python benchmarks/bench_evaluation.py compare --model_version <mv>    # base vs candidate vs champion
    .venv/bin/python benchmarks/bench_evaluation.py bad-model --model_version <mv>  # shuffled answers → rejected
    .venv/bin/python benchmarks/bench_evaluation.py formulations --base <base dir> --candidate <merged dir>

* ``throughput`` — generation examples/s of the batch-generate engine, batched (``--batch_size``) vs one
  at a time, in-process on the same rows (the fact table's questions rendered with the prompt).
* ``dag`` — wall time of ``airflow dags test llmops_evaluate`` (simulated reviewer) and of each task.
* ``compare`` — every metric of the last evaluation of ``--model_version`` for candidate, champion and
  base (``eval/<mv>/scores.json``), and whether the candidate's benchmark gain over the base model is
  larger than its 95% interval.
* ``bad-model`` — trains a model on the candidate's snapshot with the answers shuffled across examples,
  with the candidate's own hyper-parameters (its model card), registers it as ``candidate``, evaluates it
  and prints the gate's decision and reasons; then points ``candidate`` back at the version it had.
* ``formulations`` — domain-benchmark accuracy of a base and a candidate model in the cloze formulation
  that ``batch-generate`` scores (the question, the answer's own start, the option as continuation) and
  in the lettered one it replaced (question and options A-D in the instruction, the option text as the
  answer), with the candidate's paired gain and its 95% interval for each.

Uses ``.llmops/`` (run ``make demo`` first). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _settings():
    from llmops_factory.settings import get_settings

    return get_settings()


def throughput(args: argparse.Namespace) -> None:
    from llmops_factory.datagen.facts import fact_items
    from llmops_trainer import batch_generate as bg
    from llmops_trainer.serve import load_serving_prompt
    from llmops_trainer.serve_engine import Generator

    prompt = load_serving_prompt(args.prompt, _settings().storage_root)
    questions = [q for item in fact_items() for q in item.questions][: args.rows]
    rows = [
        {"item_id": str(i), "kind": "eval", "instruction": q, "input": ""} for i, q in enumerate(questions)
    ]
    gen = Generator(args.model_dir, device="cpu", threads=args.threads or None)
    bg.generate(gen, prompt, rows[:2], 2, args.max_new_tokens)  # warm-up
    print(f"rows {len(rows)}, max_new_tokens {args.max_new_tokens}, threads {args.threads or 'default'}")
    for batch in (1, args.batch_size):
        outputs, seconds = bg.generate(gen, prompt, rows, batch, args.max_new_tokens)
        tokens = sum(o.tokens_out for o in outputs)
        print(
            f"batch_size {batch:3d}: {len(rows) / seconds:7.2f} examples/s, {tokens / seconds:8.1f} tokens/s, "
            f"{seconds:6.1f} s"
        )


def _airflow_env(simulated: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    if simulated:
        env["LLMOPS_EVALUATION__REVIEW__MODE"] = "simulated"
    return env


def dag(args: argparse.Namespace) -> None:
    """Wall time of one evaluation run (the sign-off, if asked, answered through the REST API)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from hitl_run import run_with_answer

    log = _settings().local.home / f"bench-evaluate-{args.model_version or 'candidate'}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    code, out, happened = run_with_answer(
        "llmops_evaluate",
        args.date,
        conf={"model_version": args.model_version or ""},
        answer="Approve",
        env=_airflow_env(),
        timeout=args.timeout,
        log_path=log,
    )
    wall = time.monotonic() - started
    print(
        f"llmops_evaluate: exit {code}, wall {wall:.0f} s, sign_off {happened.get('answered') or 'not asked'} "
        f"(log {log})"
    )
    starts: dict[str, str] = {}
    for line in out.splitlines():
        if "[DAG TEST] starting task_id=" in line or "[DAG TEST] end task task_id=" in line:
            stamp, task = line[:27], line.split("task_id=")[1].split()[0]
            if "starting" in line:
                starts[task] = stamp
            elif task in starts:
                import datetime as _dt

                took = _dt.datetime.fromisoformat(stamp.rstrip("Z")) - _dt.datetime.fromisoformat(
                    starts.pop(task).rstrip("Z")
                )
                print(f"  {task:22s} {took.total_seconds():7.1f} s")


def compare(args: argparse.Namespace) -> None:
    from llmops_factory import layout

    root = _settings().local.storage_root
    saved = json.loads((root / layout.eval_dir(args.model_version) / "scores.json").read_text())
    roles = [r for r in ("candidate", "champion", "base") if r in saved]
    names = sorted({k for r in roles for k in saved[r]["metrics"] if not k.startswith("probe_")})
    print(f"{'metric':32s}" + "".join(f"{r + ' ' + saved[r]['model_version'][-12:]:>28s}" for r in roles))
    for name in names:
        print(f"{name:32s}" + "".join(f"{_fmt(saved[r]['metrics'].get(name)):>28s}" for r in roles))
    m = saved["candidate"]["metrics"]
    if "benchmark_gain_vs_base" in m:
        gain, lo, hi = m["benchmark_gain_vs_base"], m["benchmark_gain_ci_low"], m["benchmark_gain_ci_high"]
        print(
            f"benchmark gain vs base {gain:+.4f}, 95% CI [{lo:+.4f}, {hi:+.4f}]: "
            + ("significant (CI excludes 0)" if lo > 0 else "NOT significant")
        )
    decision = root / layout.eval_dir(args.model_version) / "decision.json"
    if decision.exists():
        d = json.loads(decision.read_text())
        print("gate: " + ("APPROVED" if d["approved"] else "REJECTED: " + "; ".join(d["reasons"])))


def _fmt(v) -> str:
    return "—" if v is None else f"{float(v):.4f}"


def bad_model(args: argparse.Namespace) -> None:
    """Shuffle the answers of the candidate's training split, train, register as candidate, evaluate."""
    from llmops_factory import layout, registry

    settings = _settings()
    root = settings.local.storage_root
    card = json.loads((root / layout.model(args.model_version) / "model_card.json").read_text())
    snap = card["dataset"]["snapshot_version"]
    bad_snap = f"{snap}-shuffled"
    src, dst = root / layout.dataset(snap), root / layout.dataset(bad_snap)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    (dst / "manifest.json").write_text(
        json.dumps({**json.loads((src / "manifest.json").read_text()), "snapshot_version": bad_snap})
    )
    for part in sorted((dst / "train").glob("part-*.jsonl")):
        rows = [json.loads(x) for x in part.read_text().splitlines() if x.strip()]
        outputs = [r["output"] for r in rows]
        random.Random(0).shuffle(outputs)
        part.write_text(
            "".join(json.dumps({**r, "output": o}) + "\n" for r, o in zip(rows, outputs, strict=True))
        )
    mv = f"{args.model_version}-shuffled"
    out = root / layout.model(mv)
    hp = card.get("hyperparameters") or {}
    cmd = [
        sys.executable,
        "-m",
        "llmops_trainer",
        "train",
        "--config",
        "trainer/configs/local-cpu.yaml",
        "--train_data",
        str(dst / "train"),
        "--eval_data",
        str(dst / "eval"),
        "--base_model",
        card["base_model"]["uri"],
        "--prompt",
        card["prompt"]["ref"],
        "--prompt_root",
        settings.storage_root,
        "--output_dir",
        str(out),
        "--run_name",
        mv,
        "--tracking",
        "mlflow",
        "--tracking_uri",
        settings.local.mlflow_tracking_uri,
        "--experiment_name",
        settings.use_case,
    ]
    # the candidate's own training recipe: only the answers differ
    for key in (
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "learning_rate",
        "num_train_epochs",
        "max_seq_length",
        "per_device_train_batch_size",
        "seed",
    ):
        if hp.get(key) is not None:
            cmd += [f"--{key}", str(hp[key])]
    if hp.get("lora_target_modules"):
        cmd += ["--lora_target_modules", *[str(m) for m in hp["lora_target_modules"]]]
    if args.max_steps:
        cmd += ["--max_steps", str(args.max_steps)]
    if (out / "merged" / "config.json").exists() and not args.retrain:
        print(f"reusing {mv} (trained on shuffled answers by an earlier run; --retrain trains it again)")
    else:
        started = time.monotonic()
        subprocess.run(cmd, cwd=REPO, check=True, env={**os.environ, "AIP_MODEL_DIR": str(out)})
        print(f"trained {mv} on shuffled answers in {time.monotonic() - started:.0f} s")
    previous = registry.get_version_by_alias(
        settings.use_case, "candidate", uri=settings.local.mlflow_tracking_uri
    )
    version = registry.register_version(
        model_name=settings.use_case,
        source_uri=f"{settings.storage_root}/{layout.model_merged(mv)}",
        run_id=None,
        idempotency_key=f"bench-shuffled-{mv}",
        tags={"model_version": mv},
        alias="candidate",
        uri=settings.local.mlflow_tracking_uri,
    )
    print(f"registered version {version} as candidate")
    args.model_version = mv
    try:
        dag(args)
        compare(args)
    finally:
        if previous is not None:
            registry.set_alias(
                settings.use_case, "candidate", previous.version, uri=settings.local.mlflow_tracking_uri
            )
            print(f"alias candidate points back at version {previous.version}")


def _lettered_rows(gen, prompt, items: list[dict], batch_size: int) -> list[dict]:
    """The formulation used before the cloze one: options listed in the instruction, option scored as
    the answer's first words."""
    from llmops_factory.evaluation.benchmark import LETTERS
    from llmops_factory.prompts import render
    from llmops_trainer import batch_generate as bg

    pairs = []
    for item in items:
        options = "\n".join(f"{k}. {c}" for k, c in zip(LETTERS, item["choices"], strict=True))
        ctx = gen.encode(render(prompt, {"instruction": f"{item['question']}\n{options}", "input": ""}).text)
        pairs += [
            (ctx, gen.tokenizer(" " + c, add_special_tokens=False)["input_ids"]) for c in item["choices"]
        ]
    scores = bg._sequence_logprobs(gen, pairs, batch_size * 4)
    return [
        {"item_id": it["item_id"], "predicted": LETTERS[max(range(4), key=lambda k: scores[4 * n + k][0])]}
        for n, it in enumerate(items)
    ]


def formulations(args: argparse.Namespace) -> None:
    from llmops_factory.evaluation import benchmark as bm
    from llmops_factory.evaluation.metrics import paired_difference_ci
    from llmops_trainer import batch_generate as bg
    from llmops_trainer.serve import load_serving_prompt
    from llmops_trainer.serve_engine import Generator

    prompt = load_serving_prompt(args.prompt, _settings().storage_root)
    items = [i.to_dict() for i in bm.domain_benchmark()]
    correct: dict[str, dict[str, list[float]]] = {}
    for role, folder in (("base", args.base), ("candidate", args.candidate)):
        gen = Generator(folder, device="cpu", threads=args.threads or None)
        started = time.perf_counter()
        for name, rows in (
            ("cloze", bg.score_benchmark(gen, prompt, items, args.batch_size)),
            ("lettered", _lettered_rows(gen, prompt, items, args.batch_size)),
        ):
            correct.setdefault(name, {})[role] = [
                float(r["predicted"] == i["answer"]) for r, i in zip(rows, items, strict=True)
            ]
        print(f"{role}: {folder} scored in {time.perf_counter() - started:.0f} s")
    print(f"{len(items)} domain items, chance 0.25")
    for name, by_role in correct.items():
        gain, lo, hi = paired_difference_ci(by_role["candidate"], by_role["base"])
        print(
            f"{name:9s} base {sum(by_role['base']) / len(items):.3f}  candidate "
            f"{sum(by_role['candidate']) / len(items):.3f}  gain {gain:+.3f} (95% CI {lo:+.3f} to {hi:+.3f})"
            + ("  separated" if lo > 0 else "")
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--model_dir", required=True)
    t.add_argument("--prompt", default="support_assistant@1.0.0")
    t.add_argument("--rows", type=int, default=32)
    t.add_argument("--batch_size", type=int, default=16)
    t.add_argument("--max_new_tokens", type=int, default=48)
    t.add_argument("--threads", type=int, default=0)
    for name in ("dag", "compare", "bad-model"):
        s = sub.add_parser(name)
        s.add_argument("--model_version", default="", required=name != "dag")
        s.add_argument("--date", default="2026-01-04")
        s.add_argument("--timeout", type=int, default=3600)
        s.add_argument(
            "--max_steps", type=int, default=0, help="bad-model: optimizer steps (0: the config's epochs)"
        )
        s.add_argument(
            "--retrain", action="store_true", help="bad-model: train again even if the model exists"
        )
    f = sub.add_parser("formulations")
    f.add_argument("--base", required=True, help="base model folder")
    f.add_argument("--candidate", required=True, help="merged candidate model folder")
    f.add_argument("--prompt", default="support_assistant@1.0.0")
    f.add_argument("--batch_size", type=int, default=16)
    f.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    commands = {
        "throughput": throughput,
        "dag": dag,
        "compare": compare,
        "bad-model": bad_model,
        "formulations": formulations,
    }
    commands[args.command](args)


if __name__ == "__main__":
    main()
