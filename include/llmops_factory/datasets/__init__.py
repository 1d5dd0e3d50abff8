"""Training snapshots assembled from the curated daily partitions (see ``snapshot.py``)."""

from __future__ import annotations

from llmops_factory.datasets.snapshot import SnapshotError, build_snapshot, snapshot_version, stable_fraction

__all__ = ["SnapshotError", "build_snapshot", "snapshot_version", "stable_fraction"]
