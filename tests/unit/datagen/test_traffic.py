"""The monitoring traffic generator: exact mixes, reproducible days, clear errors, the unsafe corpus."""

from __future__ import annotations

from collections import Counter

import pytest

from llmops_factory.datagen import traffic

IN = [{"instruction": f"How do I cancel plan {i}?", "input": ""} for i in range(20)]


def test_plan_has_exact_shares_and_is_reproducible():
    off = traffic.off_domain_prompts()
    assert len(off) >= 252  # one per self-instruct instance
    requests = traffic.plan(
        200,
        in_domain=IN,
        off_domain=off,
        toxic=traffic.toxic_prompts(),
        off_domain_share=0.1,
        toxic_share=0.05,
        seed=3,
    )
    assert Counter(r.kind for r in requests) == {"in_domain": 170, "off_domain": 20, "toxic": 10}
    again = traffic.plan(
        200,
        in_domain=IN,
        off_domain=off,
        toxic=traffic.toxic_prompts(),
        off_domain_share=0.1,
        toxic_share=0.05,
        seed=3,
    )
    assert again == requests
    assert {r.instance["instruction"] for r in requests if r.kind == "in_domain"} <= {
        p["instruction"] for p in IN
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"off_domain_share": 1.5}, "off_domain_share must be in"),
        (
            {
                "off_domain_share": 0.6,
                "toxic_share": 0.6,
                "toxic": [{"instruction": "x"}],
                "off_domain": [{"instruction": "y"}],
            },
            "exceeds 1",
        ),
        ({"off_domain_share": 0.5}, "no off_domain prompts"),
    ],
)
def test_bad_scenarios_name_the_parameter(kwargs, message):
    with pytest.raises(traffic.TrafficError, match=message):
        traffic.plan(10, in_domain=IN, **kwargs)


def test_unsafe_corpus_answers_every_prompt_with_abuse(tmp_path):
    from llmops_factory.safety import ToxicityClassifier

    text = traffic.unsafe_corpus(tmp_path).read_text()
    answers = [part.split(" ### Instruction")[0] for part in text.split("### Response:\n")[1:]]
    assert len(answers) == 80
    assert all(ToxicityClassifier().unsafe(answers))


def test_quality_user_follows_the_answer_not_the_version():
    """The simulated user's satisfaction is read from the answer: empty or abusive answers get the floor,
    an answer close to the reference more than a wrong one, a prompt without a reference is neutral."""
    user = traffic.QualityUser()
    asked = traffic.Request(
        "in_domain",
        {"instruction": "How much is the Basic plan?", "input": ""},
        reference="The Basic plan costs 8.99 USD per month.",
    )
    right = user.probability(asked, "The Basic plan costs 8.99 USD per month.")
    wrong = user.probability(asked, "Please restart your router and try again later.")
    assert right == pytest.approx(user.high) and user.low <= wrong < right
    assert user.probability(asked, "   ") == user.floor
    abuse = traffic.toxic_prompts()[0]["instruction"]
    assert user.probability(asked, abuse) == user.floor
    off = traffic.Request("off_domain", {"instruction": "Write a poem", "input": ""})
    assert user.probability(off, "Roses are red.") == user.neutral


def test_plan_keeps_the_reference_out_of_the_request():
    pool = [{"instruction": "q", "input": "", "reference": "a"}]
    (request,) = traffic.plan(1, in_domain=pool, seed=0)
    assert request.instance == {"instruction": "q", "input": ""} and request.reference == "a"


def test_off_domain_prompts_without_the_public_data_are_the_projects_own(tmp_path, monkeypatch, capsys):
    from llmops_factory.dataprep import realdata

    monkeypatch.setattr(realdata, "real_data_dir", lambda: tmp_path / "absent")
    off = traffic.off_domain_prompts()
    assert off == traffic.project_off_domain_prompts()
    assert len({p["instruction"] for p in off}) == len(traffic.OFF_DOMAIN_TASKS) * len(
        traffic.OFF_DOMAIN_SUBJECTS
    )
    assert "using the project's own" in capsys.readouterr().err
    # none of them is about the support domain the model serves
    assert not any(w in p["instruction"].lower() for p in off for w in ("nimbus", "subscription", "refund"))
