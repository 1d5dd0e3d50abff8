"""Benchmark of the fine-tuning stage: base-model build time, trainer throughput and memory against a
plain Hugging Face ``Trainer`` + PEFT baseline, useful-token fraction with and without packing, and the
held-out loss of the base model versus the fine-tuned one.

    .venv/bin/python benchmarks/bench_training.py --size demo     # the demo model (minutes)
    .venv/bin/python benchmarks/bench_training.py --size tiny     # seconds, smoke size

Data: the raw corpus generator writes help-centre articles and policies (the pre-training corpus); the
instruction examples are the fact table's question paraphrases with their reference answers (the last
paraphrase of every fact is held out for evaluation, so eval questions are never trained on). Every
trainer variant runs in its own process so peak memory (max RSS) is its own. Figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = {
    "tiny": [
        "--vocab_size",
        "512",
        "--hidden_size",
        "64",
        "--intermediate_size",
        "128",
        "--num_hidden_layers",
        "2",
        "--num_attention_heads",
        "2",
        "--context_length",
        "128",
        "--steps",
        "40",
        "--batch_size",
        "8",
    ],
    "demo": [],  # the builder's defaults: 4 layers, hidden 256, vocab 4096, context 256
}


def write_data(root: Path, days: int, seed: int) -> tuple[list[str], Path]:
    """Raw corpus (help centre + policies) and a snapshot of fact Q&A (train/eval by paraphrase)."""
    from llmops_factory.datagen import fact_items, generate_range

    end = f"2026-01-{days:02d}"
    generate_range(
        root.as_uri(), "2026-01-01", end, seed=seed, scale=200, sources=["help_center", "policies"]
    )
    snapshot = root / "datasets" / "bench-facts"
    rows = {"train": [], "eval": []}
    for item in fact_items():
        for i, question in enumerate(item.questions):
            split = "eval" if i == len(item.questions) - 1 and len(item.questions) > 1 else "train"
            rows[split].append(
                {
                    "example_id": f"{item.key}#{i}",
                    "group_key": f"{item.key}#{i}",
                    "split": split,
                    "instruction": question,
                    "input": "",
                    "output": item.answer,
                }
            )
    for split, items in rows.items():
        (snapshot / split).mkdir(parents=True, exist_ok=True)
        (snapshot / split / "part-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (snapshot / "manifest.json").write_text(json.dumps({"snapshot_version": "bench-facts"}))
    return [str(root / "raw" / "help_center"), str(root / "raw" / "policies")], snapshot


def run_child(args: list[str], threads: int) -> dict:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key in ("AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR"):
        env.pop(key, None)
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_ours(ns) -> dict:
    from llmops_trainer.train import main

    out = Path(ns.workdir) / f"ours-{'packed' if ns.packing else 'padded'}"
    start = time.perf_counter()
    main(
        [
            "--base_model",
            ns.base,
            "--train_data",
            ns.snapshot,
            "--output_dir",
            str(out),
            "--max_seq_length",
            str(ns.max_seq_length),
            "--packing",
            str(ns.packing).lower(),
            "--per_device_train_batch_size",
            str(ns.batch_size),
            "--num_train_epochs",
            str(ns.epochs),
            "--learning_rate",
            str(ns.lr),
            "--lora_r",
            "8",
            "--lora_alpha",
            "16",
            "--logging_steps",
            "5",
            "--lora_target_modules",
            *ns.targets,
            "--num_threads",
            str(ns.threads),
            "--nproc_per_node",
            "1",
            "--save_steps",
            "0",
            "--merge_adapter",
            "false",
        ]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    card = json.loads((out / "model_card.json").read_text())
    return {
        "tokens_per_second": metrics["tokens_per_second"],
        "train_tokens": metrics["train_tokens"],
        "eval_loss": metrics["eval_loss"],
        "base_eval_loss": metrics["base_eval_loss"],
        "useful_token_fraction": card["data"]["useful_token_fraction"],
        "steps": card["hyperparameters"]["total_steps"],
        "wall_s": time.perf_counter() - start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_hf(ns) -> dict:
    """Plain HF Trainer + PEFT on the same tokenized examples (padding collator, no packing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from llmops_factory.prompts.refs import DEFAULT_PROMPT_REF
    from llmops_trainer import data

    torch.set_num_threads(ns.threads)
    torch.manual_seed(42)
    tokenizer = AutoTokenizer.from_pretrained(ns.base)
    split = data.read_split(data.split_uri(ns.snapshot, "train"), "train")
    _, texts = data.render_prompts(split.examples, DEFAULT_PROMPT_REF)
    examples, _ = data.tokenize_examples(split.examples, texts, tokenizer, ns.max_seq_length)
    rows = [
        {
            "input_ids": list(e.input_ids),
            "attention_mask": [1] * len(e.input_ids),
            "labels": [-100] * e.prompt_len + list(e.input_ids[e.prompt_len :]),
        }
        for e in examples
    ]
    model = AutoModelForCausalLM.from_pretrained(ns.base, attn_implementation="sdpa")
    model = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=ns.targets, task_type="CAUSAL_LM"),
    )
    args = TrainingArguments(
        output_dir=str(Path(ns.workdir) / "hf"),
        per_device_train_batch_size=ns.batch_size,
        num_train_epochs=ns.epochs,
        learning_rate=ns.lr,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        logging_steps=5,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        seed=42,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
    )
    result = trainer.train()
    tokens = sum(len(r["input_ids"]) for r in rows) * ns.epochs
    return {
        "tokens_per_second": tokens / result.metrics["train_runtime"],
        "train_tokens": tokens,
        "train_runtime_s": result.metrics["train_runtime"],
        "steps": result.global_step,
        "useful_token_fraction": data.useful_fraction(
            [[i] for i in range(len(examples))], examples, ns.batch_size
        ),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_build(ns) -> dict:
    from llmops_trainer.base_model import build_base_model, parse_args

    start = time.perf_counter()
    build = build_base_model(
        parse_args(
            [
                "--corpus",
                *ns.corpus,
                "--output",
                ns.base,
                "--num_threads",
                str(ns.threads),
                *SIZES[ns.size],
                "--force",
            ]
        )
    )
    return {
        "seconds": time.perf_counter() - start,
        "parameters": build["parameters"],
        "corpus_tokens": build["corpus"]["tokens"],
        "steps": build["config"]["steps"],
        "final_train_loss": build["final_train_loss"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="demo")
    parser.add_argument("--days", type=int, default=14, help="Days of generated help-centre corpus.")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--max-seq-length", dest="max_seq_length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every variant.")
    parser.add_argument("--repeats", type=int, default=3, help="Interleaved rounds of the trainer variants.")
    parser.add_argument("--workdir", default=None, help="Keep outputs here (default: a temporary folder).")
    parser.add_argument("--role", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--base", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", nargs="*", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--packing", type=lambda s: s == "true", default=True, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    ns.targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    if ns.role:
        result = {"ours": child_ours, "hf": child_hf, "build": child_build}[ns.role](ns)
        print(json.dumps(result))
        return

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        work = Path(ns.workdir or tmp)
        corpus, snapshot = write_data(work / "storage", ns.days, seed=0)
        base = str(work / "base")
        common = [
            "--size",
            ns.size,
            "--threads",
            str(ns.threads),
            "--workdir",
            str(work),
            "--base",
            base,
            "--snapshot",
            str(snapshot),
            "--epochs",
            str(ns.epochs),
            "--batch-size",
            str(ns.batch_size),
            "--lr",
            str(ns.lr),
            "--max-seq-length",
            str(ns.max_seq_length),
        ]
        build = run_child(["--role", "build", *common, "--corpus", *corpus], ns.threads)
        variants = {
            "llmops trainer, packed": ["--role", "ours", *common, "--packing", "true"],
            "llmops trainer, padded": ["--role", "ours", *common, "--packing", "false"],
            "HF Trainer + PEFT (padded)": ["--role", "hf", *common],
        }
        # Interleaved rounds: the machine's load drifts, so each round runs every variant back to back
        # and the ratios are taken within a round; the table shows medians over rounds.
        rounds: list[dict[str, dict]] = []
        for _ in range(ns.repeats):
            rounds.append({name: run_child(argv, ns.threads) for name, argv in variants.items()})

    hf_name = "HF Trainer + PEFT (padded)"
    print(
        f"== bench_training (size={ns.size}, threads={ns.threads}, epochs={ns.epochs}, batch={ns.batch_size}, "
        f"max_seq_length={ns.max_seq_length}, rounds={ns.repeats}, load average before/after "
        f"{load_before:.1f}/{os.getloadavg()[0]:.1f})"
    )
    print(
        f"base model build: {build['seconds']:.1f} s  ({build['parameters']:,} parameters, "
        f"{build['corpus_tokens']:,} corpus tokens, {build['steps']} steps, final pre-training loss "
        f"{build['final_train_loss']:.3f}, peak RSS {build['peak_rss_mb']:.0f} MB)"
    )
    print(
        f"{'variant':30s} {'useful tok/s (median)':>21s} {'per round':>24s} {'vs HF':>6s} "
        f"{'useful frac':>11s} {'steps':>5s} {'peak RSS MB':>11s}"
    )
    for name in variants:
        tps = [r[name]["tokens_per_second"] for r in rounds]
        ratio = statistics.median(
            r[name]["tokens_per_second"] / r[hf_name]["tokens_per_second"] for r in rounds
        )
        last = rounds[-1][name]
        print(
            f"{name:30s} {statistics.median(tps):21.0f} {' '.join(f'{x:.0f}' for x in tps):>24s} "
            f"{ratio:5.2f}x {last['useful_token_fraction']:11.3f} {last['steps']:5d} "
            f"{max(r[name]['peak_rss_mb'] for r in rounds):11.0f}"
        )
    ours = rounds[-1]["llmops trainer, packed"]
    gain = ours["base_eval_loss"] - ours["eval_loss"]
    print(
        f"held-out loss (response tokens): base {ours['base_eval_loss']:.3f} -> fine-tuned {ours['eval_loss']:.3f} "
        f"(-{gain:.3f}, {100 * gain / ours['base_eval_loss']:.1f}% lower)"
    )


if __name__ == "__main__":
    main()
