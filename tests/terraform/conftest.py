from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_COPIED = ("terraform", "include", "plugins", "requirements", "requirements.txt")


@pytest.fixture()
def mutable_repo(tmp_path: Path) -> Path:
    """A copy of the parts of the repository the consistency checks read, to mutate in a test."""
    root = tmp_path / "repo"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".terraform", "*.tfstate*")
    for name in _COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=ignore)
        else:
            shutil.copy2(src, root / name)
    return root


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact occurrence of ``old`` in ``path`` (fails loudly if the anchor moved)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: anchor {old!r} found {text.count(old)} times"
    path.write_text(text.replace(old, new), encoding="utf-8")
