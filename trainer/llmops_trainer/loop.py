"""The training loop: deterministic batches, loss on response tokens, DDP, checkpoints, evaluation.

Batches are a pure function of (seed, step): every epoch shuffles the packed rows with a generator
seeded by ``seed + epoch``, and global step ``s`` takes the ``s``-th slice. So a restart at step ``s``
(from a checkpoint) sees exactly the batches an uninterrupted run would have seen, and every rank can
count the step's label tokens without talking to the others. The loss of a step is the sum of token
losses over all micro-batches and ranks divided by that count (so gradient accumulation and data
parallelism give the same update as one big batch).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_trainer import distributed, fastpath
from llmops_trainer.args import TrainArguments
from llmops_trainer.data import IGNORE_INDEX, TokenizedExample, collate, collate_flat
from llmops_trainer.fastpath import SEGMENTS_KWARG

log = logging.getLogger(__name__)


@dataclass
class BatchPlan:
    """Which rows each rank feeds at each optimizer step."""

    rows: list[list[int]]
    examples: Sequence[TokenizedExample]
    batch_size: int
    accumulation: int
    world_size: int
    seed: int
    rows_per_step: int = field(init=False)
    steps_per_epoch: int = field(init=False)

    def __post_init__(self) -> None:
        if not self.rows:
            raise ValueError("no training rows: every example was dropped")
        self.rows_per_step = self.batch_size * self.accumulation * self.world_size
        self.steps_per_epoch = max(1, math.ceil(len(self.rows) / self.rows_per_step))
        self._epoch_cache: tuple[int, list[int]] | None = None

    def _epoch_order(self, epoch: int) -> list[int]:
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            import torch

            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(len(self.rows), generator=generator).tolist()
            need = self.steps_per_epoch * self.rows_per_step
            order = (order * math.ceil(need / len(order)))[:need]  # wrap so every rank gets full steps
            self._epoch_cache = (epoch, order)
        return self._epoch_cache[1]

    def step_rows(self, step: int) -> list[list[int]]:
        """Row ids of global ``step``: ``accumulation × world_size`` micro-batches, rank-major inside."""
        epoch, within = divmod(step, self.steps_per_epoch)
        order = self._epoch_order(epoch)
        flat = order[within * self.rows_per_step : (within + 1) * self.rows_per_step]
        return [flat[i : i + self.batch_size] for i in range(0, len(flat), self.batch_size)]

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        per_step = self.step_rows(step)
        return [per_step[a * self.world_size + rank] for a in range(self.accumulation)]

    def label_tokens(self, step: int) -> int:
        return sum(
            self.examples[i].response_tokens
            for batch in self.step_rows(step)
            for r in batch
            for i in self.rows[r]
        )


def total_steps(args: TrainArguments, plan: BatchPlan) -> int:
    if args.max_steps > 0:
        return args.max_steps
    return max(1, math.ceil(args.num_train_epochs * plan.steps_per_epoch))


def lr_lambda(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def batch_loss_sum(model, batch: dict[str, Any], device, autocast_dtype) -> tuple[Any, int]:
    """Summed cross-entropy over the batch's label tokens, and their count.

    The LM head runs only where a label follows (``logits_to_keep`` as a boolean mask): the loss is on
    response tokens only, so the vocabulary projection and softmax of prompt and padding positions are
    never computed. A batch from ``collate_flat`` (key ``segments``) goes with an all-ones attention
    mask, which lets transformers skip building a mask, and its segments go to the segment attention.
    """
    import torch
    import torch.nn.functional as F

    input_ids = batch["input_ids"].to(device)
    labels = batch["labels"].to(device)
    targets = labels[:, 1:]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = targets != IGNORE_INDEX
    kwargs: dict[str, Any] = {"position_ids": batch["position_ids"].to(device)}
    if "segments" in batch:
        kwargs["attention_mask"] = torch.ones_like(input_ids)
        kwargs[SEGMENTS_KWARG] = batch["segments"]
    with torch.autocast(device_type=device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits = model(input_ids=input_ids, logits_to_keep=keep, use_cache=False, **kwargs).logits
    if logits.dim() == 3:  # a model that ignores logits_to_keep returns every position
        logits = logits[keep]
    wanted = targets[keep[:, :-1]]
    loss = F.cross_entropy(logits.float(), wanted, ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int(wanted.numel())


def make_batch(
    rows: Sequence[Sequence[int]], examples: Sequence[TokenizedExample], pad_token_id: int, model
) -> dict[str, Any]:
    """The micro-batch layout the model takes: unpadded with segment attention, else padded rows."""
    if fastpath.enabled(model):
        return collate_flat(rows, examples)
    return collate(rows, examples, pad_token_id)


def evaluate(
    model,
    rows: Sequence[Sequence[int]],
    examples: Sequence[TokenizedExample],
    pad_token_id: int,
    batch_size: int,
    device,
    autocast_dtype,
    info: distributed.DistInfo,
) -> float:
    """Mean token loss on the response tokens of ``rows`` (sharded over ranks, summed exactly)."""
    import torch

    was_training = model.training
    model.eval()
    mine = list(rows)[info.rank :: info.world_size]
    loss_sum, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(mine), batch_size):
            batch = make_batch(mine[start : start + batch_size], examples, pad_token_id, model)
            loss, n = batch_loss_sum(model, batch, device, autocast_dtype)
            loss_sum += float(loss.item())
            count += n
    loss_sum, count = distributed.all_reduce_sum(info, [loss_sum, float(count)])
    if was_training:
        model.train()
    if count == 0:
        raise ValueError("evaluation data has no response tokens")
    return loss_sum / count


@dataclass
class LoopState:
    """What a checkpoint must carry to continue a run exactly."""

    step: int = 0
    train_tokens: int = 0
    train_seconds: float = 0.0
    previous_wall_s: float = 0.0
    loss_sum: float = 0.0
    loss_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "train_tokens": self.train_tokens,
            "train_seconds": self.train_seconds,
            "previous_wall_s": self.previous_wall_s,
            "loss_sum": self.loss_sum,
            "loss_tokens": self.loss_tokens,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoopState:
        return cls(
            step=int(data["step"]),
            train_tokens=int(data.get("train_tokens", 0)),
            train_seconds=float(data.get("train_seconds", 0.0)),
            previous_wall_s=float(data.get("previous_wall_s", 0.0)),
            loss_sum=float(data.get("loss_sum", 0.0)),
            loss_tokens=int(data.get("loss_tokens", 0)),
            extra=dict(data.get("extra", {})),
        )


def run_training(
    model,
    plan: BatchPlan,
    args: TrainArguments,
    pad_token_id: int,
    device,
    autocast_dtype,
    info: distributed.DistInfo,
    state: LoopState,
    optimizer,
    scheduler,
    steps: int,
    on_log: Callable[[dict[str, float], int], None],
    on_checkpoint: Callable[[LoopState], None],
    wall_clock: Callable[[], float],
) -> LoopState:
    """Run optimizer steps ``state.step .. steps-1``; call back to log and to checkpoint."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    model.train()
    window_loss, window_tokens, window_real, window_start = 0.0, 0, 0, time.perf_counter()
    while state.step < steps:
        step = state.step
        torch.manual_seed((plan.seed << 20) + step * info.world_size + info.rank)  # dropout: f(seed, step)
        step_start = time.perf_counter()
        n_labels = plan.label_tokens(step)
        micro = plan.micro_batches(step, info.rank)
        step_loss, step_real = 0.0, 0
        for index, row_ids in enumerate(micro):
            batch = make_batch([plan.rows[r] for r in row_ids], plan.examples, pad_token_id, model)
            sync = index == len(micro) - 1 or not info.enabled
            context = model.no_sync() if (info.enabled and not sync) else _null()
            with context:
                loss_sum, _ = batch_loss_sum(model, batch, device, autocast_dtype)
                (loss_sum * (info.world_size / max(1, n_labels))).backward()
            step_loss += float(loss_sum.item())
            step_real += batch["real_tokens"]
        grad_norm = (
            float(torch.nn.utils.clip_grad_norm_(trainable, args.max_grad_norm))
            if args.max_grad_norm > 0
            else 0.0
        )
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss, step_real = distributed.all_reduce_sum(info, [step_loss, float(step_real)])
        state.step += 1
        state.train_tokens += int(step_real)
        state.train_seconds += time.perf_counter() - step_start
        state.loss_sum += step_loss
        state.loss_tokens += n_labels
        window_loss += step_loss
        window_tokens += n_labels
        window_real += int(step_real)
        if state.step % args.logging_steps == 0 or state.step == steps:
            elapsed = max(1e-9, time.perf_counter() - window_start)
            metrics = {
                "train_loss": window_loss / max(1, window_tokens),
                "learning_rate": scheduler.get_last_lr()[0],
                "grad_norm": grad_norm,
                "tokens_per_second": window_real / elapsed,
                "train_tokens": float(state.train_tokens),
            }
            on_log(metrics, state.step)
            window_loss, window_tokens, window_real, window_start = 0.0, 0, 0, time.perf_counter()
        if args.save_steps and state.step % args.save_steps == 0 and state.step < steps:
            state.previous_wall_s = wall_clock()
            on_checkpoint(state)
    return state


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
