"""Bodies of the TaskFlow tasks: each reads its inputs through the target switch (storage root,
warehouse) and calls the Airflow-free logic in ``llmops_factory`` / ``llmops_trainer``.

They are target-neutral: the same code runs on local and gcp, only the storage and warehouse behind
``llmops_plugins.targets`` differ.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from llmops_factory import layout
from llmops_factory.settings import get_settings

log = logging.getLogger(__name__)


class TaskInputError(ValueError):
    """A task's input (params, upstream output, stored file) is missing or invalid."""


# -- llmops_data_prep -----------------------------------------------------------------------------
def validate_daily_dataset(ds: str) -> dict[str, Any]:
    """Validate one prepared day: counts reconcile, warehouse = manifest, dead-letter ratio, no PII left.

    Returns the day's summary (the asset event's ``extra``); raises with every problem and its counts.
    """
    from llmops_factory.dataprep.manifest import DataValidationError, load_manifest, validate_day
    from llmops_factory.dataprep.pii import scan_for_pii
    from llmops_plugins.targets import storage_root, warehouse

    settings = get_settings()
    ds = layout.partition_date(ds)
    version = layout.daily_dataset_version(ds)
    folder = storage_root() / layout.dataset(version)
    path = folder / "manifest.json"
    if not path.exists():
        raise TaskInputError(f"{path} does not exist: prepare_dataset did not write the day's manifest")
    manifest = load_manifest(path.read_text(), where=str(path))
    wh = warehouse()
    rows = wh.count("instruction_examples", source_date=ds)
    summary = validate_day(
        manifest,
        rows_in_warehouse=rows,
        dead_letter_ratio_max=settings.thresholds.dead_letter_ratio_max,
        min_examples=settings.thresholds.min_examples_per_day,
    ).as_dict()

    examples = wh.rows("instruction_examples", ["example_id", "instruction", "input", "output"], source_date=ds)
    texts, owners = [], []
    for row in examples:
        for field in ("instruction", "input", "output"):
            if row.get(field):
                texts.append(str(row[field]))
                owners.append((row["example_id"], field))
    findings = scan_for_pii(texts)
    if findings:
        detail = "; ".join(
            f"example {owners[f.text_index][0]} field {owners[f.text_index][1]}: {f.kind} ({f.masked})"
            for f in findings[:20]
        )
        raise DataValidationError(
            [f"PII left in {len({owners[f.text_index][0] for f in findings})} example(s) after redaction: {detail}"],
            summary,
        )
    summary.update({"ds": ds, "uri": str(folder),
                    "prompt": manifest.get("prompt")})
    log.info("day %s valid: %s", ds, json.dumps(summary, sort_keys=True, default=str))
    return summary


