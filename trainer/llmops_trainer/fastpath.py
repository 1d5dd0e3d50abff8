"""CPU fast paths of the training step: per-example attention on unpadded batches, sparse LoRA dropout.

Both give exactly the computation (attention) or the distribution (dropout) of the standard modules;
they only skip work the standard ones do for nothing on CPU.

Per-example ("varlen") attention for unpadded micro-batches.

A micro-batch in the unpadded layout is one sequence holding every example of its rows back to back,
with ``position_ids`` restarting at 0 for each example (see ``data.collate_flat``). The attention
implementation registered here runs PyTorch SDPA with ``is_causal=True`` on each example's slice, so an
example attends only to itself, exactly as if it ran alone, without the work the padded layout costs:
no padding tokens in the linear layers, and no ``L × L`` block-diagonal mask whose masked-out blocks SDPA
still computes. It is the CPU counterpart of flash-attention's varlen kernels.

Without the segments keyword (generation, a plain forward) it *is* ``sdpa``: same mask, same kernel.

Sparse LoRA dropout: ``nn.Dropout`` draws one random number per element (the CPU Bernoulli sampler
was about a sixth of a LoRA step at p = 0.05); ``SparseDropout`` draws the dropped positions as
geometric gaps, about ``p`` random numbers per element, with the same i.i.d. distribution.
"""

from __future__ import annotations

import math
from typing import Any

SEGMENT_ATTENTION = "llmops_segments"
SEGMENTS_KWARG = "llmops_segments"
_registered = False


def segment_attention_forward(
    module,
    query,
    key,
    value,
    attention_mask,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
):
    """``sdpa`` per ``(start, end)`` segment of a one-row batch; plain ``sdpa`` without segments."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    segments = kwargs.pop(SEGMENTS_KWARG, None)
    if segments is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    if query.shape[0] != 1 or attention_mask is not None or key.shape[2] != query.shape[2]:
        raise ValueError("segment attention needs one unpadded row, no attention mask and no KV cache")
    kwargs.pop("is_causal", None)
    lengths = [end - start for start, end in segments]
    if sum(lengths) != query.shape[2]:
        raise ValueError(f"segments cover {sum(lengths)} tokens, the sequence has {query.shape[2]}")
    # split (not one slice per segment): its backward writes each gradient once instead of
    # adding one full-length, mostly-zero tensor per segment
    outputs = [
        sdpa_attention_forward(
            module, q, k, v, None, dropout=dropout, scaling=scaling, is_causal=True, **kwargs
        )[0]
        for q, k, v in zip(
            query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2), strict=True
        )
    ]
    return torch.cat(outputs, dim=1), None  # (1, tokens, heads, head_dim), like sdpa


def register() -> None:
    """Make ``SEGMENT_ATTENTION`` a valid ``attn_implementation`` (its masks are sdpa's)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(SEGMENT_ATTENTION, segment_attention_forward)
    AttentionMaskInterface.register(SEGMENT_ATTENTION, sdpa_mask)
    _registered = True


def enabled(model) -> bool:
    """Whether ``model`` (PEFT, DDP or plain) runs the segment attention, i.e. takes unpadded batches."""
    inner = getattr(model, "module", model)  # DistributedDataParallel
    config = getattr(inner, "config", None)
    return getattr(config, "_attn_implementation", None) == SEGMENT_ATTENTION


def set_implementation(model, name: str) -> None:
    """Switch the attention implementation of a (PEFT-wrapped) transformers model."""
    if name == SEGMENT_ATTENTION:
        register()
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.set_attn_implementation(name)


def sparse_dropout_positions(numel: int, p: float, device) -> Any:
    """Indices an i.i.d. Bernoulli(``p``) draw over ``numel`` elements drops, sampled as geometric gaps.

    The gaps between successive successes of i.i.d. Bernoulli(p) trials are i.i.d. Geometric(p), so
    cumulative sums of geometric draws give exactly the distribution of ``nn.Dropout``'s dropped
    positions, with about ``numel × p`` random numbers instead of ``numel``.
    """
    import torch

    chunks, end = [], 0
    mean = numel * p
    while True:
        draw = int(mean + 6.0 * math.sqrt(mean * (1.0 - p)) + 16)
        uniform = 1.0 - torch.rand(draw, dtype=torch.float64, device=device)  # (0, 1]
        gaps = torch.floor(torch.log(uniform) / math.log1p(-p)) + 1.0  # Geometric(p) on {1, 2, ...}
        positions = gaps.cumsum_(0) + (end - 1)
        chunks.append(positions)
        end = int(positions[-1].item()) + 1
        if end >= numel:
            break
        mean = (numel - end) * p
    positions = torch.cat(chunks).long()
    return positions[positions < numel]


class SparseDropout:
    """``nn.Dropout(p)`` for small ``p``, same distribution, drawn by ``sparse_dropout_positions``."""

    @staticmethod
    def module(p: float):
        import torch

        class _SparseDropout(torch.nn.Module):
            def __init__(self, p: float) -> None:
                super().__init__()
                self.p = p

            def forward(self, x):
                if not self.training or self.p == 0.0:
                    return x
                scale = torch.full((x.numel(),), 1.0 / (1.0 - self.p), dtype=x.dtype, device=x.device)
                scale.index_fill_(0, sparse_dropout_positions(x.numel(), self.p, x.device), 0.0)
                return x * scale.view_as(x)

            def extra_repr(self) -> str:
                return f"p={self.p}"

        return _SparseDropout(p)


def use_sparse_lora_dropout(model, max_p: float = 0.25) -> int:
    """Swap the LoRA ``nn.Dropout`` modules with ``p <= max_p`` for the sparse sampler; returns how many."""
    import torch

    swapped = 0
    for module in model.modules():
        holder = getattr(module, "lora_dropout", None)
        if not isinstance(holder, torch.nn.ModuleDict):
            continue
        for name, drop in list(holder.items()):
            if isinstance(drop, torch.nn.Dropout) and 0.0 < drop.p <= max_p:
                holder[name] = SparseDropout.module(drop.p)
                swapped += 1
    return swapped
