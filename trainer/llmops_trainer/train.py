"""``python -m llmops_trainer train``: supervised LoRA fine-tuning of a causal LM on a dataset snapshot.

``main()`` only wires the steps; each step is a small function below. Everything that can fail on bad
input (arguments, prices, the snapshot, the prompt, the base model, the LoRA target modules) is checked
before the model weights are loaded.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmops_trainer import checkpoints, data, distributed, fastpath, modeling, storage
from llmops_trainer.args import TrainConfig, parse_args
from llmops_trainer.loop import BatchPlan, LoopState, evaluate, lr_lambda, run_training, total_steps
from llmops_trainer.model_card import build_card, write_card
from llmops_trainer.tracking import TensorBoardLog, Tracker, make_tracker

log = logging.getLogger("llmops_trainer")
TRACKING_RUN_FILE = "tracking_run.json"


@dataclass
class PreparedData:
    """Tokenized, packed train and eval data plus their lineage."""

    train_examples: list[data.TokenizedExample]
    train_rows: list[list[int]]
    eval_examples: list[data.TokenizedExample]
    eval_rows: list[list[int]]
    dataset: dict[str, Any]
    prompt: dict[str, Any]
    stats: dict[str, Any]


def configure_logging(info: distributed.DistInfo) -> None:
    logging.basicConfig(
        level=logging.INFO if info.is_main else logging.WARNING,
        format=f"%(asctime)s [rank {info.rank}] %(levelname)s %(name)s: %(message)s",
    )


def check_prices(config: TrainConfig) -> float:
    """The job's hourly price (fails naming a missing price before any work)."""
    from llmops_factory.cost import hourly_rate

    t = config.training
    return hourly_rate(t.machine_type, t.accelerator_type, t.accelerator_count, t.replica_count).total_usd


def read_snapshot(config: TrainConfig) -> tuple[data.SplitData, data.SplitData, dict[str, Any]]:
    d = config.data
    train_uri = data.split_uri(d.train_data, "train")
    eval_uri = (
        data.split_uri(d.eval_data, "eval")
        if d.eval_data
        else data.split_uri(data.snapshot_root(train_uri), "eval")
    )
    train = data.read_split(train_uri, "train", d.max_train_examples)
    eval_ = data.read_split(eval_uri, "eval", d.max_eval_examples)
    data.check_disjoint(train, eval_)
    manifest = data.read_manifest(train_uri)
    if manifest is None:
        log.warning("no manifest.json beside %s: the model card records the split hashes only", train_uri)
    dataset = {
        "uri": data.snapshot_root(train_uri),
        "snapshot_version": (manifest or {}).get(
            "snapshot_version", data.snapshot_root(train_uri).rsplit("/")[-1]
        ),
        "manifest": manifest,
        "train_sha256": train.sha256,
        "eval_sha256": eval_.sha256,
        "train_rows": len(train.examples),
        "eval_rows": len(eval_.examples),
    }
    return train, eval_, dataset


def prepare_data(
    config: TrainConfig, train: data.SplitData, eval_: data.SplitData, tokenizer, dataset: dict[str, Any]
) -> PreparedData:
    d = config.data
    prompt, train_texts = data.render_prompts(train.examples, d.prompt, d.prompt_root)
    _, eval_texts = data.render_prompts(eval_.examples, d.prompt, d.prompt_root)
    train_tok, train_stats = data.tokenize_examples(train.examples, train_texts, tokenizer, d.max_seq_length)
    eval_tok, eval_stats = data.tokenize_examples(eval_.examples, eval_texts, tokenizer, d.max_seq_length)
    if not train_tok:
        raise data.DataError(f"{train.uri}: every example is longer than max_seq_length={d.max_seq_length}")
    if not eval_tok:
        raise data.DataError(f"{eval_.uri}: every example is longer than max_seq_length={d.max_seq_length}")
    train_rows = data.build_rows(train_tok, d.max_seq_length, d.packing)
    eval_rows = data.build_rows(eval_tok, d.max_seq_length, d.packing)
    stats = {
        "train_examples": train_stats.examples,
        "train_truncated": train_stats.truncated,
        "train_dropped": train_stats.dropped,
        "train_dropped_ids": train_stats.dropped_ids,
        "eval_examples": eval_stats.examples,
        "eval_truncated": eval_stats.truncated,
        "eval_dropped": eval_stats.dropped,
        "eval_dropped_ids": eval_stats.dropped_ids,
        "train_sequences": len(train_rows),
        "useful_token_fraction": round(
            data.useful_fraction(train_rows, train_tok, config.training.per_device_train_batch_size), 4
        ),
    }
    if d.prompt_sha256 and prompt.hash != d.prompt_sha256:
        raise data.DataError(
            f"prompt {d.prompt} loaded from {d.prompt_root or 'the repository'} has content hash "
            f"{prompt.hash[:12]}, but the run pinned {d.prompt_sha256[:12]}: refusing to train on another text"
        )
    prompt_info = {
        "name": prompt.name,
        "version": prompt.version,
        "hash": prompt.hash,
        "ref": d.prompt,
        "source": d.prompt_root or "repository",
    }
    return PreparedData(train_tok, train_rows, eval_tok, eval_rows, dataset, prompt_info, stats)


