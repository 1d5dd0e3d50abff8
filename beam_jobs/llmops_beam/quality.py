"""Quality filters: structure, length, language and toxicity. A rejected record becomes a *filtered* mark.

Reason codes (stage ``quality``), checked in this order:

=================== ==================================================================================
reason              rule
=================== ==================================================================================
empty_after_clean   a required text is empty after normalisation/redaction (e.g. only boilerplate)
no_reply_pair       a conversation without a user message followed by an assistant reply
too_short           all texts together have fewer than ``min_chars`` characters
too_long            all texts together have more than ``max_chars`` characters
other_language      the request or the response side is in a language outside ``languages``
toxic               a text contains a word of the profanity list (better-profanity's list)
=================== ==================================================================================

Language: each side (request: user/instruction/input/customer_message/subject/title/heading;
response: assistant/output/agent_reply/body) of at least ``LANGUAGE_MIN_WORDS`` words is identified (when
both are shorter, the record's whole text); a side in a language outside ``languages`` with probability
≥ ``LANGUAGE_MIN_PROBABILITY`` filters the record.
Clear English (≥ 20 % of its words are English function words that are not words of the other
languages we see) is accepted without running the detector — an exact shortcut for the bulk of the
traffic that keeps the step fast; everything else goes to ``langdetect`` with a fixed seed
(``DetectorFactory.seed = 0``), so the result is deterministic.

Toxicity: better-profanity's word list (with its character substitutions such as ``@``→``a``,
``$``→``s``) matched on word tokens and word pairs in a set lookup. (The library's own
``contains_profanity`` takes ~80 ms per message, which is far too slow for a data pipeline; the list
is the valuable part.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from llmops_beam.records import FILTERED, filtered

REQUEST_LABELS = frozenset(
    {"user", "system", "instruction", "input", "customer_message", "subject", "title", "heading"}
)
RESPONSE_LABELS = frozenset({"assistant", "output", "agent_reply", "body"})
REQUIRED_TEXTS = {
    "instruction": ("instruction", "output"),
    "section": ("body",),
    "ticket": ("customer_message", "agent_reply"),
}
LANGUAGE_MIN_LETTERS = 20
LANGUAGE_MIN_WORDS = 8
LANGUAGE_MIN_PROBABILITY = 0.8
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CREDIT_CARD|IBAN|IP_ADDRESS|PERSON)\]")
_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# English function words that are not (common) words of es/de/fr/it/pt/nl.
_ENGLISH = frozenset(
    """the and you your yours to of for with this that it its my have has had can could would should please
    thanks thank what how when why where which who not but been does did don't i'm i've i'll we our they
    their there from at if or by about just get got any all is are were be being us them these those
    than then into out up need help it's can't won't didn't doesn't isn't also only more some other""".split()
)
_LEET = str.maketrans(
    {"@": "a", "4": "a", "1": "i", "!": "i", "0": "o", "3": "e", "$": "s", "5": "s", "7": "t"}
)
_TOKEN = re.compile(r"[a-z0-9@$!*]+(?:['’][a-z]+)?")


def reply_pairs(texts: list[list[str]]) -> list[int]:
    """Indices of assistant turns that answer a non-empty user message (the examples a conversation yields)."""
    indices = []
    last_user = None
    for i, (label, text) in enumerate(texts):
        if label == "user" and text.strip():
            last_user = i
        elif label == "assistant" and text.strip() and last_user is not None:
            indices.append(i)
            last_user = None
    return indices


class ProfanityMatcher:
    """Set lookup of better-profanity's word list on tokens and token pairs (leetspeak undone)."""

    def __init__(self, extra_words: Iterable[str] = ()):
        text = resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text("utf-8")
        words = {w.strip().lower() for w in text.splitlines() if w.strip()}
        words.update(w.lower() for w in extra_words)
        self.words = frozenset(w for w in words if " " not in w)
        self.phrases = frozenset(w for w in words if " " in w)

    def find(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text.lower())
        hits = []
        for i, token in enumerate(tokens):
            plain = token.translate(_LEET).replace("’", "'")
            if token in self.words or plain in self.words or plain.strip("*!") in self.words:
                hits.append(token)
            elif self.phrases and i + 1 < len(tokens):
                pair = f"{plain} {tokens[i + 1].translate(_LEET)}"
                if pair in self.phrases:
                    hits.append(pair)
        return hits


