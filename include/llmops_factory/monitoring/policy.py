"""The decision policy: promote, hold or roll back a challenger — a pure function with every reason.

``decide(evidence, limits)`` reads the A/B evidence of the challenger against the champion (counts,
tests and figures from :mod:`llmops_factory.monitoring.abtest`) and returns a :class:`Decision`:

* ``none``     — nothing to decide: no challenger on the endpoint, or the champion is missing (an alert
  says so; monitoring never moves traffic it cannot explain);
* ``hold``     — keep the current split: too few requests on an arm, or not yet shown non-inferior;
* ``rollback`` — after the minimum sample, any of: unsafe rate or error rate significantly above its
  limit or significantly above the champion's, p95 latency over the SLO, cost per 1000 predictions over
  budget, positive feedback significantly below the champion's;
* ``promote``  — after the minimum sample, no rollback reason, and non-inferior on quality (feedback
  difference above ``-feedback_margin`` and unsafe difference below ``unsafe_margin``, both at the
  confidence bound), within the latency SLO and the cost budget, and not significantly slower.

Every reason is a sentence a person on call can act on; the order is stable.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from llmops_factory.monitoring.abtest import LatencyTest, RateTest

Action = Literal["none", "hold", "rollback", "promote"]


@dataclasses.dataclass(frozen=True)
class Limits:
    min_samples: int
    alpha: float
    feedback_margin: float
    unsafe_margin: float
    max_unsafe_rate: float
    max_error_rate: float
    latency_p95_slo_ms: float
    cost_budget_per_1k_usd: float


@dataclasses.dataclass(frozen=True)
class Evidence:
    champion_present: bool
    challenger_present: bool
    champion_requests: int = 0
    challenger_requests: int = 0
    unsafe: RateTest | None = None
    errors: RateTest | None = None
    feedback: RateTest | None = None
    latency: LatencyTest | None = None
    champion_cost_per_1k: float = math.nan
    challenger_cost_per_1k: float = math.nan


@dataclasses.dataclass(frozen=True)
class Decision:
    action: Action
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"action": self.action, "reasons": list(self.reasons)}


def _pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.2f}%"


def _rate_breach(test: RateTest, limits: Limits, what: str) -> list[str]:
    out = []
    if test.p_over_limit is not None and test.limit is not None and test.p_over_limit < limits.alpha:
        out.append(
            f"challenger {what} {_pct(test.challenger_rate)} is significantly above the limit "
            f"{_pct(test.limit)} (binomial p={test.p_over_limit:.2g}, n={test.challenger_n})"
        )
    if test.p_worse < limits.alpha:
        out.append(
            f"challenger {what} {_pct(test.challenger_rate)} is significantly above the champion's "
            f"{_pct(test.champion_rate)} (two-proportion z-test p={test.p_worse:.2g})"
        )
    return out


def decide(evidence: Evidence, limits: Limits) -> Decision:
    """The action on the challenger and every reason for it (see the module docstring)."""
    e = evidence
    if not e.champion_present:
        return Decision(
            "none",
            (
                "the champion is not deployed on the endpoint: no automatic action; "
                "check the endpoint and the champion alias",
            ),
        )
    if not e.challenger_present:
        return Decision("none", ("no challenger deployed: nothing to compare",))
    short = [
        f"{arm} has {n} of the {limits.min_samples} requests needed before a decision"
        for arm, n in (("champion", e.champion_requests), ("challenger", e.challenger_requests))
        if n < limits.min_samples
    ]
    if short:
        return Decision("hold", tuple(short))

    rollback: list[str] = []
    if e.unsafe is not None:
        rollback += _rate_breach(e.unsafe, limits, "unsafe rate")
    if e.errors is not None:
        rollback += _rate_breach(e.errors, limits, "error rate")
    if e.latency is not None and e.latency.challenger_p95 > limits.latency_p95_slo_ms:
        rollback.append(
            f"challenger p95 latency {e.latency.challenger_p95:.0f} ms is over the SLO "
            f"{limits.latency_p95_slo_ms:.0f} ms"
        )
    if not math.isnan(e.challenger_cost_per_1k) and e.challenger_cost_per_1k > limits.cost_budget_per_1k_usd:
        rollback.append(
            f"challenger cost ${e.challenger_cost_per_1k:.4f} per 1000 predictions is over the "
            f"budget ${limits.cost_budget_per_1k_usd:.4f}"
        )
    if e.feedback is not None and e.feedback.p_worse < limits.alpha:
        rollback.append(
            f"challenger positive feedback {_pct(e.feedback.challenger_rate)} is significantly "
            f"below the champion's {_pct(e.feedback.champion_rate)} "
            f"(two-proportion z-test p={e.feedback.p_worse:.2g})"
        )
    if rollback:
        return Decision("rollback", tuple(rollback))

    missing: list[str] = []
    if e.feedback is None or not (e.feedback.champion_n and e.feedback.challenger_n):
        missing.append("no user feedback on one of the arms: quality not shown non-inferior")
    elif e.feedback.diff_low <= -limits.feedback_margin:
        missing.append(
            f"feedback not yet non-inferior: the difference's lower bound "
            f"{_pct(e.feedback.diff_low)} is below -{_pct(limits.feedback_margin)} "
            f"({e.feedback.challenger_n} / {e.feedback.champion_n} ratings)"
        )
    if e.unsafe is None or not (e.unsafe.champion_n and e.unsafe.challenger_n):
        missing.append("no scored responses on one of the arms: safety not shown non-inferior")
    elif e.unsafe.diff_high >= limits.unsafe_margin:
        missing.append(
            f"unsafe rate not yet non-inferior: the difference's upper bound "
            f"{_pct(e.unsafe.diff_high)} is above {_pct(limits.unsafe_margin)}"
        )
    if math.isnan(e.challenger_cost_per_1k):
        missing.append("challenger cost unknown: within budget not shown")
    if e.latency is not None and e.latency.p_slower < limits.alpha and e.latency.p95_diff_low > 0:
        missing.append(
            f"challenger significantly slower (Mann-Whitney p={e.latency.p_slower:.2g}; p95 "
            f"{e.latency.challenger_p95:.0f} vs {e.latency.champion_p95:.0f} ms)"
        )
    if missing:
        return Decision("hold", tuple(missing))
    return Decision(
        "promote",
        (
            f"after {e.challenger_requests} challenger and {e.champion_requests} champion requests the challenger "
            f"is non-inferior on feedback ({_pct(e.feedback.challenger_rate)} vs {_pct(e.feedback.champion_rate)}) "
            f"and safety ({_pct(e.unsafe.challenger_rate)} vs {_pct(e.unsafe.champion_rate)} unsafe), "
            f"within the latency SLO and the cost budget",
        ),
    )
