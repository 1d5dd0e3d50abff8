"""The model card: one JSON file with a trained version's lineage, hyper-parameters, metrics and cost."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def git_commit(repo_dir: str | os.PathLike[str] | None = None) -> str | None:
    """``LLMOPS_GIT_COMMIT`` (set in the image at build time) or ``git rev-parse HEAD``; None if neither."""
    explicit = os.environ.get("LLMOPS_GIT_COMMIT")
    if explicit:
        return explicit
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_dir or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def build_card(
    *,
    base_model: str,
    base_model_info: Mapping[str, Any],
    dataset: Mapping[str, Any],
    prompt: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    metrics: Mapping[str, Any],
    data_stats: Mapping[str, Any],
    compute: Mapping[str, Any],
    tracking: Mapping[str, Any],
    wall_time_s: float,
    cost_usd: float,
) -> dict[str, Any]:
    """Assemble the card (plain JSON values only)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "base_model": {"uri": base_model, **dict(base_model_info)},
        "dataset": dict(dataset),
        "prompt": dict(prompt),
        "hyperparameters": dict(hyperparameters),
        "metrics": dict(metrics),
        "data": dict(data_stats),
        "compute": dict(compute),
        "tracking": dict(tracking),
        "git_commit": git_commit(),
        "wall_time_s": round(float(wall_time_s), 3),
        "cost_usd": float(cost_usd),
    }


def write_card(card: Mapping[str, Any], folder: Path) -> Path:
    path = folder / "model_card.json"
    path.write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path
