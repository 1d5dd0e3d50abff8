"""Typed arguments of ``python -m llmops_trainer train``: dataclasses + a YAML config, CLI flags override.

Precedence, highest first: command-line flags, the ``--config`` YAML file, the dataclass defaults (which
read the Vertex AI ``AIP_*`` variables for the output, checkpoint and TensorBoard folders). The YAML file
is either flat (``lora_r: 8``) or grouped by section (``lora: {lora_r: 8}``); an unknown key is an error
that names the key and the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmops_factory.prompts.refs import DEFAULT_PROMPT_REF

SECTIONS = ("model", "data", "lora", "training")


class ArgumentError(ValueError):
    """An argument or config-file value is invalid; the message names it."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


@dataclass
class ModelArguments:
    """Which base model to adapt and how to load it."""

    base_model: str | None = field(
        default=None,
        metadata={"help": "Base causal LM: a local folder, file:// or gs:// URI of a Hugging Face model."},
    )
    dtype: str = field(
        default="auto",
        metadata={
            "help": "Weights dtype: auto (bf16 on GPUs that support it, else fp32), bfloat16, float32."
        },
    )
    attn_implementation: str = field(default="sdpa", metadata={"help": "Attention kernel: sdpa or eager."})
    unpadded: str = field(
        default="auto",
        metadata={
            "help": "Unpadded micro-batches with per-example SDPA (same losses, no padding or block-mask "
            "work): auto (on CPU with sdpa), true (sdpa only) or false (padded rows, 4-D mask)."
        },
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute activations in the backward pass to save memory."}
    )
    load_in_4bit: bool = field(
        default=False, metadata={"help": "QLoRA: load the base model in 4 bit with bitsandbytes (GPU only)."}
    )


@dataclass
class DataArguments:
    """The dataset snapshot and the prompt that renders it."""

    train_data: str | None = field(
        default=None, metadata={"help": "Train split folder (datasets/<version>/train) or snapshot folder."}
    )
    eval_data: str | None = field(
        default=None, metadata={"help": "Eval split folder (datasets/<version>/eval); default: beside train."}
    )
    prompt: str = field(
        default=DEFAULT_PROMPT_REF, metadata={"help": "Serving prompt name@version used to render."}
    )
    prompt_root: str | None = field(
        default=None,
        metadata={
            "help": "Storage root of the published prompt bundles (gs://bucket or a folder); the bundle "
            "is verified on load. Default: the repository's prompts/ folder (development only)."
        },
    )
    prompt_sha256: str | None = field(
        default=None,
        metadata={"help": "Content hash the run pinned: training fails if the loaded prompt has another."},
    )
    max_seq_length: int = field(default=512, metadata={"help": "Tokens per training sequence."})
    packing: bool = field(default=True, metadata={"help": "Pack several examples into each sequence."})
    max_train_examples: int | None = field(default=None, metadata={"help": "Use only the first N examples."})
    max_eval_examples: int | None = field(
        default=None, metadata={"help": "Evaluate on the first N examples."}
    )


@dataclass
class LoraArguments:
    """The LoRA adapter."""

    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={"help": "Module names (leaf names) that get adapters.", "nargs": "+"},
    )


@dataclass
class TrainArguments:
    """Optimisation, checkpoints, outputs, tracking and cost (a TrainingArguments-like subset)."""

    output_dir: str | None = field(
        default_factory=lambda: _env("AIP_MODEL_DIR"),
        metadata={"help": "Final outputs (adapter/, merged/, model_card.json); default $AIP_MODEL_DIR."},
    )
    checkpoint_dir: str | None = field(
        default_factory=lambda: _env("AIP_CHECKPOINT_DIR"),
        metadata={"help": "Checkpoints, resumed from on restart; default $AIP_CHECKPOINT_DIR."},
    )
    tensorboard_dir: str | None = field(
        default_factory=lambda: _env("AIP_TENSORBOARD_LOG_DIR"),
        metadata={"help": "TensorBoard event files; default $AIP_TENSORBOARD_LOG_DIR."},
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the training data."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; > 0 overrides num_train_epochs."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Share of steps with linear warm-up."})
    lr_scheduler: str = field(default="cosine", metadata={"help": "cosine, linear or constant."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0 disables)."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Sequences per device and step."})
    per_device_eval_batch_size: int = field(default=8, metadata={"help": "Sequences per device in eval."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per step."})
    bf16: str = field(default="auto", metadata={"help": "auto (when supported), true or false."})
    seed: int = field(default=42, metadata={"help": "Seed of data order, initialisation and dropout."})
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every N optimizer steps (0: never)."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept (the newest ones)."})
    logging_steps: int = field(default=10, metadata={"help": "Log train metrics every N steps."})
    num_threads: int | None = field(default=None, metadata={"help": "CPU threads for torch (default: all)."})
    merge_adapter: bool = field(
        default=True, metadata={"help": "Also write merged/ (full model for serving)."}
    )
    tracking: str = field(
        default_factory=lambda: _env("LLMOPS_TRACKING", "none") or "none",
        metadata={"help": "Experiment tracking backend: mlflow, vertex or none (env LLMOPS_TRACKING)."},
    )
    tracking_uri: str | None = field(
        default=None, metadata={"help": "MLflow tracking URI (default $MLFLOW_TRACKING_URI)."}
    )
    experiment_name: str = field(default="llmops-finetune", metadata={"help": "Experiment name."})
    run_name: str | None = field(default=None, metadata={"help": "Run name (default: derived, stable)."})
    machine_type: str = field(default="local-cpu", metadata={"help": "Machine type (for the cost)."})
    accelerator_type: str = field(default="NONE", metadata={"help": "Accelerator type (for the cost)."})
    accelerator_count: int = field(default=0, metadata={"help": "Accelerators per replica (for the cost)."})
    replica_count: int = field(default=1, metadata={"help": "Replicas (for the cost)."})
    nproc_per_node: str = field(
        default="auto",
        metadata={"help": "Processes per node when the entrypoint launches itself (auto: one per GPU)."},
    )


