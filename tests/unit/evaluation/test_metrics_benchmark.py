"""Text metrics, benchmark items (domain + MMLU CSV), contamination, checks and the review rules."""

from __future__ import annotations

import math

import pytest

from llmops_factory.evaluation import benchmark as bm
from llmops_factory.evaluation import checks
from llmops_factory.evaluation.contamination import find_contaminated
from llmops_factory.evaluation.metrics import (
    MetricsError,
    generation_metrics,
    paired_difference_ci,
    proportion_ci,
)
from llmops_factory.evaluation.review import (
    LabelError,
    human_metrics,
    sample_for_review,
    simulated_label,
    validate_label,
)


def test_generation_metrics_perfect_and_disjoint():
    same = generation_metrics(
        ["The Plus plan costs €12.99 per month."], ["The Plus plan costs €12.99 per month."]
    )
    assert same["rouge_l"] == pytest.approx(1.0) and same["exact_match"] == 1.0
    assert same["bleu"] == pytest.approx(1.0) and same["chrf"] == pytest.approx(1.0)
    other = generation_metrics(["zebra quantum"], ["The Plus plan costs €12.99 per month."])
    assert other["rouge_l"] == 0.0 and other["exact_match"] == 0.0 and other["bleu"] < 0.05


def test_exact_match_ignores_case_and_punctuation():
    assert generation_metrics(["yes, 14 DAYS"], ["Yes 14 days."])["exact_match"] == 1.0


def test_metrics_refuse_mismatched_or_empty_input():
    with pytest.raises(MetricsError, match="2 predictions but 1 references"):
        generation_metrics(["a", "b"], ["a"])
    with pytest.raises(MetricsError, match="nothing to score"):
        generation_metrics([], [])


def test_confidence_intervals():
    lo, hi = proportion_ci(50, 100)
    assert lo == pytest.approx(0.404, abs=1e-3) and hi == pytest.approx(0.596, abs=1e-3)
    assert all(math.isnan(v) for v in proportion_ci(0, 0))
    mean, lo, hi = paired_difference_ci([1, 1, 1, 0] * 25, [0, 1, 0, 0] * 25)
    assert mean == pytest.approx(0.5) and lo > 0.3 and hi < 0.7


def test_domain_benchmark_from_the_facts_table():
    items = bm.domain_benchmark()
    assert len(items) > 100
    assert len({i.item_id for i in items}) == len(items)
    positions = {i.answer for i in items}
    assert positions == set(bm.LETTERS), "the correct option is spread over A-D"
    plus = next(i for i in items if i.item_id == "domain:price.plus.monthly.EUR:0")
    assert plus.choices[plus.answer_index] == "€12.99"
    assert "A. " in bm.mmlu_prompt(plus) and bm.mmlu_prompt(plus).endswith("Answer:")
    again = bm.read_jsonl(bm.write_jsonl(items[:5]), "x.jsonl")
    assert again == items[:5]


def test_domain_items_start_the_answer_as_the_facts_table_states_it():
    items = {i.item_id: i for i in bm.domain_benchmark()}
    plus = items["domain:price.plus.monthly.EUR:0"]
    assert plus.answer_prefix == "The Plus plan costs "
    assert bm.cloze_continuation(plus.answer_prefix, "€12.99") == ("The Plus plan costs", " €12.99")
    streams = items["domain:plan.basic.streams:0"]
    assert streams.answer_prefix == "The Basic plan allows "
    # a value the reference does not state word for word: the option is the whole answer
    trial = items["domain:trial.days:0"]
    assert trial.answer_prefix == "" and bm.cloze_continuation("", " 14 days") == ("", "14 days")
    with_prefix = [i for i in items.values() if i.answer_prefix]
    assert len(with_prefix) > 0.75 * len(items)
    # the JSONL the batch job reads keeps the prefix; rows written before it existed still load
    assert bm.read_jsonl(bm.write_jsonl([plus]), "b.jsonl") == [plus]
    old = {k: v for k, v in plus.to_dict().items() if k != "answer_prefix"}
    assert bm.BenchmarkItem.from_dict(old).answer_prefix == ""


def test_answer_prefix_matches_the_value_as_a_whole_word():
    assert bm.answer_prefix("Refunds take 12 days, or 2 weeks.", "2") == "Refunds take 12 days, or "
    assert bm.answer_prefix("It costs €12.99 a month.", "€12.99") == "It costs "
    assert bm.answer_prefix("No value here.", "5") == ""
    assert bm.cloze_continuation("Answer (", "B") == ("Answer (", "B")


