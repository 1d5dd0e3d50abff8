"""Checkpoints in ``AIP_CHECKPOINT_DIR``: save every N steps, resume from the newest valid one.

A checkpoint is a folder ``checkpoint-<step>/`` holding the trainable (LoRA) weights, the optimizer and
scheduler state and ``state.json`` (step, tokens, elapsed time, running loss), closed by ``COMPLETE.json``
with the SHA-256 of every file, written last. A folder without that marker (the process died while
writing) or whose files do not match it (corrupt) is skipped with a warning and the previous checkpoint is
used. Only the newest ``save_total_limit`` checkpoints are kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_trainer import storage

log = logging.getLogger(__name__)

MARKER = "COMPLETE.json"
WEIGHTS = "trainable.safetensors"
OPTIMIZER = "optimizer.pt"
SCHEDULER = "scheduler.pt"
STATE = "state.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message says which file and why."""


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    uri: str
    step: int
    weights: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    state: dict[str, Any]


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:08d}"


def list_checkpoints(root: str) -> list[tuple[int, str]]:
    """``(step, uri)`` of every checkpoint folder under ``root``, newest first."""
    found = []
    for name in storage.list_dir(root):
        match = _NAME.match(name)
        if match:
            found.append((int(match.group(1)), storage.join(root, name)))
    return sorted(found, reverse=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(
    root: str,
    step: int,
    weights: dict[str, Any],
    optimizer: dict[str, Any],
    scheduler: dict[str, Any],
    state: dict[str, Any],
    keep: int,
) -> str:
    """Write ``checkpoint-<step>`` under ``root`` (marker last) and prune to the newest ``keep``."""
    import torch
    from safetensors.torch import save as save_safetensors

    blobs: dict[str, bytes] = {
        WEIGHTS: save_safetensors({k: v.detach().cpu().contiguous() for k, v in weights.items()}),
        STATE: json.dumps({**state, "step": step}, indent=2, sort_keys=True).encode(),
    }
    for name, obj in ((OPTIMIZER, optimizer), (SCHEDULER, scheduler)):
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        blobs[name] = buffer.getvalue()
    marker = json.dumps({"step": step, "files": {n: _sha256(b) for n, b in blobs.items()}}, indent=2).encode()
    final_uri = storage.join(root, checkpoint_name(step))
    direct = storage.local_path(final_uri)
    if direct is not None:
        direct.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{direct.name}.", dir=direct.parent) as tmp:
            tmp_dir = Path(tmp) / direct.name
            tmp_dir.mkdir()
            for name, blob in blobs.items():
                (tmp_dir / name).write_bytes(blob)
            (tmp_dir / MARKER).write_bytes(marker)
            if direct.exists():
                storage.remove_tree(str(direct))
            tmp_dir.rename(direct)
    else:
        storage.remove_tree(final_uri)
        for name, blob in blobs.items():
            storage.write_bytes(storage.join(final_uri, name), blob)
        storage.write_bytes(storage.join(final_uri, MARKER), marker)
    for _, old in list_checkpoints(root)[keep:]:
        storage.remove_tree(old)
    log.info("saved checkpoint %s", final_uri)
    return final_uri


def load(uri: str) -> Checkpoint:
    """Load and verify one checkpoint folder; raises ``CheckpointError`` naming the problem."""
    import torch
    from safetensors.torch import load as load_safetensors

    marker_uri = storage.join(uri, MARKER)
    if not storage.exists(marker_uri):
        raise CheckpointError(f"{uri}: no {MARKER} (incomplete: the writer stopped before finishing)")
    try:
        marker = json.loads(storage.read_bytes(marker_uri))
        expected = marker["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{marker_uri}: unreadable marker ({exc!r})") from exc
    blobs = {}
    for name in (WEIGHTS, OPTIMIZER, SCHEDULER, STATE):
        file_uri = storage.join(uri, name)
        if not storage.exists(file_uri):
            raise CheckpointError(f"{file_uri}: missing")
        blob = storage.read_bytes(file_uri)
        if _sha256(blob) != expected.get(name):
            raise CheckpointError(f"{file_uri}: content does not match its SHA-256 in {MARKER} (corrupt)")
        blobs[name] = blob
    try:
        state = json.loads(blobs[STATE])
        weights = load_safetensors(blobs[WEIGHTS])
        optimizer = torch.load(io.BytesIO(blobs[OPTIMIZER]), map_location="cpu", weights_only=True)
        scheduler = torch.load(io.BytesIO(blobs[SCHEDULER]), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoding failure makes the checkpoint unusable
        raise CheckpointError(f"{uri}: cannot be decoded ({exc!r})") from exc
    return Checkpoint(uri, int(state["step"]), weights, optimizer, scheduler, state)


def load_latest(root: str | None) -> Checkpoint | None:
    """The newest checkpoint that verifies; broken ones are skipped with a warning."""
    if not root:
        return None
    for step, uri in list_checkpoints(root):
        try:
            checkpoint = load(uri)
        except CheckpointError as exc:
            log.warning("skipping checkpoint at step %d: %s; trying the previous one", step, exc)
            continue
        log.info("resuming from %s (step %d)", uri, checkpoint.step)
        return checkpoint
    return None
