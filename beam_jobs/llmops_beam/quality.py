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
toxic               a text's offensive-language probability reaches ``toxicity_threshold``
=================== ==================================================================================

Language is judged on the natural-language part of each side only (request: user/instruction/input/
customer_message/subject/title/heading; response: assistant/output/agent_reply/body): code blocks,
inline code, sessions, tables and code-like lines (unfenced code, JSON, SQL, markup) are removed first
(``llmops_factory.text.blocks.strip_code``). A side is identified when it has at least
``LANGUAGE_MIN_WORDS`` words and ``LANGUAGE_MIN_LETTERS`` letters, or ``LANGUAGE_MIN_CJK_CHARS`` CJK
characters (Chinese, Japanese and Korean are written without spaces between words, so their length is
counted in characters); when both sides are shorter, the record's whole text is. A side in a language
outside ``languages`` with probability ≥ ``LANGUAGE_MIN_PROBABILITY`` filters the record; for
instructions and conversations the request side alone decides when it is long enough (an English
request answered in French is a translation task). Clear English
(≥ 20 % of its words are English function words that are not words of the other languages we see, and
no CJK) is accepted without running the detector; everything else goes to the detector
(``LanguageIdentifier``), which is deterministic.

Toxicity: ``llmops_factory.safety.ToxicityClassifier`` (a trained model, not a word list) on the natural
language of every text; the record is filtered when one text reaches the threshold (a setting).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from llmops_beam.records import FILTERED, filtered
from llmops_factory.text.blocks import strip_code

REQUEST_LABELS = frozenset(
    {"user", "system", "instruction", "input", "customer_message", "subject", "title", "heading"}
)
RESPONSE_LABELS = frozenset({"assistant", "output", "agent_reply", "body"})
REQUIRED_TEXTS = {
    "instruction": ("instruction", "output"),
    "section": ("body",),
    "ticket": ("customer_message", "agent_reply"),
}
# Kinds whose request side alone decides the language when it is long enough (documents and tickets are
# judged on every side: their body is the content).
REQUEST_DECIDES = frozenset({"instruction", "conversation"})
LANGUAGE_MIN_LETTERS = 20
LANGUAGE_MIN_WORDS = 8
LANGUAGE_MIN_CJK_CHARS = 6
LANGUAGE_MIN_PROBABILITY = 0.8
DEFAULT_TOXICITY_THRESHOLD = 0.8
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CREDIT_CARD|IBAN|IP_ADDRESS|PERSON)\]")
_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# English function words that are not (common) words of es/de/fr/it/pt/nl.
_ENGLISH = frozenset(
    """the and you your yours to of for with this that it its my have has had can could would should please
    thanks thank what how when why where which who not but been does did don't i'm i've i'll we our they
    their there from at if or by about just get got any all is are were be being us them these those
    than then into out up need help it's can't won't didn't doesn't isn't also only more some other""".split()
)


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


class LanguageIdentifier:
    """English fast path, then the detector; ``identify`` returns ``(language, probability)`` or None.

    The detector is ``py3langid`` (langid.py's model, 97 languages, numpy only, deterministic) with
    normalised probabilities; see docs/data-preparation.md for the comparison that chose it.
    """

    def __init__(self):
        from py3langid.langid import MODEL_FILE
        from py3langid.langid import LanguageIdentifier as _Langid

        self._langid = _Langid.from_model_file(MODEL_FILE, norm_probs=True)

    @staticmethod
    def prose(text: str) -> str:
        """The natural-language part that language is judged on (code and placeholders removed)."""
        return _PLACEHOLDER.sub(" ", strip_code(text))

    @staticmethod
    def long_enough(text: str) -> bool:
        """Whether a (prose) text is long enough for a reliable identification (short texts mislead)."""
        if len(_CJK.findall(text)) >= LANGUAGE_MIN_CJK_CHARS:
            return True
        words = _WORDS.findall(text)
        return len(words) >= LANGUAGE_MIN_WORDS and sum(len(w) for w in words) >= LANGUAGE_MIN_LETTERS

    @staticmethod
    def english_share(words: list[str]) -> float:
        return sum(1 for w in words if w in _ENGLISH) / len(words) if words else 0.0

    def identify(self, text: str) -> tuple[str, float] | None:
        """Language of a prose text (see ``prose``); None when it is too short to tell."""
        if not self.long_enough(text):
            return None
        cjk = len(_CJK.findall(text))
        words = [w.lower().replace("’", "'") for w in _WORDS.findall(text)]
        if not cjk and len(words) >= 6 and self.english_share(words) >= 0.2:
            return "en", 1.0
        lang, prob = self._langid.classify(text[:4000])
        return lang, round(float(prob), 4)


