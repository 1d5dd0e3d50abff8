"""Floors of the data-preparation filters on labelled public data nobody here wrote (../shared/data/real/).

Per record element logic (parse → normalise → redact → quality), no Beam runner: the same functions
the pipeline's DoFns call. Figures and their history: benchmarks/bench_dataprep.py, docs/data-preparation.md.
"""

from __future__ import annotations

import json

import pytest

from llmops_beam.normalize import normalize_text
from llmops_beam.parse import parse_raw
from llmops_beam.quality import LanguageIdentifier, check_quality
from llmops_beam.records import sort_key
from llmops_factory.dataprep import realdata
from llmops_factory.dataprep.pii import PLACEHOLDERS, PiiRedactor
from llmops_factory.safety import DEFAULT_TOXICITY_THRESHOLD, ToxicityClassifier
from llmops_factory.text.blocks import code_blocks

pytestmark = pytest.mark.skipif(not realdata.available(), reason="../shared/data/real/ is not present")

# the kinds the redactor claims with precision and recall; person names are claimed only in greetings,
# introductions and sign-offs (precision asserted, recall reported: see docs/data-preparation.md)
FULL_CLAIM = ("email", "phone", "credit_card", "iban", "ip")


@pytest.fixture(scope="module")
def redactor() -> PiiRedactor:
    return PiiRedactor()


@pytest.fixture(scope="module")
def toxicity() -> ToxicityClassifier:
    return ToxicityClassifier(DEFAULT_TOXICITY_THRESHOLD)


def test_pii_precision_and_recall_per_claimed_kind(redactor):
    scores = realdata.score_pii(redactor.find, realdata.load_pii_sentences())
    for kind in FULL_CLAIM:
        assert scores[kind]["token_precision"] >= 0.9, (kind, scores[kind])
        assert scores[kind]["token_recall"] >= 0.9, (kind, scores[kind])
        assert scores[kind]["span_recall"] >= 0.9, (kind, scores[kind])
    assert scores["person_name"]["token_precision"] >= 0.9, scores["person_name"]


def test_toxicity_model_on_the_offensive_language_set(toxicity):
    rows = realdata.load_offensive()
    scores = toxicity.scores([text for text, _ in rows])
    from profanity_check import predict_prob  # the flattened model gives the package's own figures

    sample = [text for text, _ in rows[:500]]
    assert (
        max(abs(a - b) for a, b in zip(toxicity._predict_prob(sample), predict_prob(sample), strict=True))
        < 1e-9
    )
    figures = realdata.score_toxicity(scores, [c for _, c in rows], toxicity.threshold)
    # in-sample for this model (its authors trained on this set): a floor that catches a broken model
    assert figures["recall"] >= 0.85, figures
    assert figures["precision"] >= 0.95, figures
    assert figures["false_positive_rate_neither"] <= 0.05, figures


def _raw_line(record: dict, number: int) -> dict:
    uri = "raw/self_instruct/dt=2026-01-01/user_oriented.jsonl"
    return {
        "source": "self_instruct",
        "source_uri": uri,
        "source_record": f"line:{number}",
        "source_format": "instruction",
        "sort_key": sort_key(uri, f"line:{number}"),
        "payload": json.dumps(record),
        "meta": {},
    }


def _without_placeholders(original: str, redacted: str) -> bool:
    """Whether ``redacted`` is ``original`` with some spans replaced by PII placeholders (and nothing else)."""
    import re

    pattern = "".join(
        "(?:.+?)" if part in PLACEHOLDERS.values() else re.escape(part)
        for part in re.split("(" + "|".join(re.escape(p) for p in PLACEHOLDERS.values()) + ")", redacted)
    )
    return re.fullmatch(pattern, original, re.S) is not None


def test_real_instructions_are_kept_intact(redactor, toxicity):
    lid = LanguageIdentifier()
    records = realdata.instruction_records()
    dropped, altered, code_changed, redacted = [], [], [], []
    for number, source in enumerate(records, start=1):
        record = parse_raw(_raw_line(source, number))
        originals = [text for _, text in record["texts"]]
        texts = []
        for label, text in record["texts"]:
            out = redactor.redact(normalize_text(text))[0]
            texts.append([label, out])
        reason, detail = check_quality(
            dict(record, texts=texts), 20, 20_000, frozenset({"en"}), lid, toxicity
        )
        if reason:
            dropped.append((source["id"], reason, detail))
        for original, (_, out) in zip(originals, texts, strict=True):
            if code_blocks(original) != code_blocks(out):
                code_changed.append(source["id"])
            if out != original.strip():
                if _without_placeholders(original.strip(), out):
                    redacted.append(source["id"])
                else:
                    altered.append((source["id"], original[:80], out[:80]))
    assert len(records) == 252
    assert altered == []
    assert code_changed == []
    # at most the one record whose input quotes an insult ("such an....well idiot"): ≤ 1 % by the goal
    assert len(dropped) <= 1, dropped
    assert all(reason == "toxic" for _, reason, _ in dropped), dropped
    # real PII, replaced: "Hi Jen," (task 1), three e-mail addresses (191), "Call us at 650-636-4884" (235)
    assert sorted(set(redacted)) == [
        "user_oriented_task_1",
        "user_oriented_task_191",
        "user_oriented_task_235",
    ], redacted