def test_mmlu_csv_loads_and_names_a_malformed_row_by_line():
    good = 'What is 2+2?,3,4,5,6,B\n"Capital of France?",Rome,Paris,Berlin,Madrid,b\n'
    items = bm.load_mmlu_csv(good, "data/math_test.csv")
    assert [i.answer for i in items] == ["B", "B"] and items[0].subject == "math"
    with pytest.raises(bm.BenchmarkError, match=r"data/x.csv:2: expected 6 columns"):
        bm.load_mmlu_csv(good.splitlines()[0] + "\nbroken,row\n", "data/x.csv")
    with pytest.raises(bm.BenchmarkError, match=r"data/x.csv:1: answer 'E' is not one of"):
        bm.load_mmlu_csv("Q?,a,b,c,d,E\n", "data/x.csv")
    with pytest.raises(bm.BenchmarkError, match=r"data/x.csv:1: option C is empty"):
        bm.load_mmlu_csv("Q?,a,b,,d,A\n", "data/x.csv")
    with pytest.raises(bm.BenchmarkError, match="no benchmark rows"):
        bm.load_mmlu_csv("\n", "data/x.csv")


def test_accuracy_never_skips_an_item():
    items = bm.load_mmlu_csv("Q1?,a,b,c,d,A\nQ2?,a,b,c,d,B\n", "t.csv")
    acc = bm.accuracy(items, {items[0].item_id: "A", items[1].item_id: "C"})
    assert acc.value == 0.5 and acc.n == 2 and acc.ci_low < 0.5 < acc.ci_high
    with pytest.raises(bm.BenchmarkError, match="no prediction"):
        bm.accuracy(items, {items[0].item_id: "A"})


def test_contamination_finds_near_duplicates_of_training_text():
    train = [("t1", "How do I cancel my Nimbus subscription before the next billing date please")]
    items = [
        ("e1", "how do I cancel my Nimbus subscription before the next billing date, please?"),
        ("e2", "What video quality does the Premium plan stream in on a television"),
    ]
    found = find_contaminated(train, items)
    assert found.checked == 2 and found.contaminated == {"e1": "t1"}


def test_hallucination_against_the_facts_table():
    ref = "The Plus plan costs €12.99 per month when billed monthly in EUR; prices include VAT."
    assert checks.hallucinated("Plus costs €12.99 a month.", ref) == []
    assert checks.hallucinated("Plus costs €9.49 a month.", ref) == ["€9.49 (no fact states it)"]
    assert checks.hallucinated("Plus costs €7.99 a month.", ref) == ["€7.99 (the facts say €12.99)"]
    assert checks.hallucinated("The free trial lasts 30 days.", "") == ["30 days (no fact states it)"]
    assert checks.hallucinated("The free trial lasts 14 days.", "") == []


def test_intents_and_probes():
    assert checks.intent_of("I want a refund for a duplicate charge") == "refund"
    assert checks.intent_of("How do I reset my password?") == "sign_in"
    probes = checks.probe_prompts([("q1", "How long is the trial?")])
    assert len(probes) == len(checks.PROBE_PERSONAS) and probes[0][2].endswith("How long is the trial?")
    gap = checks.bias_gap({"a": [0.5, 0.7], "b": [0.4, 0.4]})
    assert gap.gap == pytest.approx(0.2)
    assert math.isnan(checks.bias_gap({"a": [0.5]}).gap)


def test_pii_leaks_use_the_data_prep_recognisers():
    leaks = checks.pii_leaks(["Write to jane.doe@example.com", "No personal data here."])
    assert leaks[0] and leaks[1] == []


QUEUE = {"m1:a": {}, "m1:b": {}}


def test_label_validation_names_the_field():
    ok = validate_label(
        {"item_id": "m1:a", "rating": "4", "correctness": "correct", "safety": "safe"}, QUEUE, "ann"
    )
    assert ok.rating == 4 and ok.reviewer == "ann" and not ok.simulated
    cases = [
        (
            {"item_id": "m1:zz", "rating": 3, "correctness": "correct", "safety": "safe"},
            "not in the review queue",
        ),
        (
            {"item_id": "m1:a", "rating": 6, "correctness": "correct", "safety": "safe"},
            "'rating' must be an integer 1-5",
        ),
        ({"item_id": "m1:a", "rating": 2.5, "correctness": "correct", "safety": "safe"}, "'rating'"),
        ({"item_id": "m1:a", "rating": 0, "correctness": "correct", "safety": "safe"}, "'rating'"),
        (
            {"item_id": "m1:a", "rating": 3, "correctness": "meh", "safety": "safe"},
            "'correctness' must be one of",
        ),
        ({"item_id": "m1:a", "rating": 3, "correctness": "correct"}, "'safety' must be one of"),
        ({"rating": 3}, "'item_id' is missing"),
    ]
    for raw, message in cases:
        with pytest.raises(LabelError, match=message):
            validate_label(raw, QUEUE, "ann")
    with pytest.raises(LabelError, match="reserved"):
        validate_label(
            {"item_id": "m1:a", "rating": 3, "correctness": "correct", "safety": "safe"}, QUEUE, "simulated"
        )


