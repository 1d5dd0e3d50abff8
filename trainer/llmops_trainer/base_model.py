"""``python -m llmops_trainer build-base``: the project's own small Llama-architecture base model.

No model hub is reachable from the local target, so the demo builds its base model: a byte-level BPE
tokenizer trained with ``tokenizers`` on the corpus (help-centre articles and policies written by the data
generator, optionally the rendered training conversations of a snapshot's train split), then a short
causal-LM pre-training of a ``LlamaForCausalLM`` from scratch. The result is a normal Hugging Face model
folder (``config.json``, ``model.safetensors``, tokenizer files) plus ``build.json``.

Deterministic for a seed (fixed step count, seeded initialisation and data order) and cached: the build
key is a hash of the corpus content, the configuration and the seed; a folder that already holds a build
with the same key is kept as it is.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_factory.prompts.refs import DEFAULT_PROMPT_REF
from llmops_trainer import storage

log = logging.getLogger(__name__)

BUILDER_VERSION = 1
TEXT_SUFFIXES = (".md", ".markdown", ".txt")
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")


class BaseModelBuildError(ValueError):
    """The corpus or the configuration cannot build a model; the message names what is wrong."""


@dataclass
class BaseModelArguments:
    """Corpus, size and schedule of the local base model (defaults: the demo size, minutes on 2 cores)."""

    corpus: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Corpus folders, files or globs (.md, .markdown, .txt; folders are searched).",
            "nargs": "+",
        },
    )
    snapshot_train: str | None = field(
        default=None,
        metadata={"help": "Optional train split folder whose rendered conversations join the corpus."},
    )
    prompt: str = field(default=DEFAULT_PROMPT_REF, metadata={"help": "Prompt for snapshot rows."})
    output: str | None = field(default=None, metadata={"help": "Output model folder (or URI)."})
    name: str = field(default="llmops-tiny-llama", metadata={"help": "Model name recorded in build.json."})
    vocab_size: int = field(default=4096, metadata={"help": "BPE vocabulary size."})
    hidden_size: int = field(default=256, metadata={"help": "Hidden size."})
    intermediate_size: int = field(default=512, metadata={"help": "MLP size."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Transformer layers."})
    num_attention_heads: int = field(default=4, metadata={"help": "Attention heads."})
    context_length: int = field(default=256, metadata={"help": "Tokens per pre-training sequence."})
    max_position_embeddings: int = field(default=1024, metadata={"help": "Longest sequence the model takes."})
    steps: int = field(default=150, metadata={"help": "Pre-training optimizer steps."})
    batch_size: int = field(default=8, metadata={"help": "Sequences per step."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Peak learning rate."})
    warmup_steps: int = field(default=10, metadata={"help": "Linear warm-up steps."})
    seed: int = field(default=1234, metadata={"help": "Seed of everything."})
    num_threads: int | None = field(default=None, metadata={"help": "CPU threads for torch."})
    force: bool = field(default=False, metadata={"help": "Rebuild even when the cached build key matches."})

    def model_config(self) -> dict[str, Any]:
        keys = (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "context_length",
            "max_position_embeddings",
            "steps",
            "batch_size",
            "learning_rate",
            "warmup_steps",
        )
        return {k: getattr(self, k) for k in keys}


def find_corpus_files(patterns: Sequence[str]) -> list[Path]:
    """Every text file the patterns name, sorted; a pattern that matches nothing is an error."""
    files: set[Path] = set()
    for pattern in patterns:
        path = storage.local_path(pattern)
        if path is None:
            raise BaseModelBuildError(f"corpus {pattern}: only local folders, files and globs are supported")
        matches = (
            [Path(p) for p in glob.glob(str(path), recursive=True)] if glob.has_magic(str(path)) else [path]
        )
        found = []
        for match in matches:
            if match.is_dir():
                found += [f for f in match.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES]
            elif match.is_file():
                found.append(match)
        if not found:
            raise BaseModelBuildError(f"corpus {pattern} matches no {'/'.join(TEXT_SUFFIXES)} files")
        files.update(found)
    return sorted(files)


def load_documents(args: BaseModelArguments) -> list[str]:
    """Corpus documents in a stable order: text files, then rendered train conversations."""
    docs = []
    for file in find_corpus_files(args.corpus):
        text = file.read_text(encoding="utf-8").strip()
        if text:
            docs.append(text)
    if args.snapshot_train:
        from llmops_trainer import data

        split = data.read_split(data.split_uri(args.snapshot_train, "train"), "train")
        _, prompts = data.render_prompts(split.examples, args.prompt)
        docs += [p + ex.output for p, ex in zip(prompts, split.examples, strict=True)]
    if not docs:
        raise BaseModelBuildError(f"corpus {args.corpus} holds no text")
    return docs


def build_key(docs: Sequence[str], args: BaseModelArguments) -> str:
    """Hash of the corpus content (order-independent), the configuration, the seed and the builder."""
    doc_hashes = sorted(hashlib.sha256(d.encode()).hexdigest() for d in docs)
    payload = json.dumps(
        {"docs": doc_hashes, "config": args.model_config(), "seed": args.seed, "builder": BUILDER_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_build(output: str, key: str) -> dict[str, Any] | None:
    marker = storage.join(output, "build.json")
    if not storage.exists(marker) or not storage.exists(storage.join(output, "config.json")):
        return None
    build = json.loads(storage.read_bytes(marker))
    return build if build.get("build_key") == key else None


def train_tokenizer(docs: Sequence[str], vocab_size: int, max_length: int):
    """Byte-level BPE tokenizer wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(docs), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        model_max_length=max_length,
    )


