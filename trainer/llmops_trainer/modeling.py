"""Base model checks and loading, the LoRA adapter, and the saved outputs (adapter + merged model)."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_trainer import storage
from llmops_trainer.args import LoraArguments, ModelArguments

log = logging.getLogger(__name__)


class ModelError(ValueError):
    """The base model or the adapter settings cannot be used; the message names the path or module."""


@dataclass
class BaseModelRef:
    """A base model folder made readable locally, with its config."""

    uri: str
    path: Path
    config: Any
    info: dict[str, Any]


_DOWNLOADS: list[tempfile.TemporaryDirectory[str]] = []


def resolve_base_model(uri: str) -> BaseModelRef:
    """Check that ``uri`` is a Hugging Face causal LM folder; download it when it is remote."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not storage.exists(uri):
        raise ModelError(f"base model {uri} does not exist")
    if not storage.exists(storage.join(uri, "config.json")):
        raise ModelError(f"base model {uri} has no config.json: not a Hugging Face model folder")
    if storage.local_path(uri) is None:
        tmp = tempfile.TemporaryDirectory(prefix="llmops-base-")
        _DOWNLOADS.append(tmp)
        path = storage.download_tree(uri, Path(tmp.name))
    else:
        path = storage.local_path(uri)
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for a bad config
        raise ModelError(f"base model {uri}: config.json cannot be read ({exc})") from exc
    causal_classes: set[str] = set()
    for value in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        causal_classes.update([value] if isinstance(value, str) else value)
    architectures = list(getattr(config, "architectures", None) or [])
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or (
        architectures and not any(a in causal_classes for a in architectures)
    ):
        raise ModelError(
            f"base model {uri} is a {config.model_type!r} model, not a causal LM "
            f"(architectures: {getattr(config, 'architectures', None)})"
        )
    info: dict[str, Any] = {"model_type": config.model_type}
    build_file = path / "build.json"
    if build_file.is_file():
        build = json.loads(build_file.read_text(encoding="utf-8"))
        info["build_key"] = build.get("build_key")
        info["name"] = build.get("name")
    return BaseModelRef(uri=uri, path=path, config=config, info=info)


def leaf_module_names(model) -> set[str]:
    import torch

    return {
        name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)
    }


def check_target_modules(ref: BaseModelRef, targets: list[str]) -> None:
    """Fail before loading weights when a LoRA target module is not a linear layer of the model."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(ref.config)
    available = leaf_module_names(skeleton)
    missing = [t for t in targets if t not in available]
    if missing:
        raise ModelError(
            f"LoRA target module(s) {', '.join(missing)} do not exist in base model {ref.uri}; "
            f"its linear layers are: {', '.join(sorted(available))}"
        )


def pick_dtype(setting: str):
    import torch

    if setting == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, setting)


def load_tokenizer(ref: BaseModelRef):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.path)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"base model {ref.uri}: tokenizer cannot be loaded ({exc})") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(ref: BaseModelRef, args: ModelArguments, device):
    """The base model on ``device``, ready for adapters."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {
        "dtype": pick_dtype(args.dtype),
        "attn_implementation": args.attn_implementation,
    }
    if args.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["device_map"] = {"": device}
    model = AutoModelForCausalLM.from_pretrained(ref.path, **kwargs)
    if not args.load_in_4bit:
        model.to(device)
    model.config.use_cache = False
    return model


def add_lora(model, lora: LoraArguments, gradient_checkpointing: bool, quantized: bool):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    config = LoraConfig(
        r=lora.lora_r,
        lora_alpha=lora.lora_alpha,
        lora_dropout=lora.lora_dropout,
        target_modules=list(lora.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def use_unpadded(args: ModelArguments, device) -> bool:
    """Whether to train on unpadded micro-batches with per-example (segment) attention."""
    if args.attn_implementation != "sdpa" or args.load_in_4bit:
        return False
    return args.unpadded == "true" or (args.unpadded == "auto" and device.type == "cpu")


def trainable_state(model) -> dict[str, Any]:
    """The trainable (adapter) tensors by parameter name."""
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model, weights: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    expected = {n for n, p in params.items() if p.requires_grad}
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise ModelError(
            f"checkpoint adapter does not match the model: missing {missing[:3]}, extra {extra[:3]}"
        )
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))


def save_outputs(
    model, tokenizer, ref: BaseModelRef, args: ModelArguments, folder: Path, merge: bool
) -> None:
    """``adapter/`` (peft) and, when asked, ``merged/`` (full model + tokenizer) in ``folder``."""
    import torch

    from llmops_trainer import fastpath

    if fastpath.enabled(model):  # outputs load with the configured kernel, not the training-only one
        fastpath.set_implementation(model, args.attn_implementation)
    adapter_dir = folder / "adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    if not merge:
        return
    if args.load_in_4bit:  # merge into an unquantised copy of the base weights
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(ref.path, dtype=torch.bfloat16)
        merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    else:
        merged = model.merge_and_unload()
    merged.config.use_cache = True
    merged.save_pretrained(folder / "merged")
    tokenizer.save_pretrained(folder / "merged")
