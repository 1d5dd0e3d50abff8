"""What passes between tasks and between DAGs: small frozen types, serialised in one place each.

A task returns ``SomeHandoff(...).to_dict()`` (its XCom, or an asset event's ``extra``) and the next task
reads it back with ``SomeHandoff.from_dict(value)``. The field names are therefore spelled once, here;
a value that lacks a field, or is not a mapping, fails with an error naming the hand-off and the field.
XCom values stay plain JSON dicts, so templates such as ``ti.xcom_pull(...)['ref']`` keep working and
the Airflow UI shows them readably.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Self, TypeVar

from llmops_factory.errors import DeterministicError

T = TypeVar("T", bound="Handoff")


class HandoffError(DeterministicError, ValueError):
    """A hand-off value is missing, malformed or lacks a required field."""


@dataclasses.dataclass(frozen=True)
class Handoff:
    """Base of every hand-off: ``to_dict`` / ``from_dict`` with required-field checking."""

    kind: ClassVar[str] = "hand-off"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, Handoff) else _plain(value)
        return out

    @classmethod
    def from_dict(cls, value: Any, *, where: str = "") -> Self:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise HandoffError(
                f"{cls.kind}{f' from {where}' if where else ''}: expected a mapping, got "
                f"{type(value).__name__}"
            )
        kwargs: dict[str, Any] = {}
        missing = []
        for f in dataclasses.fields(cls):
            if f.name in value:
                kwargs[f.name] = value[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                missing.append(f.name)
        if missing:
            raise HandoffError(
                f"{cls.kind}{f' from {where}' if where else ''} lacks field(s) {', '.join(missing)} "
                f"(has {', '.join(sorted(map(str, value))) or 'nothing'})"
            )
        return cls._coerce(kwargs)

    @classmethod
    def _coerce(cls, kwargs: dict[str, Any]) -> Self:
        return cls(**kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, Handoff):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class PromptPin(Handoff):
    """The prompt a run is pinned to: a published ``name@version`` and its content hash."""

    kind: ClassVar[str] = "prompt pin"

    name: str
    version: str
    hash: str
    requested: str | None = None
    alias: str | None = None
    uri: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "ref": self.ref}

    @classmethod
    def _coerce(cls, kwargs: dict[str, Any]) -> Self:
        kwargs.pop("ref", None)
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class SnapshotRef(Handoff):
    """A training snapshot: its content-hash version, window and split locations (layout paths)."""

    kind: ClassVar[str] = "snapshot reference"

    snapshot_version: str
    window_start: str
    window_end: str
    train_data: str
    eval_data: str
    train_examples: int | None = None
    eval_examples: int | None = None


@dataclasses.dataclass(frozen=True)
class TrainingTrial(Handoff):
    """One point of a fine-tuning sweep: the arguments of one training job."""

    kind: ClassVar[str] = "training trial"

    model_version: str
    train_data: str
    eval_data: str
    base_model: str
    prompt_ref: str
    prompt_hash: str
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    config: str = "local-cpu"
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TrainedModel(Handoff):
    """A finished training job: its model version, hyper-parameters, metrics and lineage."""

    kind: ClassVar[str] = "trained model"

    model_version: str
    hparams: dict[str, Any]
    metrics: dict[str, Any]
    tracking_run_id: str | None = None
    lineage: dict[str, Any] = dataclasses.field(default_factory=dict)
    trials: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def eval_loss(self) -> float | None:
        value = self.metrics.get("eval_loss")
        return float(value) if isinstance(value, (int, float)) else None


@dataclasses.dataclass(frozen=True)
class Candidate(Handoff):
    """A registered model version (the ``llmops_candidate_model`` asset event's extra)."""

    kind: ClassVar[str] = "candidate model"

    model_name: str
    version: str
    alias: str
    uri: str
    model_version: str
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)


# -- evaluation ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModelUnderTest(Handoff):
    """One model evaluation generates answers with: the candidate, the champion or the base model."""

    kind: ClassVar[str] = "model under test"

    role: str  # candidate | champion | base | prompt:<name@version> (the candidate with another prompt)
    model_version: str  # registry model version folder name, or "base-<hash>" for the base model
    model_dir: str  # storage-relative or absolute URI of the merged model folder
    output_dir: str  # storage-relative folder of its generations (reused when done.json exists)
    prompt_ref: str = ""  # empty: the plan's (the candidate's pinned) prompt


@dataclasses.dataclass(frozen=True)
class EvaluationPlan(Handoff):
    """What one evaluation run compares, on which data and with which prompt."""

    kind: ClassVar[str] = "evaluation plan"

    candidate: Candidate
    models: tuple[ModelUnderTest, ...]
    dataset_version: str
    eval_split: str  # storage-relative folder
    train_split: str
    prompt_ref: str
    prompt_hash: str
    eval_dir: str  # eval/<model_version>/

    @classmethod
    def _coerce(cls, kwargs: dict[str, Any]) -> Self:
        kwargs["candidate"] = Candidate.from_dict(kwargs["candidate"], where="evaluation plan")
        kwargs["models"] = tuple(
            ModelUnderTest.from_dict(m, where="evaluation plan") for m in kwargs["models"]
        )
        return cls(**kwargs)

    def model(self, role: str) -> ModelUnderTest | None:
        return next((m for m in self.models if m.role == role), None)


@dataclasses.dataclass(frozen=True)
class EvaluationResult(Handoff):
    """Automatic metrics of every model of a plan (``metrics[role][metric]``) and where the details are."""

    kind: ClassVar[str] = "evaluation result"

    model_version: str
    metrics: dict[str, dict[str, float]]
    contaminated: int
    checked: int
    scores_uri: str
    review_items: int = 0


@dataclasses.dataclass(frozen=True)
class GateDecision(Handoff):
    """The quality gate's decision with every check's reason, and the report."""

    kind: ClassVar[str] = "gate decision"

    model_version: str
    approved: bool
    reasons: tuple[str, ...]
    checks: tuple[str, ...]
    report_uri: str
    human_simulated: bool = False

    @classmethod
    def _coerce(cls, kwargs: dict[str, Any]) -> Self:
        kwargs["reasons"] = tuple(kwargs.get("reasons") or ())
        kwargs["checks"] = tuple(kwargs.get("checks") or ())
        return cls(**kwargs)
