"""Multiple-choice benchmark items in MMLU format (a question, options A-D, one correct letter).

Two sources, one item type:

* the **domain benchmark**, generated from the same facts table as the training corpus
  (``llmops_factory.datagen.facts.fact_items``): each fact with three distractors becomes one item per
  question paraphrase, the correct option placed at a position fixed by a hash of the item (no bias to A);
* any **MMLU-format CSV** (the real MMLU in production, ``evaluation.mmlu_csv``): rows
  ``question,A,B,C,D,answer`` without a header; a malformed row fails naming the file and line.

Scoring (in the trainer's ``batch-generate``) uses the *cloze* formulation of a multiple-choice item, the
one in which small models show a signal (the lettered formulation needs a model able to map letters to
options, which small models are not; cf. OLMES, Gu et al. 2024): the model is asked the question with the deployed prompt, starts
its answer with the item's ``answer_prefix`` (domain items: the words the facts table's reference answer
puts before the value, e.g. ``The Plus plan costs``; MMLU rows: nothing), and each option is scored by the
summed log-likelihood of its tokens as the continuation; the highest wins. :func:`cloze_continuation`
is that split. Accuracy and its Wilson 95% interval come from :func:`accuracy`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from llmops_factory.errors import DeterministicError
from llmops_factory.evaluation.metrics import proportion_ci

LETTERS = ("A", "B", "C", "D")


class BenchmarkError(DeterministicError, ValueError):
    """A benchmark file or item is malformed; the message names the file, line and field."""


@dataclass(frozen=True)
class BenchmarkItem:
    item_id: str
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # "A".."D"
    # how the assistant starts its answer before stating the value ("" for MMLU rows); see module doc
    answer_prefix: str = ""

    @property
    def answer_index(self) -> int:
        return LETTERS.index(self.answer)

    def to_dict(self) -> dict:
        return {**asdict(self), "choices": list(self.choices)}

    @classmethod
    def from_dict(cls, row: dict, where: str = "benchmark item") -> BenchmarkItem:
        try:
            choices = tuple(str(c) for c in row["choices"])
            item = cls(
                str(row["item_id"]),
                str(row["subject"]),
                str(row["question"]),
                choices,
                str(row["answer"]),
                str(row.get("answer_prefix") or ""),
            )
        except (KeyError, TypeError) as exc:
            raise BenchmarkError(f"{where}: missing or invalid field {exc}") from exc
        _validate(item, where)
        return item


def _validate(item: BenchmarkItem, where: str) -> None:
    if len(item.choices) != 4:
        raise BenchmarkError(f"{where}: needs exactly 4 options, got {len(item.choices)}")
    if not item.question.strip():
        raise BenchmarkError(f"{where}: empty question")
    for letter, choice in zip(LETTERS, item.choices, strict=True):
        if not choice.strip():
            raise BenchmarkError(f"{where}: option {letter} is empty")
    if item.answer not in LETTERS:
        raise BenchmarkError(f"{where}: answer {item.answer!r} is not one of A, B, C, D")


def answer_prefix(reference: str, short_answer: str) -> str:
    """The words of ``reference`` before it states ``short_answer`` (as a whole word); "" when the
    reference does not state it word for word (the option is then scored as the whole answer)."""
    found = re.search(rf"(?<!\w){re.escape(short_answer)}(?!\w)", reference)
    return reference[: found.start()] if found else ""


def domain_benchmark(facts=None) -> list[BenchmarkItem]:
    """One item per question paraphrase of every fact that has three distractors, in a stable order;
    each item's ``answer_prefix`` is the start of the fact's reference answer, up to the value."""
    from llmops_factory.datagen.facts import fact_items

    items = []
    for fact in fact_items(facts):
        if len(fact.distractors) < 3:
            continue
        prefix = answer_prefix(fact.answer, fact.short_answer)
        for q_index, question in enumerate(fact.questions):
            item_id = f"domain:{fact.key}:{q_index}"
            position = int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % 4
            options = list(fact.distractors[:3])
            options.insert(position, fact.short_answer)
            items.append(
                BenchmarkItem(item_id, fact.topic, question, tuple(options), LETTERS[position], prefix)
            )
    return items


def load_mmlu_csv(text: str, source: str, subject: str | None = None) -> list[BenchmarkItem]:
    """Items of an MMLU-format CSV (``question,A,B,C,D,answer``, no header); ``source`` names the file
    in errors (``file:line``)."""
    subject = subject or source.rsplit("/", 1)[-1].removesuffix(".csv").removesuffix("_test")
    items = []
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        line = reader.line_num
        where = f"{source}:{line}"
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 6:
            raise BenchmarkError(f"{where}: expected 6 columns (question,A,B,C,D,answer), got {len(row)}")
        question, a, b, c, d, answer = row
        item = BenchmarkItem(
            f"mmlu:{subject}:{line}", subject, question, (a, b, c, d), answer.strip().upper()
        )
        _validate(item, where)
        items.append(item)
    if not items:
        raise BenchmarkError(f"{source}: no benchmark rows")
    return items


def mmlu_prompt(item: BenchmarkItem) -> str:
    """The MMLU prompt of an item (question, lettered options, ``Answer:``)."""
    options = "\n".join(f"{letter}. {choice}" for letter, choice in zip(LETTERS, item.choices, strict=True))
    return f"{item.question}\n{options}\nAnswer:"


def cloze_continuation(prefix: str, option: str) -> tuple[str, str]:
    """``(answer start, scored continuation)`` of one option: the prefix without its trailing space,
    and the option with the space in front of it (how a byte-level BPE tokenises a word after a space);
    with no prefix the option itself opens the answer."""
    start = prefix.rstrip()
    if not start:
        return "", option.strip()
    return start, (" " if prefix[len(start) :] else "") + option.strip()


def write_jsonl(items: Iterable[BenchmarkItem]) -> str:
    return "".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in items)


def read_jsonl(text: str, source: str) -> list[BenchmarkItem]:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{source}:{n}: not valid JSON ({exc.msg})") from exc
            out.append(BenchmarkItem.from_dict(row, f"{source}:{n}"))
    return out


@dataclass(frozen=True)
class Accuracy:
    value: float
    correct: int
    n: int
    ci_low: float
    ci_high: float


def accuracy(items: Sequence[BenchmarkItem], predicted: dict[str, str]) -> Accuracy:
    """Accuracy of predicted letters by item id; an item without a prediction fails (never skipped)."""
    if not items:
        raise BenchmarkError("accuracy of an empty benchmark")
    missing = [i.item_id for i in items if i.item_id not in predicted]
    if missing:
        raise BenchmarkError(f"{len(missing)} benchmark item(s) have no prediction, e.g. {missing[:3]}")
    correct = sum(predicted[i.item_id] == i.answer for i in items)
    lo, hi = proportion_ci(correct, len(items))
    return Accuracy(correct / len(items), correct, len(items), lo, hi)
