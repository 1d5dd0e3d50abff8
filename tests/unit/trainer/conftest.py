"""Fixtures of the trainer tests: a tiny corpus, a tiny base model (seconds) and hand-made snapshots."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLANS = [
    ("Basic", "7.99", "one stream"),
    ("Plus", "11.99", "two streams"),
    ("Premium", "15.99", "four streams"),
    ("Family", "18.99", "six streams"),
]
TINY_MODEL_FLAGS = [
    "--vocab_size",
    "320",
    "--hidden_size",
    "32",
    "--intermediate_size",
    "64",
    "--num_hidden_layers",
    "2",
    "--num_attention_heads",
    "2",
    "--context_length",
    "64",
    "--max_position_embeddings",
    "1024",
    "--steps",
    "30",
    "--batch_size",
    "4",
    "--learning_rate",
    "5e-3",
    "--warmup_steps",
    "3",
    "--num_threads",
    "1",
]


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running the entrypoint as a process (the project is installed in the venv)."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key in (
        "AIP_MODEL_DIR",
        "AIP_CHECKPOINT_DIR",
        "AIP_TENSORBOARD_LOG_DIR",
        "CLUSTER_SPEC",
        "LOCAL_RANK",
        "RANK",
        "WORLD_SIZE",
    ):
        env.pop(key, None)
    env.update(extra)
    return env


PYTHON = sys.executable


def qa_row(i: int, split: str) -> dict:
    plan, price, streams = PLANS[i % len(PLANS)]
    return {
        "example_id": f"{split}-{i}",
        "dataset_version": "daily-2026-01-01",
        "source": "conversations",
        "source_date": "2026-01-01",
        "source_uri": "raw/conversations/dt=2026-01-01/part-0.jsonl",
        "source_record": str(i),
        "source_format": "instruction",
        "group_key": f"{split}-conv-{i}",
        "split": split,
        "instruction": f"How much is the {plan} plan and how many streams does it have? (ticket {i})",
        "input": "" if i % 2 else f"Customer since {2020 + i % 5}.",
        "output": f"The {plan} plan costs {price} EUR a month and includes {streams}.",
        "prompt_name": "support_assistant",
        "prompt_version": "1.0.0",
        "prompt_hash": "0" * 64,
        "prompt_text": "",
        "language": "en",
        "pii_redacted": 0,
        "content_hash": f"h{i}",
    }


def write_snapshot(root: Path, n_train: int = 24, n_eval: int = 8, version: str = "snap-test") -> Path:
    """``datasets/<version>/{train,eval}/part-00000.jsonl`` + ``manifest.json`` under ``root``."""
    snap = root / "datasets" / version
    for split, count in (("train", n_train), ("eval", n_eval)):
        folder = snap / split
        folder.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(qa_row(i, split)) for i in range(count)]
        (folder / "part-00000.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = {"snapshot_version": version, "files": {"train": "sha256:test", "eval": "sha256:test"}}
    (snap / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return snap


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, (plan, price, streams) in enumerate(PLANS):
        text = (
            f"# The {plan} plan\n\nThe {plan} plan costs {price} EUR a month and includes {streams}. "
            f"You can change to the {plan} plan at any time from nimbus.example/account.\n\n"
            "## Refunds\nRefunds are possible within 14 days of the first payment.\n"
        )
        (folder / f"article-{n}.md").write_text(text * 3, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "help_center")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, corpus_dir) -> Path:
    """A 2-layer, hidden-32 Llama built by the project's builder (a few seconds)."""
    import torch

    from llmops_trainer.base_model import build_base_model, parse_args

    out = tmp_path_factory.mktemp("base") / "tiny"
    threads = torch.get_num_threads()
    build_base_model(parse_args(["--corpus", str(corpus_dir), "--output", str(out), *TINY_MODEL_FLAGS]))
    torch.set_num_threads(threads)
    return out


@pytest.fixture()
def snapshot(tmp_path) -> Path:
    return write_snapshot(tmp_path / "storage")
