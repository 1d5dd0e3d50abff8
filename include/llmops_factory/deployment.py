"""Deployment hand-offs and rules: what ``llmops_deploy`` passes between its tasks, and the pure checks.

* :class:`Release` — what to deploy: a registered model version + a published prompt version (a deployed
  model is weights + prompt), the canary share and the serving machine;
* :class:`EndpointView` — the endpoint as read before the change (deployed models, traffic split);
* :class:`Deployment` — what the deploy step did (new deployed-model id, split before and after);
* :func:`check_smoke` — the smoke-test verdict over real answers (fails closed);
* :func:`deployment_event` — the ``deployment_events`` row of a move (stable id per run and action).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from llmops_factory import traffic
from llmops_factory.errors import DeterministicError
from llmops_factory.handoffs import Handoff


class SmokeTestError(DeterministicError, RuntimeError):
    """The new deployed model failed its smoke test; the message lists every failed check."""


@dataclasses.dataclass(frozen=True)
class Release(Handoff):
    kind: ClassVar[str] = "release"

    model_name: str
    model_version: str
    registry_version: str | None
    model_uri: str
    prompt_ref: str
    prompt_version: str
    prompt_hash: str
    canary_percent: int
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)
    reason: str = "manual"

    @property
    def display_name(self) -> str:
        return f"{self.model_version}+{self.prompt_ref}"


@dataclasses.dataclass(frozen=True)
class DeployedModelView(Handoff):
    kind: ClassVar[str] = "deployed model"

    id: str
    model_version: str
    prompt: str
    display_name: str = ""


@dataclasses.dataclass(frozen=True)
class EndpointView(Handoff):
    kind: ClassVar[str] = "endpoint view"

    endpoint: str
    deployed_models: list[dict[str, Any]]
    traffic_split: dict[str, int]

    def models(self) -> list[DeployedModelView]:
        return [DeployedModelView.from_dict(m, where="endpoint") for m in self.deployed_models]

    def find(self, model_version: str, prompt_ref: str) -> DeployedModelView | None:
        """The deployed model serving exactly these weights and prompt, if any (re-runs reuse it)."""
        return next(
            (m for m in self.models() if m.model_version == model_version and m.prompt == prompt_ref), None
        )


@dataclasses.dataclass(frozen=True)
class Deployment(Handoff):
    kind: ClassVar[str] = "deployment"

    endpoint: str
    deployed_model_id: str
    model_version: str
    prompt_ref: str
    previous_split: dict[str, int]
    traffic_split: dict[str, int]
    first_deployment: bool
    already_deployed: bool = False

    @property
    def previous_ids(self) -> list[str]:
        return sorted(self.previous_split)


def planned_split(view: EndpointView, percent: int) -> dict[str, int]:
    """The deploy request's split: ``"0"`` (the new model) at ``percent`` beside the current models;
    the first deployment takes 100."""
    return traffic.canary_split(view.traffic_split, percent)


def restore_split(deployment: Deployment, current_ids: Sequence[str]) -> dict[str, int]:
    """The split to restore after undeploying the new model: the previous one, limited to the models
    still deployed (a model undeployed meanwhile gives its share to the rest)."""
    previous = {k: v for k, v in deployment.previous_split.items() if k != deployment.deployed_model_id}
    alive = {k: v for k, v in previous.items() if k in set(current_ids)}
    if not alive:
        return {}
    if sum(alive.values()) == traffic.TOTAL:
        return alive
    return traffic.scale_to({k: float(v) for k, v in alive.items()}, traffic.TOTAL)


def check_smoke(
    answers: Sequence[Mapping[str, Any]],
    *,
    deployed_model_id: str,
    model_version: str,
    prompt_version: str,
    max_latency_ms: float,
    min_answers: int,
) -> list[str]:
    """Every problem with the new model's answers (empty = passed). Fails closed: too few answers fail.

    Each answer is ``{"status", "body", "seconds"}`` from one real request through the endpoint.
    """
    problems: list[str] = []
    mine = [
        a
        for a in answers
        if a.get("status") == 200
        and (a.get("body") or {}).get("deployedModelId", deployed_model_id) == deployed_model_id
    ]
    failed = [a for a in answers if a.get("status") != 200]
    if failed:
        first = failed[0]
        problems.append(
            f"{len(failed)} of {len(answers)} requests failed (first: HTTP {first.get('status')}: "
            f"{json.dumps(first.get('body'))[:300]})"
        )
    if len(mine) < min_answers:
        problems.append(
            f"only {len(mine)} answer(s) from deployed model {deployed_model_id}, need {min_answers}"
        )
    empty = 0
    for a in mine:
        predictions = (a.get("body") or {}).get("predictions") or []
        if not predictions:
            problems.append("an answer has no predictions")
            continue
        for p in predictions:
            if p.get("model_version") != model_version:
                problems.append(
                    f"answer from model_version {p.get('model_version')!r}, expected {model_version!r}"
                )
            if p.get("prompt_version") != prompt_version:
                problems.append(
                    f"answer with prompt_version {p.get('prompt_version')!r}, expected {prompt_version!r}"
                )
            if not isinstance(p.get("tokens_out"), int) or not isinstance(p.get("tokens_in"), int):
                problems.append("an answer lacks tokens_in / tokens_out")
            if not str(p.get("text", "")).strip():
                empty += 1
            latency = p.get("latency_ms")
            if not isinstance(latency, int | float) or latency > max_latency_ms:
                problems.append(f"latency {latency} ms is over the smoke-test limit of {max_latency_ms} ms")
    if mine and empty == sum(len((a.get("body") or {}).get("predictions") or []) for a in mine):
        problems.append("every answer text is empty")
    return sorted(set(problems), key=problems.index)


def event_id(dag_id: str, run_id: str, action: str) -> str:
    """A stable id per DAG run and action: a re-run of the same run replaces its own event row."""
    return hashlib.sha1(f"{dag_id}|{run_id}|{action}".encode()).hexdigest()[:32]


def deployment_event(
    *,
    action: str,
    release: Release,
    traffic_split: Mapping[str, int],
    reason: str,
    dag_id: str,
    run_id: str,
    event_time: _dt.datetime,
    target: str,
    alias: str | None = None,
    previous_version: str | None = None,
) -> dict[str, Any]:
    """The ``deployment_events`` row of one move (schema: ``warehouse/schemas/deployment_events.json``)."""
    return {
        "event_id": event_id(dag_id, run_id, action),
        "event_time": event_time,
        "action": action,
        "model_name": release.model_name,
        "model_version": release.model_version,
        "previous_version": previous_version,
        "alias": alias,
        "prompt_version": release.prompt_ref,
        "traffic_split": json.dumps(dict(traffic_split), sort_keys=True),
        "reason": reason,
        "dag_id": dag_id,
        "run_id": run_id,
        "target": target,
    }
