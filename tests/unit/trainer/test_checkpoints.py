"""Checkpoints: round trip, pruning, incomplete and corrupt ones skipped, fsspec (non-local) storage."""

from __future__ import annotations

import logging

import pytest
import torch

from llmops_trainer import checkpoints


def _save(root, step, keep=3):
    weights = {"layer.lora_A.weight": torch.full((2, 3), float(step))}
    return checkpoints.save(
        str(root),
        step,
        weights,
        {"state": {}, "param_groups": []},
        {"last_epoch": step},
        {"train_tokens": step * 10},
        keep=keep,
    )


def test_round_trip_and_newest_first(tmp_path):
    _save(tmp_path, 5)
    _save(tmp_path, 10)
    ckpt = checkpoints.load_latest(str(tmp_path))
    assert ckpt.step == 10 and ckpt.state["train_tokens"] == 100
    assert torch.equal(ckpt.weights["layer.lora_A.weight"], torch.full((2, 3), 10.0))
    assert ckpt.scheduler == {"last_epoch": 10}


def test_only_the_newest_are_kept(tmp_path):
    for step in (1, 2, 3, 4):
        _save(tmp_path, step, keep=2)
    assert [s for s, _ in checkpoints.list_checkpoints(str(tmp_path))] == [4, 3]


def test_corrupt_newest_is_skipped_with_warning_and_previous_used(tmp_path, caplog):
    _save(tmp_path, 5)
    newest = _save(tmp_path, 10)
    weights = tmp_path / "checkpoint-00000010" / checkpoints.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-7])
    with caplog.at_level(logging.WARNING):
        ckpt = checkpoints.load_latest(str(tmp_path))
    assert ckpt.step == 5
    assert "skipping checkpoint at step 10" in caplog.text and "corrupt" in caplog.text
    assert newest.endswith("checkpoint-00000010")


def test_incomplete_checkpoint_without_marker_is_skipped(tmp_path, caplog):
    _save(tmp_path, 5)
    partial = tmp_path / "checkpoint-00000010"
    partial.mkdir()
    (partial / checkpoints.WEIGHTS).write_bytes(b"half written")
    with caplog.at_level(logging.WARNING):
        assert checkpoints.load_latest(str(tmp_path)).step == 5
    assert "incomplete" in caplog.text


def test_no_checkpoints_means_fresh_start(tmp_path):
    assert checkpoints.load_latest(str(tmp_path / "none")) is None
    assert checkpoints.load_latest(None) is None


def test_direct_load_of_corrupt_checkpoint_raises(tmp_path):
    _save(tmp_path, 3)
    (tmp_path / "checkpoint-00000003" / checkpoints.STATE).write_text("{}")
    with pytest.raises(checkpoints.CheckpointError, match="state.json: content does not match"):
        checkpoints.load(str(tmp_path / "checkpoint-00000003"))


def test_remote_storage_through_fsspec():
    import fsspec

    root = "memory://llmops-test/ckpt"
    fs = fsspec.filesystem("memory")
    if fs.exists("/llmops-test"):
        fs.rm("/llmops-test", recursive=True)
    _save(root, 2, keep=1)
    _save(root, 4, keep=1)
    assert [s for s, _ in checkpoints.list_checkpoints(root)] == [4]
    assert checkpoints.load_latest(root).step == 4