def test_review_sample_is_stratified_and_stable():
    items = [
        {
            "item_id": f"i{n}",
            "rouge_l": n / 40,
            "unsafe": n == 17,
            "intent": ["refund", "trial", "pause"][n % 3],
        }
        for n in range(40)
    ]
    sample = sample_for_review(items, 9)
    assert len(sample) == 9 and sample == sample_for_review(list(reversed(items)), 9)
    reasons = {s["item_id"]: s["reason"] for s in sample}
    assert reasons["i17"] == "safety_flagged"
    assert {"i0", "i1", "i2"} <= {k for k, v in reasons.items() if v == "worst_score"}
    assert {s["intent"] for s in sample if s["reason"] == "stratified"} == {"refund", "trial", "pause"}


def test_simulated_reviewer_and_human_metrics():
    good = simulated_label({"item_id": "x", "rouge_l": 0.9})
    bad = simulated_label({"item_id": "y", "rouge_l": 0.1, "hallucinated": ["€1.00"], "unsafe": True})
    assert good.simulated and good.rating == 5 and good.correctness == "correct"
    assert bad.rating == 1 and bad.correctness == "incorrect" and bad.safety == "unsafe"
    m = human_metrics(
        [
            {"rating": 5, "correctness": "correct", "safety": "safe"},
            {"rating": 2, "correctness": "incorrect", "safety": "unsafe"},
        ]
    )
    assert m == {
        "human_rating": 3.5,
        "human_correct_rate": 0.5,
        "human_unsafe_rate": 0.5,
        "human_labels": 2.0,
    }
    assert "human_rating" not in human_metrics([]), "no ratings: the gate sees the metric as missing"


class _NoToxicity:
    """Stands in for the toxicity model in scoring tests that are not about safety."""

    def unsafe(self, texts):
        return [False] * len(texts)


def _gen(item_id, response, kind="eval", **extra):
    return {
        "item_id": item_id,
        "kind": kind,
        "question": "How long is the trial?",
        "response": response,
        "reference": "The free trial lasts 14 days.",
        "source": "faq",
        "intent": "trial",
        **extra,
    }


def test_scoring_fails_an_empty_candidate_but_scores_an_empty_reference_model():
    from llmops_factory.evaluation.scoring import ScoringError, score_model

    kwargs = dict(
        benchmark_rows=[], benchmark_items=[], loss={"eval_loss": 2.0}, excluded=set(), safety=_NoToxicity()
    )
    with pytest.raises(ScoringError, match="candidate model v1: every answer .* is empty"):
        score_model("candidate", "v1", [_gen("a", ""), _gen("b", " ")], **kwargs)
    base = score_model("base", "b1", [_gen("a", ""), _gen("b", "")], **kwargs)
    assert base.metrics["rouge_l"] == 0.0 and base.metrics["empty_answer_rate"] == 1.0
    with pytest.raises(ScoringError, match="excluded as contaminated"):
        score_model("candidate", "v1", [_gen("a", "14 days")], **{**kwargs, "excluded": {"a"}})
    good = score_model(
        "candidate",
        "v1",
        [
            _gen("a", "The free trial lasts 14 days.", relevance=0.8),
            _gen("a#probe:x", "14 days", kind="probe", group="x"),
            _gen("a#probe:y", "no idea", kind="probe", group="y"),
        ],
        **kwargs,
    )
    assert good.metrics["rouge_l"] == pytest.approx(1.0) and good.metrics["relevance"] == pytest.approx(0.8)
    assert good.metrics["bias_gap"] > 0 and good.metrics["perplexity"] == pytest.approx(math.exp(2.0))
    assert math.isnan(good.metrics["benchmark_accuracy"]), (
        "no benchmark: NaN, which the gate treats as missing"
    )
    assert good.slices["intent=trial"]["rouge_l"] == pytest.approx(1.0)
