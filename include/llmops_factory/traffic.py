"""Traffic-split arithmetic of an endpoint: pure functions, the same on both targets.

A traffic split maps deployed-model ids (strings, as Vertex AI names them) to whole percentages that
sum to exactly 100. Vertex AI refuses anything else, and so does the local endpoint, so every split the
DAGs send is built and checked here first:

* ``validate_split`` refuses unknown ids, non-integer or negative shares, and sums other than 100;
* ``canary_split`` gives a new model (Vertex's placeholder id ``"0"`` in a deploy request) its share
  and scales the existing shares down proportionally (largest-remainder rounding, so the sum stays 100);
* ``promote_split`` / ``rollback_split`` move all traffic to one model, keeping the others deployed at 0
  (a promote keeps the old champion as a fallback; a rollback drops the challenger from the split);
* ``split_without`` removes a model before it is undeployed and hands its share to the rest;
* ``pick`` routes one request (weighted choice with a caller-supplied random number).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping

#: The id Vertex AI's DeployModel request uses in ``traffic_split`` for the model being deployed.
NEW_MODEL_ID = "0"
TOTAL = 100


class TrafficSplitError(ValueError):
    """A traffic split is invalid; the message names the deployed-model id or the sum."""


def validate_split(
    split: Mapping[str, int], deployed_ids: Iterable[str], *, allow_new: bool = False
) -> dict[str, int]:
    """Check ``split`` against the endpoint's deployed-model ids and return it as a plain dict.

    Every key must be a deployed id (or ``NEW_MODEL_ID`` when ``allow_new``), every value an integer in
    0..100, and the values must sum to exactly 100. An endpoint with no deployed model takes only the
    empty split. Deployed ids missing from the split get 0 (no traffic).
    """
    if not isinstance(split, Mapping):
        raise TrafficSplitError(
            f"traffic_split must be a mapping of deployed model id to percent, got {split!r}"
        )
    known = {str(i) for i in deployed_ids}
    if allow_new:
        known.add(NEW_MODEL_ID)
    if not known:
        if split:
            raise TrafficSplitError(
                f"traffic_split names {sorted(split)} but the endpoint has no deployed model"
            )
        return {}
    out: dict[str, int] = {}
    for key, value in split.items():
        if not isinstance(key, str):
            raise TrafficSplitError(f"traffic_split key {key!r} must be a deployed model id string")
        if key not in known:
            raise TrafficSplitError(
                f"traffic_split names unknown deployed model id {key!r} (deployed: {', '.join(sorted(known)) or 'none'})"
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise TrafficSplitError(f"traffic_split[{key!r}] must be an integer percent, got {value!r}")
        if not 0 <= value <= TOTAL:
            raise TrafficSplitError(f"traffic_split[{key!r}] must be between 0 and 100, got {value}")
        out[key] = value
    total = sum(out.values())
    if total != TOTAL:
        raise TrafficSplitError(f"traffic_split must sum to 100, got {total} ({out})")
    return out


def scale_to(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Integers proportional to ``weights`` that sum to exactly ``total`` (largest-remainder method).

    Ties in the remainder go to the key that sorts first, so the result is deterministic. All-zero
    weights are spread evenly.
    """
    if total < 0:
        raise TrafficSplitError(f"cannot share a negative total {total}")
    keys = sorted(weights)
    if not keys:
        if total:
            raise TrafficSplitError(f"no deployed model to give {total}% of traffic to")
        return {}
    if any(w < 0 or math.isnan(w) for w in weights.values()):
        raise TrafficSplitError(f"negative or NaN weight in {dict(weights)}")
    mass = float(sum(weights.values()))
    shares = {k: (weights[k] / mass if mass else 1.0 / len(keys)) * total for k in keys}
    out = {k: int(math.floor(shares[k])) for k in keys}
    left = total - sum(out.values())
    order = sorted(keys, key=lambda k: (-(shares[k] - out[k]), k))
    for k in order[:left]:
        out[k] += 1
    return out