# -- llmops_finetune ------------------------------------------------------------------------------
def window_end(params: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """Last day of the training window: the param, else the newest triggering dataset's day, else the
    run's logical date / data interval end (never the wall clock)."""
    if params.get("window_end"):
        return layout.partition_date(params["window_end"])
    days = []
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            ds = (getattr(event, "extra", None) or {}).get("ds")
            if ds:
                days.append(layout.partition_date(ds))
    if days:
        return max(days)
    for key in ("logical_date", "data_interval_end"):
        value = context.get(key)
        if value is not None:
            return value.date().isoformat()
    dag_run = context.get("dag_run")
    if dag_run is not None and getattr(dag_run, "run_after", None) is not None:
        return dag_run.run_after.date().isoformat()
    raise TaskInputError("cannot tell the training window: set the window_end param")


def assemble_snapshot(params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    from llmops_factory.datasets import build_snapshot

    settings = get_settings()
    end = window_end(params, context)
    days = int(params.get("window_days") or 1)
    start = (dt.date.fromisoformat(end) - dt.timedelta(days=days - 1)).isoformat()
    manifest = build_snapshot(settings.storage_root, start, end)
    version = manifest["snapshot_version"]
    result = {
        "snapshot_version": version,
        "window_start": start,
        "window_end": end,
        "train_data": layout.dataset_split(version, "train"),
        "eval_data": layout.dataset_split(version, "eval"),
        "train_examples": manifest.get("counts", {}).get("train", manifest.get("train_examples")),
        "eval_examples": manifest.get("counts", {}).get("eval", manifest.get("eval_examples")),
    }
    log.info("snapshot %s", json.dumps(result, sort_keys=True, default=str))
    return result


BASE_MODEL_NAME = "llmops-tiny-llama"
BASE_CORPUS_START = "2025-12-01"
BASE_CORPUS_DAYS = 7


def prepare_base_model(base_model: str | None) -> str:
    """Locally: build the project's small Llama base model once (cached by its build key).
    gcp (or an explicit path): check that the path holds a Hugging Face causal LM."""
    import subprocess
    import sys

    from llmops_plugins.targets import storage_root

    settings = get_settings()
    storage_root()
    explicit = (base_model or "").strip()
    if not explicit and settings.target == "gcp":
        explicit = settings.gcp.training.base_model
    if explicit:
        path = explicit if "://" in explicit or explicit.startswith("/") else layout.join(settings.storage_root, explicit)
        _check_causal_lm(path)
        return path

    from llmops_plugins.local_impl import process_env

    out = settings.local.storage_root / layout.base_model(BASE_MODEL_NAME)
    # A fixed pre-training corpus (help-centre articles and policies of a reference week, no injected
    # defects), independent of which daily partitions exist, so the base model's build key is stable.
    corpus = settings.local.storage_root / (layout.base_model(BASE_MODEL_NAME).rstrip("/") + "-corpus")
    proc = subprocess.run(
        [sys.executable, "-m", "llmops_factory.datagen", "generate", "--root", str(corpus),
         "--ds", BASE_CORPUS_START, "--days", str(BASE_CORPUS_DAYS), "--no-defects", "--seed", "0",
         "--scale", "2000",  # enough that every article and policy section of the facts appears
         "--sources", "help_center,policies"],
        env=process_env(), capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"writing the base-model corpus failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    proc = subprocess.run(
        [sys.executable, "-m", "llmops_trainer", "build-base",
         "--corpus", str(corpus / "raw" / "help_center"), str(corpus / "raw" / "policies"),
         "--output", str(out), "--name", BASE_MODEL_NAME,
         # extra build-base flags, e.g. a smaller model in tests: LLMOPS_BASE_MODEL_ARGS="--steps 20"
         *os.environ.get("LLMOPS_BASE_MODEL_ARGS", "").split()],
        env=process_env(), capture_output=True, text=True,
    )
    log.info("%s", proc.stdout[-4000:])
    if proc.returncode != 0:
        raise RuntimeError(f"building the base model failed:\n{proc.stderr[-6000:]}")
    _check_causal_lm(str(out))
    return layout.base_model(BASE_MODEL_NAME)


def _check_causal_lm(path: str) -> None:
    from airflow.sdk import ObjectStoragePath

    config = ObjectStoragePath(path if "://" in path else f"file://{path}") / "config.json"
    if not config.exists():
        raise TaskInputError(f"base model {path} does not exist or has no config.json (not a Hugging Face model)")
    try:
        architectures = json.loads(config.read_text()).get("architectures") or []
    except json.JSONDecodeError as exc:
        raise TaskInputError(f"{config} is not valid JSON: {exc}") from None
    if not any(a.endswith("ForCausalLM") for a in architectures):
        raise TaskInputError(f"base model {path} is not a causal LM (architectures={architectures})")


_HPARAM_MAP = {
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "target_modules": "lora_target_modules",
    "epochs": "num_train_epochs",
}


def plan_training(
    prompt: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    base_model: str,
    params: Mapping[str, Any],
    context: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One trial per point of the sweep grid (``lora_r`` × ``learning_rate``), keyed by the DAG run."""
    settings = get_settings()
    ranks = list(params.get("lora_r") or [8])
    rates = list(params.get("learning_rate") or [2e-3])
    if not ranks or not rates:
        raise TaskInputError("the sweep grid is empty: give at least one lora_r and one learning_rate")
    run_hash = hashlib.sha1(str(context["run_id"]).encode()).hexdigest()[:8]
    day = str(snapshot["window_end"]).replace("-", "")
    use_case = re.sub(r"[^a-z0-9-]", "-", settings.use_case.lower())
    common = {k: params[p] for p, k in _HPARAM_MAP.items() if params.get(p) not in (None, "", [])}
    machine = {
        "machine_type": params.get("machine_type") or None,
        "accelerator_type": params.get("accelerator_type") or None,
        "accelerator_count": params.get("accelerator_count") or None,
    }
    trials = []
    for index, (rank, rate) in enumerate(itertools.product(ranks, rates)):
        trials.append({
            "model_version": f"{use_case}-{day}-{run_hash}-t{index}",
            "train_data": snapshot["train_data"],
            "eval_data": snapshot["eval_data"],
            "base_model": base_model,
            "prompt_ref": prompt["ref"],
            "hparams": {**common, "lora_r": int(rank), "learning_rate": float(rate)},
            "config": "local-cpu" if settings.target == "local" else "a100",
            "machine": {k: v for k, v in machine.items() if v},
        })
    log.info("sweep of %d trial(s): %s", len(trials), [t["hparams"] for t in trials])
    return trials


def select_best(results: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The trial with the lowest held-out loss; a trial without it can never win (fail closed)."""
    scored = [r for r in results if isinstance((r.get("metrics") or {}).get("eval_loss"), (int, float))]
    if not scored:
        raise TaskInputError(f"no trial reported eval_loss: {[r.get('model_version') for r in results]}")
    ranking = sorted(scored, key=lambda r: (r["metrics"]["eval_loss"], r["model_version"]))
    for rank, r in enumerate(ranking, 1):
        log.info("#%d %s eval_loss=%.4f hparams=%s", rank, r["model_version"], r["metrics"]["eval_loss"],
                 r.get("hparams"))
    best = dict(ranking[0])
    best["trials"] = [
        {"model_version": r["model_version"], "eval_loss": r["metrics"]["eval_loss"], "hparams": r.get("hparams")}
        for r in ranking
    ]
    return best
