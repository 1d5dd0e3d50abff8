"""Pytest fixtures of the data-preparation tests (the raw-data builders live in ``dataprep_fixtures``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataprep_fixtures import write_partition


@pytest.fixture()
def raw_day(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """(storage root, expected outcome per record locator) of a day with every bad input."""
    return tmp_path, write_partition(tmp_path)
