"""Traffic-split arithmetic: validation, canary, promote, rollback, removal and routing."""

from __future__ import annotations

import itertools
import random

import pytest

from llmops_factory import traffic
from llmops_factory.traffic import TrafficSplitError


@pytest.mark.parametrize(
    ("split", "ids", "message"),
    [
        ({"1": 60, "2": 30}, ["1", "2"], "must sum to 100, got 90"),
        ({"1": 60, "2": 50}, ["1", "2"], "must sum to 100, got 110"),
        ({"1": 100, "9": 0}, ["1", "2"], "unknown deployed model id '9'"),
        ({"1": 101, "2": -1}, ["1", "2"], "between 0 and 100"),
        ({"1": 50.0, "2": 50}, ["1", "2"], "must be an integer percent"),
        ({"1": True, "2": 99}, ["1", "2"], "must be an integer percent"),
        ({"1": "50", "2": 50}, ["1", "2"], "must be an integer percent"),
        ({1: 100}, ["1"], "must be a deployed model id string"),
        ({"1": 100}, [], "the endpoint has no deployed model"),
        ({}, ["1"], "must sum to 100, got 0"),
        ([("1", 100)], ["1"], "must be a mapping"),
        ({"0": 100}, ["1"], "unknown deployed model id '0'"),
    ],
)
def test_invalid_splits_are_refused_naming_the_problem(split, ids, message):
    with pytest.raises(TrafficSplitError, match=message.replace("(", r"\(")):
        traffic.validate_split(split, ids)


def test_valid_splits_pass_and_missing_ids_mean_no_traffic():
    assert traffic.validate_split({"1": 100}, ["1", "2"]) == {"1": 100}
    assert traffic.validate_split({}, []) == {}
    assert traffic.validate_split({"0": 10, "1": 90}, ["1"], allow_new=True) == {"0": 10, "1": 90}


def test_first_deployment_takes_all_traffic_whatever_the_percent():
    assert traffic.canary_split({}, 10) == {"0": 100}
    assert traffic.canary_split({}, 0) == {"0": 100}


@pytest.mark.parametrize(
    ("current", "percent", "expected"),
    [
        ({"1": 100}, 10, {"1": 90, "0": 10}),
        ({"1": 50, "2": 50}, 10, {"1": 45, "2": 45, "0": 10}),
        ({"1": 50, "2": 50}, 5, {"1": 48, "2": 47, "0": 5}),  # 47.5 each: the tie goes to the first id
        ({"1": 90, "2": 10}, 33, {"1": 60, "2": 7, "0": 33}),
        ({"1": 100, "2": 0}, 20, {"1": 80, "2": 0, "0": 20}),
        ({"a": 34, "b": 33, "c": 33}, 1, {"a": 33, "b": 33, "c": 33, "0": 1}),  # largest remainders
    ],
)
def test_canary_scales_existing_shares_and_sums_to_100(current, percent, expected):
    split = traffic.canary_split(current, percent)
    assert split == expected
    assert sum(split.values()) == 100


@pytest.mark.parametrize("percent", [0, 100, -5, 150, 12.5, True, "10"])
def test_canary_percent_must_be_1_to_99_beside_existing_models(percent):
    with pytest.raises(TrafficSplitError, match="canary percent"):
        traffic.canary_split({"1": 100}, percent)


def test_canary_refuses_a_bad_current_split_or_a_taken_id():
    with pytest.raises(TrafficSplitError, match="sum to 100"):
        traffic.canary_split({"1": 90}, 10)
    with pytest.raises(TrafficSplitError, match="already in the traffic split"):
        traffic.canary_split({"0": 100}, 10)


def test_every_canary_over_many_splits_sums_to_100_and_keeps_order():
    rng = random.Random(3)
    for _ in range(500):
        n = rng.randint(1, 5)
        cuts = sorted(rng.randint(0, 100) for _ in range(n - 1))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
        current = {str(i + 1): s for i, s in enumerate(shares)}
        percent = rng.randint(1, 99)
        split = traffic.canary_split(current, percent)
        assert sum(split.values()) == 100 and split["0"] == percent
        for a, b in itertools.combinations(current, 2):  # a bigger share never becomes a smaller one
            if current[a] > current[b]:
                assert split[a] >= split[b]


def test_promote_moves_all_traffic_and_keeps_the_others_deployed_at_zero():
    assert traffic.promote_split({"1": 90, "2": 10}, "2") == {"1": 0, "2": 100}
    with pytest.raises(TrafficSplitError, match="cannot promote unknown deployed model id '3'"):
        traffic.promote_split({"1": 90, "2": 10}, "3")


def test_rollback_returns_all_traffic_to_the_champion_and_drops_the_challenger():
    assert traffic.rollback_split({"1": 90, "2": 10}, challenger_id="2", champion_id="1") == {"1": 100}
    assert traffic.rollback_split({"1": 80, "2": 10, "3": 10}, "2", "1") == {"1": 100, "3": 0}
    with pytest.raises(TrafficSplitError, match="challenger deployed model id '7'"):
        traffic.rollback_split({"1": 90, "2": 10}, "7", "1")
    with pytest.raises(TrafficSplitError, match="champion deployed model id '7'"):
        traffic.rollback_split({"1": 90, "2": 10}, "2", "7")
    with pytest.raises(TrafficSplitError, match="the same deployed model"):
        traffic.rollback_split({"1": 100}, "1", "1")


def test_split_without_spreads_the_removed_share():
    assert traffic.split_without({"1": 90, "2": 10}, "2") == {"1": 100}
    assert traffic.split_without({"1": 50, "2": 30, "3": 20}, "1") == {"2": 60, "3": 40}
    assert traffic.split_without({"1": 100, "2": 0, "3": 0}, "1") == {"2": 50, "3": 50}
    assert traffic.split_without({"1": 100}, "1") == {}
    with pytest.raises(TrafficSplitError, match="unknown deployed model id '5'"):
        traffic.split_without({"1": 100}, "5")


def test_replace_new_id():
    assert traffic.replace_new_id({"0": 10, "1": 90}, "42") == {"42": 10, "1": 90}


def test_pick_follows_the_split():
    split = {"1": 90, "2": 10, "3": 0}
    assert traffic.pick(split, 0.0) == "1"
    assert traffic.pick(split, 0.8999) == "1"
    assert traffic.pick(split, 0.9) == "2"
    assert traffic.pick(split, 0.99999) == "2"
    rng = random.Random(11)
    counts = {"1": 0, "2": 0, "3": 0}
    for _ in range(20_000):
        counts[traffic.pick(split, rng.random())] += 1
    assert counts["3"] == 0
    assert abs(counts["2"] / 20_000 - 0.10) < 0.01
    with pytest.raises(TrafficSplitError, match="no deployed model receives traffic"):
        traffic.pick({"1": 0}, 0.5)
    with pytest.raises(TrafficSplitError, match=r"u must be in \[0, 1\)"):
        traffic.pick(split, 1.0)


def test_scale_to_is_exact_and_even_for_zero_weights():
    assert traffic.scale_to({"a": 0.0, "b": 0.0, "c": 0.0}, 100) == {"a": 34, "b": 33, "c": 33}
    assert traffic.scale_to({}, 0) == {}
    with pytest.raises(TrafficSplitError):
        traffic.scale_to({}, 10)
