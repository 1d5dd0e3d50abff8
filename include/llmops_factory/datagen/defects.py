"""The bad records real data has, and the rates at which the generator injects them.

Every injection is a pure function of a seeded ``random.Random`` and the clean record it starts from;
the generator records each one in the ground truth (kind, source, file, record locator and the details
a detector is checked against: the PII value, the duplicated record, the Jaccard similarity...).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

KINDS = (
    "exact_duplicate",
    "near_duplicate",
    "pii",
    "empty",
    "oversized",
    "malformed_json",
    "wrong_type",
    "invalid_utf8",
    "other_language",
    "toxic",
)
OVERSIZED_MIN_CHARS = 20_000
NEAR_DUP_MIN_JACCARD = 0.8
SHINGLE_WORDS = 5
INVALID_UTF8_BYTES = (b"\xe9", b"\xff\xfe", b"\xc3\x28", b"\x80", b"\xed\xa0\x80")
MARKER = "\ue000"  # private-use character replaced by invalid bytes after serialisation
MARKER_BYTES = MARKER.encode("utf-8")


class RatesError(ValueError):
    """Injection rates are invalid; the message names the rate."""


@dataclass(frozen=True)
class DefectRates:
    """Per-record probability of each injected defect (each record gets at most one).

    Kinds that do not apply to a format (``malformed_json`` in a CSV export, ``toxic`` in an FAQ entry)
    are skipped for that source, so the realised rates per source can be lower.
    """

    exact_duplicate: float = 0.03
    near_duplicate: float = 0.03
    pii: float = 0.05
    empty: float = 0.01
    oversized: float = 0.01
    malformed_json: float = 0.01
    wrong_type: float = 0.01
    invalid_utf8: float = 0.01
    other_language: float = 0.01
    toxic: float = 0.01

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise RatesError(f"rate {item.name}={value!r} must be a number between 0 and 1")
        if self.total() > 1.0 + 1e-9:
            raise RatesError(f"injection rates add up to {self.total():.3f}; they must add up to at most 1")

    def total(self) -> float:
        return float(sum(getattr(self, item.name) for item in fields(self)))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def none(cls) -> DefectRates:
        """No injections at all: a clean corpus."""
        return cls(**{kind: 0.0 for kind in KINDS})

    @classmethod
    def from_mapping(cls, values: Mapping[str, float] | DefectRates | None) -> DefectRates:
        """Defaults overridden by ``values`` (unknown kinds are an error naming them)."""
        if values is None:
            return cls()
        if isinstance(values, DefectRates):
            return values
        unknown = sorted(set(values) - set(KINDS))
        if unknown:
            raise RatesError(f"unknown defect kind(s) {', '.join(unknown)}; expected {', '.join(KINDS)}")
        merged = asdict(cls())
        merged.update({key: float(value) for key, value in values.items()})
        return cls(**merged)

    def draw(self, u: float, eligible: tuple[str, ...]) -> str | None:
        """Map a uniform draw ``u`` in [0, 1) to a kind (or ``None``), using fixed bands per kind.

        The bands are laid out in ``KINDS`` order whatever the source, so a kind that does not apply
        to a source simply leaves its band clean.
        """
        edge = 0.0
        for kind in KINDS:
            edge += getattr(self, kind)
            if u < edge:
                return kind if kind in eligible else None
        return None


# -- text similarity (the ground-truth definition of "near duplicate") -------------------------------
_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    """Word ``size``-grams of the lower-cased text (the whole token list when it is shorter)."""
    tokens = _WORD.findall(text.lower())
    if len(tokens) < size:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the 5-word shingle sets of two texts."""
    sa, sb = shingles(a), shingles(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


# -- field paths like "messages[3].content" ----------------------------------------------------------
_PATH = re.compile(r"([A-Za-z_]+)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _PATH.findall(path)]


def get_path(obj: Any, path: str) -> Any:
    for step in _steps(path):
        obj = obj[step]
    return obj


def set_path(obj: Any, path: str, value: Any) -> None:
    steps = _steps(path)
    for step in steps[:-1]:
        obj = obj[step]
    obj[steps[-1]] = value


# -- near-duplicate edits -------------------------------------------------------------------------------
_FILLERS = ("really", "actually", "just", "please", "also", "now", "so", "still")
_SWAPS = {"please": "pls", "thanks": "thx", "you": "u", "your": "ur", "cancel": "cancell", "because": "cause"}


def _typo(word: str, rng) -> str:
    lower = word.lower()
    if lower in _SWAPS:
        return _SWAPS[lower]
    if len(word) > 3:
        i = rng.randrange(1, len(word) - 1)
        if rng.random() < 0.5:
            return word[:i] + word[i + 1 :]
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word + word[-1]


def _edit_words(text: str, count: int, rng) -> tuple[str, list[str]]:
    words = text.split(" ")
    done: list[str] = []
    for _ in range(count):
        op = rng.choice(("replace", "insert", "delete")) if len(words) > 6 else "insert"
        pos = rng.randrange(len(words))
        if op == "replace" and any(c.isalpha() for c in words[pos]):
            words[pos] = _typo(words[pos], rng)
        elif op == "delete":
            del words[pos]
        else:
            op = "insert"
            words.insert(pos, rng.choice(_FILLERS))
        done.append(op)
    return " ".join(words), done


def _surface(text: str, rng) -> tuple[str, str | None]:
    choice = rng.randrange(3)
    if choice == 0 and text and text[0].isupper():
        return text[0].lower() + text[1:], "casing"
    if choice == 1 and text.endswith((".", "?")):
        return text[:-1] + ("!" if rng.random() < 0.5 else ""), "punctuation"
    if choice == 2:
        return text.upper() if len(text) < 40 else text.replace(" ", "  ", 1), "casing" if len(
            text
        ) < 40 else "spacing"
    return text, None


def near_duplicate(
    rng, record: Any, text_fields: list[str], full_text, min_jaccard: float = NEAR_DUP_MIN_JACCARD
) -> tuple[Any, list[str], float]:
    """A copy of ``record`` with a few word edits (plus maybe casing/punctuation) in its text fields.

    Keeps the Jaccard similarity of 5-word shingles of the full text at or above ``min_jaccard`` when
    the text is long enough (it retries with fewer edits, then falls back to one word appended at the
    end). At least one word-level edit is always made, so the copy is never an exact duplicate.
    """
    original_text = full_text(record)
    candidates = [
        p for p in text_fields if isinstance(get_path(record, p), str) and get_path(record, p).strip()
    ]
    for attempt in range(4):
        copy_ = copy.deepcopy(record)
        edits: list[str] = []
        word_edits = rng.randint(1, 3) if attempt < 2 else 1
        for _ in range(word_edits):
            path = rng.choice(candidates)
            text, ops = _edit_words(get_path(copy_, path), 1, rng)
            set_path(copy_, path, text)
            edits.extend(ops)
        if rng.random() < 0.5:
            path = rng.choice(candidates)
            text, op = _surface(get_path(copy_, path), rng)
            if op:
                set_path(copy_, path, text)
                edits.append(op)
        score = jaccard(original_text, full_text(copy_))
        if score >= min_jaccard and full_text(copy_) != original_text:
            return copy_, edits, score
    copy_ = copy.deepcopy(record)
    path = max(candidates, key=lambda p: len(get_path(copy_, p)))
    set_path(copy_, path, get_path(copy_, path) + " " + rng.choice(_FILLERS))
    return copy_, ["append"], jaccard(original_text, full_text(copy_))


def insert_sentence(text: str, sentence: str, at_start: bool) -> str:
    """Put a sentence at the start or the end of a message."""
    if at_start:
        return f"{sentence} {text}" if text else sentence
    return f"{text} {sentence}" if text else sentence


def break_json(rng, line: str) -> tuple[str, str]:
    """A JSON line made invalid: truncated, or written with Python-style single quotes."""
    if rng.random() < 0.7 and len(line) > 2:
        cut = rng.randrange(max(1, len(line) // 3), len(line) - 1)
        return line[:cut], "truncated"
    return line.replace('"', "'"), "single_quotes"