def check_quality(
    record: dict[str, Any],
    min_chars: int,
    max_chars: int,
    languages: frozenset[str],
    lid: LanguageIdentifier,
    toxicity: Any,
) -> tuple[str, str] | tuple[None, str | None]:
    """``(reason, detail)`` when the record fails a filter, else ``(None, language)``.

    ``toxicity`` is a ``llmops_factory.safety.ToxicityClassifier`` (anything with ``scores`` and
    ``threshold``).
    """
    texts = record["texts"]
    for label in REQUIRED_TEXTS.get(record["kind"], ()):
        if not all(text.strip() for lb, text in texts if lb == label) or not any(
            lb == label for lb, _ in texts
        ):
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
    prose = [(label, lid.prose(text)) for label, text in texts]
    sides = [
        (side, "\n".join(text for label, text in prose if label in labels and label != "system"))
        for side, labels in (("request", REQUEST_LABELS), ("response", RESPONSE_LABELS))
    ]
    long_sides = [(side, text) for side, text in sides if lid.long_enough(text)]
    if record["kind"] in REQUEST_DECIDES and long_sides and long_sides[0][0] == "request":
        # instruction data: the request's language is the example's (an English request answered in
        # French is a translation task, valid English data); the response counts when the request is short
        long_sides = long_sides[:1]
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
    scores = toxicity.scores([text for _, text in prose]) if toxicity is not None else []
    for i, score in enumerate(scores):
        if score >= toxicity.threshold:
            label = texts[i][0]
            where = f"{label} (text {i})" if record["kind"] == "conversation" else label
            return (
                "toxic",
                f"{where} has offensive-language probability {score:.3f} >= toxicity_threshold {toxicity.threshold}",
            )
    return None, language


class QualityFilterFn(beam.DoFn):
    """Apply the filters; passing records get ``language``; failing ones go to ``filtered``."""

    def __init__(
        self,
        min_chars: int,
        max_chars: int,
        languages: Iterable[str],
        toxicity_threshold: float = DEFAULT_TOXICITY_THRESHOLD,
    ):
        self.min_chars, self.max_chars = min_chars, max_chars
        self.languages = frozenset(languages)
        self.toxicity_threshold = toxicity_threshold
        self.passed = Metrics.counter("quality", "passed")

    def setup(self):
        from llmops_factory.safety import ToxicityClassifier

        self.lid = LanguageIdentifier()
        self.toxicity = ToxicityClassifier(self.toxicity_threshold)

    def process(self, record: dict[str, Any]):
        reason, detail = check_quality(
            record, self.min_chars, self.max_chars, self.languages, self.lid, self.toxicity
        )
        if reason:
            Metrics.counter("quality", reason).inc()
            yield beam.pvalue.TaggedOutput(FILTERED, filtered(record, "quality", reason, detail))
            return
        self.passed.inc()
        yield dict(record, language=detail)


class QualityFilter(beam.PTransform):
    """Records → ``records`` (passing, with ``language``) and ``filtered`` marks."""

    def __init__(
        self,
        min_chars: int,
        max_chars: int,
        languages: Iterable[str],
        toxicity_threshold: float = DEFAULT_TOXICITY_THRESHOLD,
    ):
        super().__init__()
        self.min_chars, self.max_chars, self.languages = min_chars, max_chars, tuple(languages)
        self.toxicity_threshold = toxicity_threshold

    def expand(self, records):
        return records | "LengthLanguageToxicity" >> beam.ParDo(
            QualityFilterFn(self.min_chars, self.max_chars, self.languages, self.toxicity_threshold)
        ).with_outputs(FILTERED, main="records")