def token_blocks(docs: Sequence[str], tokenizer, context_length: int):
    """``<s> doc </s>`` streams concatenated and cut into ``context_length`` blocks (a LongTensor)."""
    import torch

    ids = tokenizer(list(docs), add_special_tokens=False)["input_ids"]
    stream: list[int] = []
    for doc_ids in ids:
        stream += [tokenizer.bos_token_id, *doc_ids, tokenizer.eos_token_id]
    n_blocks = len(stream) // context_length
    if n_blocks < 2:
        raise BaseModelBuildError(
            f"corpus has {len(stream)} tokens: fewer than two blocks of context_length={context_length}"
        )
    return torch.tensor(stream[: n_blocks * context_length]).view(n_blocks, context_length)


def pretrain(args: BaseModelArguments, tokenizer, blocks):
    """Train a fresh LlamaForCausalLM on the blocks; returns the model and the loss curve."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(args.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        intermediate_size=args.intermediate_size,
        num_hidden_layers=args.num_hidden_layers,
        num_attention_heads=args.num_attention_heads,
        num_key_value_heads=args.num_attention_heads,
        max_position_embeddings=args.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        use_cache=False,
    )
    model = LlamaForCausalLM(config)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, weight_decay=0.01, betas=(0.9, 0.95)
    )

    def lr_factor(step: int) -> float:
        if step < args.warmup_steps:
            return (step + 1) / args.warmup_steps
        progress = (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(blocks), generator=generator)
    cursor, curve = 0, []
    for step in range(args.steps):
        if cursor + args.batch_size > len(order):
            order, cursor = torch.randperm(len(blocks), generator=generator), 0
        batch = blocks[order[cursor : cursor + args.batch_size]]
        cursor += args.batch_size
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        curve.append(float(loss.item()))
        if (step + 1) % 50 == 0 or step + 1 == args.steps:
            log.info(
                "pre-training step %d/%d loss %.4f", step + 1, args.steps, sum(curve[-50:]) / len(curve[-50:])
            )
    model.config.use_cache = True
    return model, curve


def build_base_model(args: BaseModelArguments) -> dict[str, Any]:
    """Build (or reuse) the base model at ``args.output``; returns its ``build.json`` content."""
    import torch

    if not args.output:
        raise BaseModelBuildError("--output is required (e.g. <storage root>/models/base/llmops-tiny-llama)")
    if not args.corpus and not args.snapshot_train:
        raise BaseModelBuildError("--corpus (and/or --snapshot_train) is required")
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    docs = load_documents(args)
    key = build_key(docs, args)
    if not args.force:
        cached = cached_build(args.output, key)
        if cached is not None:
            log.info("base model at %s is up to date (build key %s)", args.output, key[:12])
            return {**cached, "cached": True}
    start = time.perf_counter()
    torch.use_deterministic_algorithms(True, warn_only=True)
    tokenizer = train_tokenizer(docs, args.vocab_size, args.max_position_embeddings)
    blocks = token_blocks(docs, tokenizer, args.context_length)
    model, curve = pretrain(args, tokenizer, blocks)
    build = {
        "name": args.name,
        "build_key": key,
        "builder_version": BUILDER_VERSION,
        "seed": args.seed,
        "config": args.model_config(),
        "corpus": {"documents": len(docs), "tokens": int(blocks.numel()), "blocks": int(len(blocks))},
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_train_loss": round(sum(curve[-20:]) / len(curve[-20:]), 4),
        "initial_train_loss": round(curve[0], 4),
        "build_seconds": round(time.perf_counter() - start, 2),
    }
    _save(model, tokenizer, build, args.output)
    log.info(
        "built base model %s in %.1fs: %s", args.output, build["build_seconds"], build["final_train_loss"]
    )
    return {**build, "cached": False}


def _save(model, tokenizer, build: dict[str, Any], output: str) -> None:
    """Write the folder whole: staging folder, then rename (local) or upload (remote)."""
    direct = storage.local_path(output)
    parent = direct.parent if direct is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-base-", dir=parent) as tmp:
        folder = Path(tmp) / "model"
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / "build.json").write_text(
            json.dumps(build, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if direct is not None:
            if direct.exists():
                shutil.rmtree(direct)
            os.replace(folder, direct)
        else:
            storage.upload_tree(folder, output)


def parse_args(argv: Sequence[str] | None = None) -> BaseModelArguments:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(BaseModelArguments)  # type: ignore[arg-type]
    (args,) = parser.parse_args_into_dataclasses(
        args=list(argv) if argv is not None else None, look_for_args_file=False
    )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    build = build_base_model(args)
    print(json.dumps({k: v for k, v in build.items() if k != "config"}, sort_keys=True))
    return 0
