"""Rank and world size from the launcher; Vertex AI CLUSTER_SPEC → node settings; storage URIs."""

from __future__ import annotations

import json

import pytest

from llmops_trainer import distributed, storage


def test_from_env_defaults_and_torchrun_values():
    assert distributed.from_env({}) == distributed.DistInfo(0, 0, 1)
    info = distributed.from_env({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (info.rank, info.local_rank, info.world_size, info.is_main, info.enabled) == (3, 1, 4, False, True)


def test_cluster_spec_of_a_worker_replica():
    spec = {
        "cluster": {
            "workerpool0": ["cmle-training-workerpool0-0:2222"],
            "workerpool1": ["cmle-training-workerpool1-0:2222", "cmle-training-workerpool1-1:2222"],
        },
        "environment": "cloud",
        "task": {"type": "workerpool1", "index": 1},
    }
    nodes = distributed.vertex_cluster_env(json.dumps(spec))
    assert nodes.as_env() == {
        "MASTER_ADDR": "cmle-training-workerpool0-0",
        "MASTER_PORT": "2222",
        "NNODES": "3",
        "NODE_RANK": "2",
    }
    spec["task"] = {"type": "workerpool0", "index": 0}
    assert distributed.vertex_cluster_env(spec).node_rank == 0


def test_single_node_spec_needs_no_launcher_and_bad_spec_fails():
    single = {"cluster": {"workerpool0": ["h:2222"]}, "task": {"type": "workerpool0", "index": 0}}
    assert distributed.vertex_cluster_env(json.dumps(single)) is None
    assert distributed.vertex_cluster_env(None) is None
    with pytest.raises(ValueError, match="workerpool0"):
        distributed.vertex_cluster_env('{"task": {}}')
    reducer = {"cluster": {"workerpool0": ["h:1"], "workerpool1": ["w:1"]}, "task": {"type": "workerpool2"}}
    with pytest.raises(ValueError, match="not a training worker pool"):
        distributed.vertex_cluster_env(reducer)


def test_gcs_uri_uses_the_fuse_mount_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "GCS_FUSE_ROOT", tmp_path)
    assert storage.local_path("gs://bucket/a/b") == tmp_path / "bucket" / "a" / "b"
    monkeypatch.setattr(storage, "GCS_FUSE_ROOT", tmp_path / "absent")
    assert storage.local_path("gs://bucket/a/b") is None
    assert str(storage.local_path("file:///x/y")) == "/x/y"
    assert str(storage.local_path("/x/y")) == "/x/y"
