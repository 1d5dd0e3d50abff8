"""Promote and roll back on the endpoint, through the platform's endpoint and registry services.

* promote  = 100% to the challenger (``traffic.promote_split``), ``champion`` alias to its version, the
  old champion kept deployed at 0% as a fallback (undeployed after ``monitoring.fallback_hours`` by
  :func:`retire_fallbacks`);
* rollback = 100% back to the champion and the challenger undeployed (``traffic.rollback_split``), the
  ``challenger`` alias back on the champion's version (no challenger), the version marked rolled back in
  ``deployment_events``.

Each move is verified by reading the endpoint back, then written to ``deployment_events`` (one row per
DAG run and action, so a re-run replaces it). A re-run finds the endpoint already moved and does not act
twice. No Airflow import: ``platform`` is the target's adapter, ``context`` the task context.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any

from llmops_factory import traffic
from llmops_factory.deployment import Release, deployment_event
from llmops_factory.errors import DeterministicError


class ActionVerifyError(DeterministicError, RuntimeError):
    """The endpoint read back after a move is not what the move asked for."""


def _release(platform, role: Mapping[str, Any], reason: str) -> Release:
    prompt = role.get("prompt") or ""
    return Release(
        model_name=platform.settings.use_case,
        model_version=role["model_version"],
        registry_version=None,
        model_uri="",
        prompt_ref=prompt,
        prompt_version=prompt.rpartition("@")[2],
        prompt_hash="",
        canary_percent=0,
        reason=reason,
    )


def _event(
    platform,
    context,
    action: str,
    role: Mapping[str, Any],
    split: Mapping[str, int],
    reason: str,
    alias: str | None,
    previous: str | None,
) -> dict[str, Any]:
    row = deployment_event(
        action=action,
        release=_release(platform, role, reason),
        traffic_split=split,
        reason=reason,
        dag_id=context["dag"].dag_id,
        run_id=context["run_id"],
        event_time=context["data_interval_end"],
        target=platform.target,
        alias=alias,
        previous_version=previous,
    )
    platform.warehouse().upsert("deployment_events", [row])
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def _verify(endpoint, expected: Mapping[str, int]) -> dict[str, int]:
    seen = {k: int(v) for k, v in endpoint.describe()["traffic_split"].items()}
    if {k: v for k, v in seen.items() if v} != {k: v for k, v in expected.items() if v}:
        raise ActionVerifyError(f"endpoint split after the move is {seen}, expected {dict(expected)}")
    return seen


def act(platform, context, decision: Mapping[str, Any], roles_value: Mapping[str, Any]) -> dict[str, Any]:
    """Carry out ``decision`` (``action``, ``reasons``) on the endpoint; returns what was done."""
    action = decision.get("action")
    reason = "; ".join(decision.get("reasons") or []) or action
    roles = {r["role"]: r for r in roles_value.get("roles", [])}
    versions = roles_value.get("registry_versions") or {}
    champion, challenger = roles.get("champion"), roles.get("challenger")
    if action in ("none", None):
        return {"action": "none", "done": False, "reason": reason}
    endpoint = platform.endpoint()
    split = {k: int(v) for k, v in endpoint.describe()["traffic_split"].items()}
    if action == "hold":
        event = _event(
            platform,
            context,
            "hold",
            challenger,
            split,
            reason,
            "challenger",
            champion["model_version"] if champion else None,
        )
        return {"action": "hold", "done": False, "reason": reason, "event": event["event_id"]}
    if champion is None or challenger is None:
        return {"action": action, "done": False, "reason": "champion or challenger missing: no action"}
    cid, kid = challenger["deployed_model_id"], champion["deployed_model_id"]
    if action == "rollback":
        if cid not in split:  # a re-run: already rolled back
            done = False
            new_split = split
        else:
            new_split = traffic.rollback_split(split, cid, kid)
            endpoint.undeploy(cid, new_split)
            done = True
        seen = _verify(endpoint, new_split)
        if versions.get("champion"):
            platform.registry().set_alias("challenger", versions["champion"])
        event = _event(
            platform, context, "rollback", challenger, seen, reason, None, champion["model_version"]
        )
        return {
            "action": "rollback",
            "done": done,
            "traffic_split": seen,
            "event": event["event_id"],
            "rolled_back": challenger["model_version"],
        }
    if action == "promote":
        if split.get(cid) == traffic.TOTAL:
            done, new_split = False, split
        else:
            new_split = traffic.promote_split(split, cid)
            endpoint.set_traffic_split(new_split)
            done = True
        seen = _verify(endpoint, new_split)
        if versions.get("challenger"):
            platform.registry().set_alias("champion", versions["challenger"])
        event = _event(
            platform, context, "promote", challenger, seen, reason, "champion", champion["model_version"]
        )
        return {
            "action": "promote",
            "done": done,
            "traffic_split": seen,
            "event": event["event_id"],
            "promoted": challenger["model_version"],
            "fallback": champion["model_version"],
        }
    raise ValueError(f"unknown decision action {action!r}")


def retire_fallbacks(platform, context) -> dict[str, Any]:
    """Undeploy deployed models at 0% that are neither champion nor challenger once the promotion that
    made them a fallback is older than ``monitoring.fallback_hours`` (at the run's data interval end)."""
    hours = platform.settings.monitoring.fallback_hours
    now: _dt.datetime = context["data_interval_end"]
    view = platform.endpoint().describe()
    split = {k: int(v) for k, v in view["traffic_split"].items()}
    events = platform.warehouse().rows(
        "deployment_events", ["event_time", "action", "previous_version"], action="promote"
    )
    retired = []
    for m in view["deployed_models"]:
        if split.get(m["id"], 0) != 0:
            continue
        promoted = [e["event_time"] for e in events if e["previous_version"] == m["model_version"]]
        if not promoted:
            continue
        when = max(promoted)
        when = when if when.tzinfo else when.replace(tzinfo=_dt.UTC)
        if now - when >= _dt.timedelta(hours=hours):
            new_split = traffic.split_without(split, m["id"])
            platform.endpoint().undeploy(m["id"], new_split)
            split = new_split
            retired.append(m["id"])
            _event(
                platform,
                context,
                "undeploy",
                {"model_version": m["model_version"], "prompt": m["prompt"]},
                split,
                f"fallback kept {hours} h after promotion, now retired",
                None,
                None,
            )
    return {"retired": retired, "traffic_split": json.loads(json.dumps(split))}
