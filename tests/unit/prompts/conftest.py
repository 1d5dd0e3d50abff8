"""Fixtures of the prompts tests: a copy of the repository's prompts folder and a storage root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_PROMPTS = Path(__file__).resolve().parents[3] / "prompts"


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    """A writable copy of the repository's prompts folder (files and lock)."""
    target = tmp_path / "prompts"
    shutil.copytree(REPO_PROMPTS, target)
    return target


@pytest.fixture
def storage_root(tmp_path: Path) -> str:
    """A fresh local storage root, as the ``file://`` URI the settings give on the local target."""
    root = tmp_path / "storage"
    root.mkdir()
    return root.as_uri()
