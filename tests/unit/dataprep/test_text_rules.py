"""The rules that keep text written by others intact: code-safe normalising, PII precision on code and
numbers, language on the natural-language part (CJK counted in characters), formats, near-duplicates."""

from __future__ import annotations

import bz2
import gzip
import json

import pytest

from llmops_beam.io import ReadPartitionFileFn
from llmops_beam.normalize import normalize_text
from llmops_beam.parse import RecordError, parse_raw
from llmops_beam.quality import LanguageIdentifier
from llmops_factory.datagen.defects import jaccard as ground_truth_jaccard
from llmops_factory.dataprep import DataValidationError, ReconciliationError
from llmops_factory.dataprep.pii import PiiRedactor
from llmops_factory.datasets import SnapshotError
from llmops_factory.errors import DeterministicError
from llmops_factory.text import neardup
from llmops_factory.text.blocks import code_blocks, split_blocks, strip_code

PYTHON_ANSWER = """Here is the function:

```python
def area(w,  h):
    # aligned   comment
    return w * h
```

Call it like this:

>>> area(2, 3)
6

> Note: a Markdown quote stays.

| a  | b |
|----|---|
| 1  | 2 |

--
That rule above is Markdown, not a signature."""


def test_code_sessions_tables_and_quotes_come_out_byte_identical():
    out = normalize_text(PYTHON_ANSWER)
    assert out == PYTHON_ANSWER
    assert code_blocks(out) == code_blocks(PYTHON_ANSWER)
    assert [b.kind for b in split_blocks(PYTHON_ANSWER) if b.protected] == [
        "fence",
        "session",
        "quote",
        "table",
    ]
    indented = "Use:\n\n    for i in range(3):\n        print(i)\n\n\n    print('done')\n"
    assert normalize_text(indented) == indented.rstrip()


def test_mail_boilerplate_still_goes():
    assert normalize_text("Please cancel my plan.\n-- \nAna Silva\nHead of Ops\n") == "Please cancel my plan."
    text = "Thanks.\n\nSent from my iPhone\n\nOn Mon, 3 Jun 2024 at 10:02, Ana <a@x.com> wrote:\n> old"
    assert normalize_text(text) == "Thanks."


@pytest.mark.parametrize(
    "text",
    [
        "std::cout << x << std::endl;",
        "Upgrade to version 1.2.3.4 first.",
        "2**31 = 2147483648",
        "The square root of 29 is 5.385164807134504.",
        "Hello World!",
        "Top dishes:\n- Paella\n- Sushi\n- Tacos",
        "Dear Hiring Manager,\nI am applying for the role.",
        "I am Vicuna, a language model trained by researchers.",
        "```\nserver = '10.0.0.12'\nphone = '415-555-0132'\n```",
    ],
)
def test_pii_precision_on_code_numbers_and_common_phrases(text):
    assert PiiRedactor().find(text) == []


def test_real_pii_is_still_found():
    found = PiiRedactor().find(
        "Hi Maria,\ncall me at +44 20 7946 0958 or mail ana@example.org\nThanks,\nJonas"
    )
    assert [k for k, _, _ in found] == ["person_name", "phone", "email", "person_name"]


def test_language_is_judged_on_prose_and_cjk_by_characters():
    lid = LanguageIdentifier()
    english_with_code = (
        "Write a SQL query that returns the ten newest orders.\n\nSELECT id, created_at FROM orders\n"
        "ORDER BY created_at DESC\nLIMIT 10;"
    )
    prose = lid.prose(english_with_code)
    assert "SELECT" not in prose
    assert lid.identify(prose)[0] == "en"
    chinese = "请帮我写一封感谢信，感谢老师"
    assert len(chinese.split()) == 1 and lid.long_enough(chinese)
    assert lid.identify(chinese)[0] == "zh"
    assert "def f" not in strip_code("Explain:\n```\ndef f(): pass\n```\nplease")


def _read(tmp_path, name: str, data: bytes) -> list[dict]:
    folder = tmp_path / "raw" / "s" / "dt=2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return list(ReadPartitionFileFn(str(tmp_path)).process(("s", f"raw/s/dt=2026-01-01/{name}")))


def test_bom_crlf_and_compressed_files_are_read_by_extension(tmp_path):
    line = json.dumps({"instruction": "Say hi.", "output": "Hi!"}).encode()
    data = b"\xef\xbb\xbf" + line + b"\r\n" + line + b"\r\n"
    for name, blob in (
        ("a.jsonl", data),
        ("b.jsonl.gz", gzip.compress(data)),
        ("c.jsonl.bz2", bz2.compress(data)),
    ):
        raws = _read(tmp_path, name, blob)
        assert [r["source_record"] for r in raws] == ["line:1", "line:2"], name
        assert all(parse_raw(r)["texts"][0] == ["instruction", "Say hi."] for r in raws), name


def test_empty_file_is_a_dead_letter_that_names_it(tmp_path):
    (raw,) = _read(tmp_path, "empty.jsonl", b"\xef\xbb\xbf\n")
    with pytest.raises(RecordError) as err:
        parse_raw(raw)
    assert err.value.reason == "empty_file"
    assert "raw/s/dt=2026-01-01/empty.jsonl" in err.value.detail


def test_dolly_seed_task_and_mapped_schemas(tmp_path):
    lines = [
        {
            "instruction": "Summarise.",
            "context": "A long text.",
            "response": "Short.",
            "category": "summarization",
        },
        {
            "instruction": "Add.",
            "instances": [{"input": "1+1", "output": "2"}, {"input": "2+2", "output": "4"}],
        },
        {"question": "What is 3*3?", "answer": "9"},
        {"instruction": "Add.", "instances": [{"input": "1+1", "output": ""}]},
    ]
    raws = _read(tmp_path, "mixed.jsonl", "\n".join(json.dumps(x) for x in lines).encode())
    mapping = {"s": {"instruction": "question", "output": "answer"}}
    assert parse_raw(raws[0])["texts"] == [
        ["instruction", "Summarise."],
        ["input", "A long text."],
        ["output", "Short."],
    ]
    assert [t[0] for t in parse_raw(raws[1])["texts"]] == [
        "instruction",
        "input",
        "output",
        "input",
        "output",
    ]
    assert parse_raw(raws[2], mapping)["texts"][-1] == ["output", "9"]
    with pytest.raises(RecordError, match="required field 'instruction' is missing"):
        parse_raw(raws[2])
    with pytest.raises(RecordError, match=r"instances\[0\]\.output is empty"):
        parse_raw(raws[3])


def test_one_near_duplicate_definition():
    a = "The quick brown fox jumps over the lazy dog near the river bank today"
    b = "The quick brown fox jumps over the lazy dog near the river bank tonight"
    assert neardup.similarity(a, b) == pytest.approx(ground_truth_jaccard(a, b))
    assert neardup.estimate(neardup.signature(a), neardup.signature(b)) == pytest.approx(
        neardup.similarity(a, b), abs=0.15
    )
    index = neardup.NearDupIndex(threshold=0.8, exact=True)
    long_text = " ".join(f"word{i}" for i in range(60))
    index.add("a", long_text)
    index.add("c", "completely different words about billing and invoices for the annual plan")
    assert [k for k, _ in index.query(long_text + " extra")] == ["a"]
    assert index.query("nothing alike at all here in this sentence of words") == []


def test_validation_errors_fail_without_retry():
    for cls in (DataValidationError, ReconciliationError, SnapshotError):
        assert issubclass(cls, DeterministicError)