def autocast_dtype(config: TrainConfig, device):
    import torch

    setting = config.training.bf16.lower()
    supported = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if setting == "true" and not supported:
        raise ValueError("--bf16 true needs a GPU with bfloat16 support")
    return torch.bfloat16 if (setting == "true" or (setting == "auto" and supported)) else None


def default_run_name(config: TrainConfig) -> str:
    import hashlib

    digest = hashlib.sha256(str(config.training.output_dir).encode()).hexdigest()[:10]
    return config.training.run_name or f"finetune-{digest}"


def start_tracking(config: TrainConfig, info: distributed.DistInfo, params: dict[str, Any]) -> Tracker:
    """Start (or, after a restart, continue) the tracked run on rank 0."""
    t = config.training
    tracker = make_tracker(t.tracking if info.is_main else "none", t.tracking_uri, t.experiment_name)
    if not info.is_main or t.tracking == "none":
        return tracker
    resume_id = None
    run_file = storage.join(t.checkpoint_dir, TRACKING_RUN_FILE) if t.checkpoint_dir else None
    if run_file and storage.exists(run_file):
        saved = json.loads(storage.read_bytes(run_file))
        if saved.get("backend") == t.tracking:
            resume_id = saved.get("run_id")
    run_id = tracker.start(default_run_name(config), params, resume_id=resume_id)
    if run_file and run_id:
        storage.write_bytes(run_file, json.dumps({"backend": t.tracking, "run_id": run_id}).encode())
    return tracker