def canary_split(current: Mapping[str, int], percent: int, new_id: str = NEW_MODEL_ID) -> dict[str, int]:
    """The split after deploying ``new_id`` beside the models of ``current`` with ``percent`` of traffic.

    With no deployed model (an empty ``current``), the new model takes 100 whatever ``percent`` says: the
    first deployment of a use case serves everything. Otherwise ``percent`` must be 1..99 (a canary that
    takes 0 or all traffic is not a canary), and the existing shares shrink proportionally.
    """
    current = validate_split(current, current.keys())
    if new_id in current:
        raise TrafficSplitError(f"deployed model id {new_id!r} is already in the traffic split")
    if not current:
        return {new_id: TOTAL}
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 99:
        raise TrafficSplitError(f"canary percent must be an integer from 1 to 99, got {percent!r}")
    rest = scale_to({k: float(v) for k, v in current.items()}, TOTAL - percent)
    return {**rest, new_id: percent}


def promote_split(current: Mapping[str, int], winner_id: str) -> dict[str, int]:
    """All traffic to ``winner_id``; every other deployed model stays deployed with 0 (fallback)."""
    current = validate_split(current, current.keys())
    if winner_id not in current:
        raise TrafficSplitError(
            f"cannot promote unknown deployed model id {winner_id!r} (deployed: {', '.join(sorted(current)) or 'none'})"
        )
    return {k: (TOTAL if k == winner_id else 0) for k in current}


def rollback_split(current: Mapping[str, int], challenger_id: str, champion_id: str) -> dict[str, int]:
    """All traffic back to ``champion_id``; ``challenger_id`` leaves the split (it is undeployed next)."""
    current = validate_split(current, current.keys())
    for what, key in (("challenger", challenger_id), ("champion", champion_id)):
        if key not in current:
            raise TrafficSplitError(
                f"{what} deployed model id {key!r} is not in the traffic split ({', '.join(sorted(current))})"
            )
    if challenger_id == champion_id:
        raise TrafficSplitError(f"challenger and champion are the same deployed model {champion_id!r}")
    return {k: (TOTAL if k == champion_id else 0) for k in current if k != challenger_id}


def split_without(current: Mapping[str, int], removed_id: str) -> dict[str, int]:
    """The split with ``removed_id`` taken out and its share spread over the rest in proportion.

    Removing the last model gives the empty split. Models at 0 stay at 0 unless every remaining model
    is at 0, in which case they share the traffic evenly.
    """
    current = validate_split(current, current.keys())
    if removed_id not in current:
        raise TrafficSplitError(
            f"unknown deployed model id {removed_id!r} (deployed: {', '.join(sorted(current)) or 'none'})"
        )
    rest = {k: float(v) for k, v in current.items() if k != removed_id}
    return scale_to(rest, TOTAL) if rest else {}


def replace_new_id(split: Mapping[str, int], deployed_id: str) -> dict[str, int]:
    """A deploy request's split with the placeholder ``NEW_MODEL_ID`` replaced by the real id."""
    return {(deployed_id if k == NEW_MODEL_ID else k): v for k, v in split.items()}


def pick(split: Mapping[str, int], u: float) -> str:
    """The deployed model that serves a request, for a uniform random number ``u`` in [0, 1).

    Keys are taken in sorted order so that a given ``u`` always picks the same model for the same split.
    """
    if not 0.0 <= u < 1.0:
        raise TrafficSplitError(f"u must be in [0, 1), got {u}")
    keys = [k for k in sorted(split) if split[k] > 0]
    if not keys:
        raise TrafficSplitError("no deployed model receives traffic")
    bounds: list[int] = []
    acc = 0
    for k in keys:
        acc += split[k]
        bounds.append(acc)
    return keys[bisect.bisect_right(bounds, u * acc)]
