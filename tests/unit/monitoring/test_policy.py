"""The decision policy over a matrix of A/B situations."""

from __future__ import annotations

import math

import pytest

from llmops_factory.monitoring import abtest
from llmops_factory.monitoring.policy import Evidence, Limits, decide

LIMITS = Limits(
    min_samples=300,
    alpha=0.01,
    feedback_margin=0.05,
    unsafe_margin=0.01,
    max_unsafe_rate=0.02,
    max_error_rate=0.05,
    latency_p95_slo_ms=2000,
    cost_budget_per_1k_usd=5.0,
)


def evidence(
    n=2000,
    unsafe=(10, 10),
    errors=(5, 5),
    positive=(700, 700),
    rated=1000,
    lat=(100.0, 100.0),
    cost=(1.0, 1.0),
    champion_present=True,
    challenger_present=True,
    n_champion=None,
):
    import numpy as np

    rng = np.random.default_rng(0)
    nc = n_champion or n
    return Evidence(
        champion_present,
        challenger_present,
        nc,
        n,
        abtest.rate_test(
            "unsafe", (unsafe[0], nc), (unsafe[1], n), alpha=LIMITS.alpha, limit=LIMITS.max_unsafe_rate
        ),
        abtest.rate_test(
            "errors", (errors[0], nc), (errors[1], n), alpha=LIMITS.alpha, limit=LIMITS.max_error_rate
        ),
        abtest.rate_test(
            "feedback", (positive[0], rated), (positive[1], rated), alpha=LIMITS.alpha, higher_is_worse=False
        ),
        abtest.latency_test(rng.gamma(4, lat[0] / 4, 500), rng.gamma(4, lat[1] / 4, 500), alpha=LIMITS.alpha),
        cost[0],
        cost[1],
    )


@pytest.mark.parametrize(
    ("kwargs", "action", "phrase"),
    [
        ({"champion_present": False}, "none", "champion is not deployed"),
        ({"challenger_present": False}, "none", "no challenger"),
        ({"n": 100}, "hold", "challenger has 100 of the 300"),
        ({}, "promote", "non-inferior"),
        ({"unsafe": (10, 80)}, "rollback", "unsafe rate"),
        ({"errors": (5, 200)}, "rollback", "error rate"),
        ({"lat": (100.0, 3000.0)}, "rollback", "over the SLO"),
        ({"cost": (1.0, 9.0)}, "rollback", "over the budget"),
        ({"positive": (700, 550)}, "rollback", "feedback"),
        ({"positive": (700, 670)}, "hold", "feedback not yet non-inferior"),
        ({"rated": 0, "positive": (0, 0)}, "hold", "no user feedback"),
        ({"lat": (100.0, 300.0)}, "hold", "significantly slower"),
        ({"cost": (1.0, math.nan)}, "hold", "cost unknown"),
    ],
)
def test_decision_matrix(kwargs, action, phrase):
    decision = decide(evidence(**kwargs), LIMITS)
    assert decision.action == action, decision.reasons
    assert any(phrase in r for r in decision.reasons), decision.reasons


def test_every_rollback_reason_is_listed():
    decision = decide(evidence(unsafe=(10, 90), errors=(5, 300), cost=(1.0, 9.0)), LIMITS)
    assert decision.action == "rollback" and len(decision.reasons) >= 4


def test_rate_test_rejects_impossible_counts():
    with pytest.raises(ValueError, match="unsafe: challenger count 5 of 3"):
        abtest.rate_test("unsafe", (1, 10), (5, 3), alpha=0.01)