class LanguageIdentifier:
    """English fast path, then seeded langdetect; returns ``(language, probability)``."""

    def __init__(self):
        from langdetect import DetectorFactory
        from langdetect.detector_factory import init_factory

        DetectorFactory.seed = 0
        init_factory()

    @staticmethod
    def long_enough(text: str) -> bool:
        """Whether a text has enough words for a reliable identification (short texts mislead detectors)."""
        words = _WORDS.findall(_PLACEHOLDER.sub(" ", text))
        return len(words) >= LANGUAGE_MIN_WORDS and sum(len(w) for w in words) >= LANGUAGE_MIN_LETTERS

    @staticmethod
    def english_share(words: list[str]) -> float:
        return sum(1 for w in words if w in _ENGLISH) / len(words) if words else 0.0

    def identify(self, text: str) -> tuple[str, float] | None:
        text = _PLACEHOLDER.sub(" ", text)
        words = [w.lower().replace("’", "'") for w in _WORDS.findall(text)]
        if len(words) < LANGUAGE_MIN_WORDS or sum(len(w) for w in words) < LANGUAGE_MIN_LETTERS:
            return None
        if len(words) >= 6 and self.english_share(words) >= 0.2:
            return "en", 1.0
        from langdetect import DetectorFactory
        from langdetect.detector_factory import _factory
        from langdetect.lang_detect_exception import LangDetectException

        DetectorFactory.seed = 0
        detector = _factory.create()
        detector.append(text[:2000])
        try:
            best = detector.get_probabilities()[0]
        except (LangDetectException, IndexError):
            return None
        return best.lang, round(best.prob, 4)


def check_quality(
    record: dict[str, Any],
    min_chars: int,
    max_chars: int,
    languages: frozenset[str],
    lid: LanguageIdentifier,
    profanity: ProfanityMatcher,
) -> tuple[str, str] | tuple[None, str | None]:
    """``(reason, detail)`` when the record fails a filter, else ``(None, language)``."""
    texts = record["texts"]
    by_label = {label: text for label, text in texts}
    for label in REQUIRED_TEXTS.get(record["kind"], ()):
        if not by_label.get(label, "").strip():
            return "empty_after_clean", f"field {label} is empty after normalisation"
    if record["kind"] == "conversation" and not reply_pairs(texts):
        roles = "/".join(label for label, text in texts if text.strip()) or "none"
        return "no_reply_pair", f"no user message followed by an assistant reply (non-empty turns: {roles})"
    size = sum(len(text) for _, text in texts)
    if size < min_chars:
        return "too_short", f"{size} characters < min_chars={min_chars}"
    if size > max_chars:
        return "too_long", f"{size} characters > max_chars={max_chars}"
    language = None
    sides = [
        (side, "\n".join(text for label, text in texts if label in labels and label != "system"))
        for side, labels in (("request", REQUEST_LABELS), ("response", RESPONSE_LABELS))
    ]
    long_sides = [(side, text) for side, text in sides if lid.long_enough(text)]
    if not long_sides:  # both sides short (a title and a one-line answer): judge the record as a whole
        long_sides = [("record", "\n".join(text for _, text in sides))]
    for side, side_text in long_sides:
        found = lid.identify(side_text)
        if found is None:
            continue
        lang, prob = found
        if lang not in languages and prob >= LANGUAGE_MIN_PROBABILITY:
            return (
                "other_language",
                f"{side} text is {lang!r} (p={prob}), allowed: {', '.join(sorted(languages))}",
            )
        if lang in languages and (language is None or side == "response"):
            language = lang
    for i, (label, text) in enumerate(texts):
        hits = profanity.find(text)
        if hits:
            where = f"{label} (text {i})" if record["kind"] == "conversation" else label
            return "toxic", f"{where} contains profanity: {', '.join(sorted(set(hits))[:3])}"
    return None, language


class QualityFilterFn(beam.DoFn):
    """Apply the filters; passing records get ``language``; failing ones go to ``filtered``."""

    def __init__(self, min_chars: int, max_chars: int, languages: Iterable[str]):
        self.min_chars, self.max_chars = min_chars, max_chars
        self.languages = frozenset(languages)
        self.passed = Metrics.counter("quality", "passed")

    def setup(self):
        self.lid = LanguageIdentifier()
        self.profanity = ProfanityMatcher()

    def process(self, record: dict[str, Any]):
        reason, detail = check_quality(
            record, self.min_chars, self.max_chars, self.languages, self.lid, self.profanity
        )
        if reason:
            Metrics.counter("quality", reason).inc()
            yield beam.pvalue.TaggedOutput(FILTERED, filtered(record, "quality", reason, detail))
            return
        self.passed.inc()
        yield dict(record, language=detail)


class QualityFilter(beam.PTransform):
    """Records → ``records`` (passing, with ``language``) and ``filtered`` marks."""

    def __init__(self, min_chars: int, max_chars: int, languages: Iterable[str]):
        super().__init__()
        self.min_chars, self.max_chars, self.languages = min_chars, max_chars, tuple(languages)

    def expand(self, records):
        return records | "LengthLanguageToxicity" >> beam.ParDo(
            QualityFilterFn(self.min_chars, self.max_chars, self.languages)
        ).with_outputs(FILTERED, main="records")