def main(argv: Sequence[str] | None = None) -> int:
    """Wire the run: arguments, processes, checks, data, model + LoRA, train, evaluate, save."""
    import torch

    job_start = time.time()
    argv = list(sys.argv[1:] if argv is None else argv)
    config = parse_args(argv)
    t = config.training
    relaunched = distributed.maybe_relaunch(["train", *argv], t.nproc_per_node)
    if relaunched is not None:
        return relaunched
    info = distributed.from_env()
    configure_logging(info)
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    hourly_usd = check_prices(config)
    train_split, eval_split, dataset = read_snapshot(config)
    ref = modeling.resolve_base_model(config.model.base_model)
    modeling.check_target_modules(ref, config.lora.lora_target_modules)
    tokenizer = modeling.load_tokenizer(ref)
    prepared = prepare_data(config, train_split, eval_split, tokenizer, dataset)
    device = distributed.init(info)
    torch.manual_seed(t.seed)

    model = modeling.load_model(ref, config.model, device)
    model = modeling.add_lora(
        model, config.lora, config.model.gradient_checkpointing, config.model.load_in_4bit
    )
    if modeling.use_unpadded(config.model, device):
        fastpath.set_implementation(model, fastpath.SEGMENT_ATTENTION)
    if device.type == "cpu":
        fastpath.use_sparse_lora_dropout(model)
    plan = BatchPlan(
        prepared.train_rows,
        prepared.train_examples,
        t.per_device_train_batch_size,
        t.gradient_accumulation_steps,
        info.world_size,
        t.seed,
    )
    steps = total_steps(t, plan)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=t.learning_rate, weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(t.lr_scheduler, int(steps * t.warmup_ratio), steps)
    )
    state = LoopState()
    resumed = checkpoints.load_latest(t.checkpoint_dir)
    if resumed is not None:
        modeling.load_trainable_state(model, resumed.weights)
        optimizer.load_state_dict(resumed.optimizer)
        scheduler.load_state_dict(resumed.scheduler)
        state = LoopState.from_json(resumed.state)
    amp = autocast_dtype(config, device)
    pad_id = tokenizer.pad_token_id
    params = {
        **config.flat(),
        "base_model": ref.uri,
        "dataset_version": dataset["snapshot_version"],
        "prompt": f"{prepared.prompt['name']}@{prepared.prompt['version']}",
        "world_size": info.world_size,
        "total_steps": steps,
    }
    tracker = start_tracking(config, info, params)
    tensorboard = TensorBoardLog(t.tensorboard_dir if info.is_main else None)
    ddp_model = (
        torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        if info.enabled
        else model
    )

    def held_out_loss() -> float:
        return evaluate(
            model,
            prepared.eval_rows,
            prepared.eval_examples,
            pad_id,
            t.per_device_eval_batch_size,
            device,
            amp,
            info,
        )

    success = False
    try:
        if "base_eval_loss" not in state.extra:
            state.extra["base_eval_loss"] = held_out_loss()
        log.info(
            "base model eval loss %.4f; training %d steps from step %d",
            state.extra["base_eval_loss"],
            steps,
            state.step,
        )
        elapsed_before = state.previous_wall_s

        def wall_clock() -> float:
            return elapsed_before + (time.time() - job_start)

        def on_log(metrics: dict[str, float], step: int) -> None:
            if info.is_main:
                log.info("step %d/%d %s", step, steps, {k: round(v, 5) for k, v in metrics.items()})
                tracker.log_metrics(metrics, step=step)
                tensorboard.log(metrics, step)

        def on_checkpoint(current: LoopState) -> None:
            if info.is_main and t.checkpoint_dir:
                checkpoints.save(
                    t.checkpoint_dir,
                    current.step,
                    modeling.trainable_state(model),
                    optimizer.state_dict(),
                    scheduler.state_dict(),
                    current.to_json(),
                    keep=t.save_total_limit,
                )
                tensorboard.flush()
            distributed.barrier(info)

        state = run_training(
            ddp_model,
            plan,
            t,
            pad_id,
            device,
            amp,
            info,
            state,
            optimizer,
            scheduler,
            steps,
            on_log,
            on_checkpoint,
            wall_clock,
        )
        eval_loss = held_out_loss()
        wall_time_s = wall_clock()
        metrics = {
            "eval_loss": eval_loss,
            "base_eval_loss": state.extra["base_eval_loss"],
            "eval_loss_improvement": state.extra["base_eval_loss"] - eval_loss,
            "train_loss": state.loss_sum / max(1, state.loss_tokens),
            "train_tokens": float(state.train_tokens),
            "tokens_per_second": state.train_tokens / max(1e-9, state.train_seconds),
            "wall_time_s": wall_time_s,
            "cost_usd": round(wall_time_s / 3600.0 * hourly_usd, 6),
        }
        if info.is_main:
            save_run_outputs(config, model, tokenizer, ref, prepared, metrics, steps, info, tracker, resumed)
            tracker.log_metrics(metrics)
            tensorboard.log(metrics, steps)
        distributed.barrier(info)
        success = True
    finally:
        tensorboard.close()
        tracker.end(success)
        distributed.shutdown(info)
    return 0


def save_run_outputs(
    config: TrainConfig,
    model,
    tokenizer,
    ref: modeling.BaseModelRef,
    prepared: PreparedData,
    metrics: dict[str, float],
    steps: int,
    info: distributed.DistInfo,
    tracker: Tracker,
    resumed: checkpoints.Checkpoint | None,
) -> None:
    """adapter/, merged/, metrics.json and model_card.json into the output folder; artifacts to tracking."""
    t = config.training
    out = storage.OutputDir(t.output_dir)
    metrics_path = out.path / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card = build_card(
        base_model=ref.uri,
        base_model_info=ref.info,
        dataset=prepared.dataset,
        prompt=prepared.prompt,
        hyperparameters={**config.flat(), "total_steps": steps},
        metrics=metrics,
        data_stats=prepared.stats,
        compute={
            "machine_type": t.machine_type,
            "accelerator_type": t.accelerator_type,
            "accelerator_count": t.accelerator_count,
            "replica_count": t.replica_count,
            "world_size": info.world_size,
            "resumed_from": resumed.uri if resumed else None,
        },
        tracking={"backend": t.tracking, "run_id": tracker.run_id, "experiment": t.experiment_name},
        wall_time_s=metrics["wall_time_s"],
        cost_usd=metrics["cost_usd"],
    )
    card_path = write_card(card, out.path)
    for path in (card_path, metrics_path):
        tracker.log_artifact(path)
    modeling.save_outputs(model, tokenizer, ref, config.model, out.path, merge=t.merge_adapter)
    tracker.log_artifact(out.path / "adapter")
    out.close()
    log.info(
        "wrote %s (eval loss %.4f, base %.4f)", t.output_dir, metrics["eval_loss"], metrics["base_eval_loss"]
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
