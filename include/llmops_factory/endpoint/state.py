"""Persistent state of a local endpoint: its deployed models, traffic split and logging config.

One JSON file per endpoint (``<home>/endpoints/<name>/state.json``), replaced atomically (write a
temporary file, fsync, rename) after every admin change, so a restart — or a crash at any point —
finds either the old state or the new one, never half of each.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

STATE_VERSION = 1
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# Ids: milliseconds since this epoch, shifted, plus a 12-bit sequence. 53 bits in all, so JSON clients
# that read numbers as doubles (JavaScript) keep every id exact; sortable by time; unique per process.
_EPOCH_MS = int(_dt.datetime(2026, 1, 1, tzinfo=_dt.UTC).timestamp() * 1000)
_SEQ_BITS = 12


class EndpointStateError(ValueError):
    """The state file or an admin request is invalid; the message names the file or field."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise EndpointStateError(
            f"endpoint name {name!r} must match {_NAME.pattern} (e.g. support-assistant)"
        )
    return name


@dataclass(frozen=True)
class DeployedModel:
    """One model served by the endpoint: weights (``model_uri``) + a prompt version (Vertex's DeployedModel)."""

    id: str
    model_version: str
    model_uri: str
    prompt: str
    display_name: str
    deployed_at: str
    model_name: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EndpointState:
    """Immutable snapshot; every change builds a new one (so a reader never sees a half-applied change)."""

    name: str
    deployed_models: tuple[DeployedModel, ...] = ()
    traffic_split: dict[str, int] = field(default_factory=dict)
    sampling_rate: float = 1.0
    updated_at: str | None = None

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.deployed_models]

    def model(self, deployed_id: str) -> DeployedModel | None:
        return next((m for m in self.deployed_models if m.id == deployed_id), None)

    def with_changes(self, **changes: Any) -> EndpointState:
        return replace(
            self, updated_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"), **changes
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "state_version": STATE_VERSION,
            "name": self.name,
            "deployed_models": [m.as_dict() for m in self.deployed_models],
            "traffic_split": dict(self.traffic_split),
            "sampling_rate": self.sampling_rate,
            "updated_at": self.updated_at,
        }


def load_state(path: Path, name: str) -> EndpointState:
    """The saved state of endpoint ``name``, or an empty one if there is no file yet."""
    check_name(name)
    if not path.is_file():
        return EndpointState(name=name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("state_version") != STATE_VERSION:
            raise EndpointStateError(
                f"{path}: state_version {data.get('state_version')!r} is not {STATE_VERSION}"
            )
        if data.get("name") != name:
            raise EndpointStateError(f"{path}: holds endpoint {data.get('name')!r}, not {name!r}")
        models = tuple(DeployedModel(**m) for m in data["deployed_models"])
        split = {str(k): int(v) for k, v in data["traffic_split"].items()}
        rate = float(data.get("sampling_rate", 1.0))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, EndpointStateError):
            raise
        raise EndpointStateError(f"{path}: endpoint state cannot be read ({exc})") from exc
    return EndpointState(
        name=name,
        deployed_models=models,
        traffic_split=split,
        sampling_rate=rate,
        updated_at=data.get("updated_at"),
    )


def save_state(path: Path, state: EndpointState) -> None:
    """Write ``state`` atomically (temporary file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(state.as_dict(), fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class IdSource:
    """53-bit, time-ordered, process-unique numeric ids (request ids and deployed-model ids)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._seq = 0

    def next(self) -> int:
        with self._lock:
            now = int(time.time() * 1000) - _EPOCH_MS
            if now <= self._last_ms:
                now = self._last_ms
                self._seq += 1
                if self._seq >= 1 << _SEQ_BITS:  # 4096 ids in one millisecond: borrow the next one
                    now += 1
                    self._seq = 0
            else:
                self._seq = 0
            self._last_ms = now
            return (now << _SEQ_BITS) | self._seq