@dataclass
class TrainConfig:
    """All argument groups of one training run."""

    model: ModelArguments
    data: DataArguments
    lora: LoraArguments
    training: TrainArguments

    def flat(self) -> dict[str, Any]:
        """Every argument by its flag name (the run's hyper-parameters)."""
        out: dict[str, Any] = {}
        for group in (self.model, self.data, self.lora, self.training):
            out.update(dataclasses.asdict(group))
        return out


GROUPS = (ModelArguments, DataArguments, LoraArguments, TrainArguments)


def _field_names() -> set[str]:
    return {f.name for cls in GROUPS for f in dataclasses.fields(cls)}


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config (flat or grouped by section) into a flat ``{flag: value}`` dict."""
    file = Path(path)
    if not file.is_file():
        raise ArgumentError(f"config file {file} does not exist")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ArgumentError(f"config file {file} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ArgumentError(f"config file {file} must hold a mapping, not {type(raw).__name__}")
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    unknown = sorted(set(flat) - _field_names())
    if unknown:
        raise ArgumentError(f"config file {file}: unknown key(s) {', '.join(unknown)}")
    return flat


def build_parser():
    from transformers import HfArgumentParser

    parser = HfArgumentParser(GROUPS)  # type: ignore[arg-type]
    parser.add_argument("--config", default=None, help="YAML config file; command-line flags override it.")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse ``train`` arguments: defaults < ``--config`` YAML < command-line flags, then validate."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    parser = build_parser()
    if known.config:
        parser.set_defaults(**load_config_file(known.config))
    try:
        model, data, lora, training, _namespace_config = parser.parse_args_into_dataclasses(
            args=list(argv) if argv is not None else None, look_for_args_file=False
        )
    except SystemExit as exc:  # argparse already printed the problem
        raise ArgumentError(
            f"invalid command-line arguments (exit {exc.code}); see the message above"
        ) from None
    config = TrainConfig(model, data, lora, training)  # type: ignore[arg-type]
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Check values before any expensive work starts."""
    m, d, lo, t = config.model, config.data, config.lora, config.training
    if not m.base_model:
        raise ArgumentError("--base_model is required (a Hugging Face model folder or URI)")
    if not d.train_data:
        raise ArgumentError("--train_data is required (datasets/<version>/train or the snapshot folder)")
    if not t.output_dir:
        raise ArgumentError("--output_dir is required when AIP_MODEL_DIR is not set")
    if m.dtype not in ("auto", "bfloat16", "float32", "float16"):
        raise ArgumentError(f"--dtype={m.dtype!r} must be auto, bfloat16, float16 or float32")
    if m.unpadded not in ("auto", "true", "false"):
        raise ArgumentError(f"--unpadded={m.unpadded!r} must be auto, true or false")
    if m.unpadded == "true" and (m.attn_implementation != "sdpa" or m.load_in_4bit):
        raise ArgumentError("--unpadded true needs --attn_implementation sdpa and no --load_in_4bit")
    if t.bf16 not in ("auto", "true", "false", "True", "False"):
        raise ArgumentError(f"--bf16={t.bf16!r} must be auto, true or false")
    if t.tracking not in ("mlflow", "vertex", "none"):
        raise ArgumentError(f"--tracking={t.tracking!r} must be mlflow, vertex or none")
    if t.lr_scheduler not in ("cosine", "linear", "constant"):
        raise ArgumentError(f"--lr_scheduler={t.lr_scheduler!r} must be cosine, linear or constant")
    checks = {
        "lora_r": lo.lora_r > 0,
        "lora_alpha": lo.lora_alpha > 0,
        "lora_dropout": 0.0 <= lo.lora_dropout < 1.0,
        "lora_target_modules": bool(lo.lora_target_modules),
        "max_seq_length": d.max_seq_length >= 8,
        "learning_rate": t.learning_rate > 0,
        "num_train_epochs": t.num_train_epochs > 0 or t.max_steps > 0,
        "per_device_train_batch_size": t.per_device_train_batch_size > 0,
        "per_device_eval_batch_size": t.per_device_eval_batch_size > 0,
        "gradient_accumulation_steps": t.gradient_accumulation_steps > 0,
        "warmup_ratio": 0.0 <= t.warmup_ratio < 1.0,
        "save_steps": t.save_steps >= 0,
        "save_total_limit": t.save_total_limit >= 1,
        "logging_steps": t.logging_steps > 0,
        "replica_count": t.replica_count >= 1,
        "accelerator_count": t.accelerator_count >= 0,
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        values = ", ".join(f"{name}={config.flat()[name]!r}" for name in bad)
        raise ArgumentError(f"invalid argument value(s): {values}")
    if m.load_in_4bit:
        import torch

        if not torch.cuda.is_available():
            raise ArgumentError("--load_in_4bit (QLoRA) needs a CUDA GPU and bitsandbytes")
