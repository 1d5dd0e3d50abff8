"""Fixtures of the serving tests: a tiny merged model in a storage root with published prompt bundles.

The model is the project's own base-model builder at its smallest (seconds on one core), saved where a
fine-tuned version's merged weights live (``models/<version>/merged/``) with a model card beside it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit.trainer.conftest import write_corpus

MODEL_VERSION = "v-test-1"
TINY_FLAGS = [
    "--vocab_size",
    "1024",
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
    "10",
    "--batch_size",
    "4",
    "--learning_rate",
    "5e-3",
    "--warmup_steps",
    "2",
    "--num_threads",
    "1",
]


def build_storage(root: Path, corpus_dir: Path) -> Path:
    """``root`` becomes a storage root: published prompts + ``models/<MODEL_VERSION>/{merged,model_card.json}``."""
    import torch

    from llmops_factory.prompts import publish_repo
    from llmops_trainer.base_model import build_base_model, parse_args

    merged = root / "models" / MODEL_VERSION / "merged"
    threads = torch.get_num_threads()
    build_base_model(parse_args(["--corpus", str(corpus_dir), "--output", str(merged), *TINY_FLAGS]))
    torch.set_num_threads(threads)
    card = {"prompt": {"name": "support_assistant", "version": "1.0.0"}, "model_version": MODEL_VERSION}
    (merged.parent / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    publish_repo(root.as_uri())
    return merged


@pytest.fixture(scope="session")
def serving_storage(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("serving")
    corpus = write_corpus(base / "corpus")
    root = base / "storage"
    build_storage(root, corpus)
    return root


@pytest.fixture(scope="session")
def merged_model(serving_storage) -> Path:
    return serving_storage / "models" / MODEL_VERSION / "merged"


def copy_version(storage: Path, version: str) -> Path:
    """A second model version with the same weights (another ``models/<version>/merged`` folder)."""
    target = storage / "models" / version / "merged"
    if not target.exists():
        shutil.copytree(storage / "models" / MODEL_VERSION / "merged", target)
    return target
