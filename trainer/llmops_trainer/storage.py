"""Object-storage URIs for the trainer: local folders, ``file://`` and ``gs://`` (or any fsspec URI).

On Vertex AI the ``AIP_*`` directories are ``gs://`` URIs and the job has Cloud Storage FUSE mounted at
``/gcs``: ``gs://bucket/path`` is then written as ``/gcs/bucket/path``. Without the mount (or for any
other fsspec protocol) the trainer writes into a local staging folder and uploads it with fsspec.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

GCS_FUSE_ROOT = Path(os.environ.get("LLMOPS_GCS_FUSE_ROOT", "/gcs"))


def is_remote(uri: str) -> bool:
    """True for URIs with a scheme other than ``file`` (``gs://``, ``memory://`` ...)."""
    scheme = urlparse(str(uri)).scheme
    return bool(scheme) and scheme != "file" and len(scheme) > 1


def local_path(uri: str | os.PathLike[str]) -> Path | None:
    """The local path that reads and writes ``uri`` directly, or ``None`` when fsspec is needed.

    Plain paths and ``file://`` URIs map to themselves; ``gs://b/p`` maps to ``/gcs/b/p`` when the Cloud
    Storage FUSE mount exists.
    """
    text = os.fspath(uri)
    parsed = urlparse(text)
    if not parsed.scheme or len(parsed.scheme) == 1:  # plain path (or a Windows drive letter)
        return Path(text)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "gs" and GCS_FUSE_ROOT.is_dir():
        return GCS_FUSE_ROOT / parsed.netloc / parsed.path.lstrip("/")
    return None


def filesystem(uri: str):
    """The fsspec filesystem and the protocol-stripped path of ``uri``."""
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(uri)
    return fs, paths[0]


def join(root: str, *parts: str) -> str:
    """Join path parts onto a folder or URI with ``/``."""
    out = os.fspath(root).rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def exists(uri: str) -> bool:
    path = local_path(uri)
    if path is not None:
        return path.exists()
    fs, p = filesystem(uri)
    return fs.exists(p)


def read_bytes(uri: str) -> bytes:
    path = local_path(uri)
    if path is not None:
        return path.read_bytes()
    fs, p = filesystem(uri)
    with fs.open(p, "rb") as fh:
        return fh.read()


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole file (through a temporary name and a rename on local paths)."""
    path = local_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    fs, p = filesystem(uri)
    with fs.open(p, "wb") as fh:
        fh.write(data)


def list_dir(uri: str) -> list[str]:
    """Names of the direct children of a folder (empty when it does not exist)."""
    path = local_path(uri)
    if path is not None:
        return sorted(child.name for child in path.iterdir()) if path.is_dir() else []
    fs, p = filesystem(uri)
    if not fs.exists(p):
        return []
    return sorted(Path(entry.rstrip("/")).name for entry in fs.ls(p, detail=False))


def remove_tree(uri: str) -> None:
    path = local_path(uri)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        return
    fs, p = filesystem(uri)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def upload_tree(local_dir: Path, uri: str) -> None:
    """Copy a local folder to ``uri`` (replacing what is there), file by file."""
    path = local_path(uri)
    if path is not None:
        if path.resolve() == local_dir.resolve():
            return
        if path.exists():
            shutil.rmtree(path)
        shutil.copytree(local_dir, path)
        return
    fs, p = filesystem(uri)
    if fs.exists(p):
        fs.rm(p, recursive=True)
    for file in sorted(f for f in local_dir.rglob("*") if f.is_file()):
        rel = file.relative_to(local_dir).as_posix()
        fs.makedirs(f"{p}/{Path(rel).parent.as_posix()}".rstrip("/."), exist_ok=True)
        fs.put_file(str(file), f"{p}/{rel}")


def download_tree(uri: str, local_dir: Path) -> Path:
    """Make the folder ``uri`` readable locally: its own path when possible, else a downloaded copy."""
    path = local_path(uri)
    if path is not None:
        return path
    fs, p = filesystem(uri)
    local_dir.mkdir(parents=True, exist_ok=True)
    for entry in fs.find(p):
        rel = entry[len(p.rstrip("/")) + 1 :]
        target = local_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(entry, str(target))
    return local_dir


class OutputDir:
    """A folder to write into that ends up at ``uri``: the direct path, or a staging folder + upload."""

    def __init__(self, uri: str) -> None:
        self.uri = os.fspath(uri)
        direct = local_path(self.uri)
        self._staging: tempfile.TemporaryDirectory[str] | None = None
        if direct is None:
            self._staging = tempfile.TemporaryDirectory(prefix="llmops-out-")
            self.path = Path(self._staging.name)
        else:
            self.path = direct
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def staged(self) -> bool:
        return self._staging is not None

    def sync(self) -> None:
        """Upload the staging folder (no-op for direct paths)."""
        if self._staging is None:
            return
        fs, p = filesystem(self.uri)
        for file in sorted(f for f in self.path.rglob("*") if f.is_file()):
            rel = file.relative_to(self.path).as_posix()
            fs.makedirs(f"{p}/{Path(rel).parent.as_posix()}".rstrip("/."), exist_ok=True)
            fs.put_file(str(file), f"{p}/{rel}")

    def close(self) -> None:
        self.sync()
        if self._staging is not None:
            self._staging.cleanup()
            self._staging = None
