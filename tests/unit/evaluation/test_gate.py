"""The quality gate: a matrix of pass / fail / missing cases; it fails closed."""

from __future__ import annotations

import math

import pytest

from llmops_factory.evaluation.gate import decide

MIN = {"rouge_l": 0.2, "benchmark_accuracy": 0.4, "human_rating": 3.0}
MAX = {"unsafe_rate": 0.02, "hallucination_rate": 0.3}
TOL = {"rouge_l": 0.02, "benchmark_accuracy": 0.02, "unsafe_rate": 0.01}
BEAT = ["rouge_l", "benchmark_accuracy"]

GOOD = {
    "rouge_l": 0.45,
    "benchmark_accuracy": 0.70,
    "human_rating": 4.1,
    "unsafe_rate": 0.0,
    "hallucination_rate": 0.05,
}
CHAMPION = {"rouge_l": 0.44, "benchmark_accuracy": 0.69, "unsafe_rate": 0.0}
BASE = {"rouge_l": 0.10, "benchmark_accuracy": 0.30}


def run(candidate=GOOD, champion=CHAMPION, base=BASE, **overrides):
    kwargs = dict(minimum=MIN, maximum=MAX, regression_tolerance=TOL, beat_base=BEAT)
    kwargs.update(overrides)
    return decide(candidate, champion=champion, base=base, **kwargs)


def test_good_candidate_passes_every_check():
    result = run()
    assert result.approved and result.reasons == []
    names = {c.name for c in result.checks}
    assert {
        "minimum:rouge_l",
        "maximum:unsafe_rate",
        "regression:rouge_l",
        "beat_base:benchmark_accuracy",
    } <= names


def test_first_model_without_champion_skips_regression_and_says_so():
    result = run(champion=None)
    assert result.approved
    assert any("no champion" in c.reason for c in result.checks)


@pytest.mark.parametrize(
    ("change", "check", "words"),
    [
        ({"rouge_l": 0.15}, "minimum:rouge_l", "< floor"),
        ({"human_rating": 2.5}, "minimum:human_rating", "< floor"),
        ({"unsafe_rate": 0.05}, "maximum:unsafe_rate", "> ceiling"),
        ({"hallucination_rate": 0.5}, "maximum:hallucination_rate", "> ceiling"),
        ({"rouge_l": 0.41}, "regression:rouge_l", "regressed by"),
        ({"unsafe_rate": 0.015}, "regression:unsafe_rate", "regressed by"),
    ],
)
def test_each_failing_metric_blocks_with_a_named_reason(change, check, words):
    result = run(candidate={**GOOD, **change})
    assert not result.approved
    failed = {c.name: c.reason for c in result.checks if not c.passed}
    assert check in failed
    assert words in failed[check] and check.split(":")[1] in failed[check]


def test_regression_within_tolerance_passes():
    assert run(candidate={**GOOD, "rouge_l": 0.425}).approved  # 0.015 below the champion, tolerance 0.02


def test_not_better_than_base_blocks():
    result = run(base={"rouge_l": 0.50, "benchmark_accuracy": 0.30})
    assert not result.approved and result.reasons == ["rouge_l candidate 0.4500 does not beat base 0.5000"]
    assert not run(base={"rouge_l": 0.45, "benchmark_accuracy": 0.30}).approved  # equal is not better


@pytest.mark.parametrize("bad", [None, math.nan, "n/a"])
@pytest.mark.parametrize("metric", ["rouge_l", "human_rating", "unsafe_rate"])
def test_missing_or_nan_candidate_metric_fails_closed(metric, bad):
    candidate = {**GOOD, metric: bad}
    assert not run(candidate=candidate).approved
    without = {k: v for k, v in GOOD.items() if k != metric}
    result = run(candidate=without)
    assert not result.approved
    assert any(metric in r and "fail closed" in r for r in result.reasons)


def test_missing_champion_or_base_metric_fails_closed():
    result = run(champion={"rouge_l": math.nan, "benchmark_accuracy": 0.69, "unsafe_rate": 0.0})
    assert (
        not result.approved and "rouge_l is missing or NaN for the champion (fail closed)" in result.reasons
    )
    result = run(base={"rouge_l": 0.1})
    assert (
        not result.approved
        and "benchmark_accuracy is missing or NaN for the base model (fail closed)" in result.reasons
    )
    assert not run(base=None).approved


def test_lower_is_better_metrics_beat_base_downwards():
    result = run(beat_base=["eval_loss"], candidate={**GOOD, "eval_loss": 3.9}, base={"eval_loss": 4.7})
    assert result.approved
    assert not run(
        beat_base=["eval_loss"], candidate={**GOOD, "eval_loss": 4.8}, base={"eval_loss": 4.7}
    ).approved


def test_a_gate_without_thresholds_blocks():
    result = decide(
        GOOD, champion=None, base=None, minimum={}, maximum={}, regression_tolerance={}, beat_base=[]
    )
    assert not result.approved and result.reasons == ["the gate has no thresholds (fail closed)"]


def test_summary_lists_every_check():
    text = run(candidate={**GOOD, "rouge_l": 0.1}).summary()
    assert text.startswith("REJECTED") and "FAIL rouge_l = 0.1000 < floor 0.2000" in text
