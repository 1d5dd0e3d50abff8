"""The composite transforms, each on in-memory elements with TestPipeline + assert_that (no I/O)."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from dataprep_fixtures import GOOD_1, GOOD_2, NEAR_2

from llmops_beam.dedup import ExactDedup, NearDedup, candidate_pairs
from llmops_beam.format import FormatExamples, PortablePrompt
from llmops_beam.io import detect_format, iter_csv, iter_markdown, iter_text
from llmops_beam.normalize import NormalizeText, normalize_text
from llmops_beam.parse import ParseRecords
from llmops_beam.pii import RedactPii
from llmops_beam.quality import QualityFilter
from llmops_beam.records import sort_key
from llmops_beam.split import AssignSplit, split_of
from llmops_factory.prompts import load_prompt, render


def pipeline() -> BeamTestPipeline:
    return BeamTestPipeline(
        options=PipelineOptions(["--direct_num_workers", "1", "--direct_running_mode", "in_memory"])
    )


def raw(payload, fmt="chat_openai", line=1, uri="raw/s/dt=2026-01-15/f.jsonl", **meta):
    loc = f"line:{line}"
    return {
        "source": "s",
        "source_uri": uri,
        "source_record": loc,
        "source_format": fmt,
        "sort_key": sort_key(uri, loc),
        "payload": payload,
        "meta": meta,
    }


def record(texts, kind="conversation", line=1, group="g", **extra):
    loc = f"line:{line}"
    uri = "raw/s/dt=2026-01-15/f.jsonl"
    return {
        "source": "s",
        "source_uri": uri,
        "source_record": loc,
        "sort_key": sort_key(uri, loc),
        "source_format": "chat_openai",
        "kind": kind,
        "group_key": group,
        "record_id": group,
        "texts": [list(t) for t in texts],
        **extra,
    }


def conversation(chat: dict, line: int) -> dict:
    return record([(m["role"], m["content"]) for m in chat["messages"]], line=line, group=chat["id"])


BAD_LINES = [
    ('{"id": "a", "messages": [{"role": "user", "content": "x"', "parse", "malformed_json", "invalid JSON"),
    (b'{"id": "a", "messages": [{"role": "user", "content": "\xff"}]}', "parse", "invalid_utf8", "byte 0xff"),
    ('"just a string"', "parse", "not_an_object", "got string"),
    ('{"id": "a", "messages": "text"}', "validate", "wrong_type", "field messages must be an array"),
    (
        '{"id": "a", "messages": [{"role": "user", "content": 5}]}',
        "validate",
        "wrong_type",
        "messages[0].content must be a string, got number",
    ),
    ('{"id": "a", "messages": [{"content": "hi"}]}', "validate", "missing_field", "messages[0].role"),
    (
        '{"id": "a", "messages": [{"role": "wizard", "content": "hi"}]}',
        "validate",
        "invalid_value",
        "'wizard'",
    ),
    ('{"id": "a", "messages": []}', "validate", "empty_record", "empty array"),
    ('{"id": "a", "messages": [{"role": "user", "content": "  "}]}', "validate", "empty_record", "is empty"),
    (
        '{"id": {"x": 1}, "messages": [{"role": "user", "content": "hi"}]}',
        "validate",
        "wrong_type",
        "field id",
    ),
    (
        '{"id": "a", "conversations": [{"from": "human"}]}',
        "validate",
        "missing_field",
        "conversations[0].value",
    ),
    ('{"id": "a", "instruction": "Q?", "input": 3, "output": "A."}', "validate", "wrong_type", "field input"),
    (
        '{"id": "a", "instruction": "Q?", "input": "", "output": ""}',
        "validate",
        "empty_field",
        "field output",
    ),
]


def test_parse_routes_every_bad_input_to_the_dead_letter_output_naming_the_field():
    with pipeline() as p:
        good = raw(
            '{"id": "ok", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", '
            '"content": "hello"}]}',
            line=99,
        )
        bad = [raw(payload, line=i) for i, (payload, *_) in enumerate(BAD_LINES, start=1)]
        bad.append(raw(b"", fmt="unsupported", line=50, error="unsupported file type .png"))
        out = p | beam.Create([good, *bad]) | ParseRecords()
        assert_that(
            out.records | beam.Map(lambda r: (r["group_key"], r["texts"])),
            equal_to([("ok", [["user", "hi"], ["assistant", "hello"]])]),
            label="GoodRecord",
        )
        expected = [
            (f"line:{i}", stage, reason) for i, (_, stage, reason, _) in enumerate(BAD_LINES, start=1)
        ]
        expected.append(("line:50", "parse", "unsupported_format"))
        assert_that(
            out.dead_letter | beam.Map(lambda d: (d["source_record"], d["stage"], d["reason"])),
            equal_to(expected),
            label="DeadLetters",
        )

        def details_name_the_field(letters):
            by_line = {d["source_record"]: d["detail"] for d in letters}
            for i, (*_, needle) in enumerate(BAD_LINES, start=1):
                assert needle in by_line[f"line:{i}"], (needle, by_line[f"line:{i}"])
            assert all(d["source_uri"] == "raw/s/dt=2026-01-15/f.jsonl" for d in letters)

        assert_that(out.dead_letter, details_name_the_field, label="Details")


def test_normalize_and_redact_clean_every_text():
    messy = "Cafe\u0301  problem\u200b \r\n\r\n\r\n\r\nmail me: ana@example.org\n\nSent from my iPhone"
    with pipeline() as p:
        out = (
            p
            | beam.Create([record([("user", messy), ("assistant", "Card 4111-1111-1111-1111 noted.")])])
            | NormalizeText()
            | RedactPii()
        )
        assert_that(
            out.records | beam.Map(lambda r: (r["texts"], r["pii"])),
            equal_to(
                [
                    (
                        [
                            # NFC, zero-width gone, CRLF -> LF, 3 blank lines -> 2, signature line gone;
                            # spaces inside a line are content and stay
                            ["user", "Café  problem \n\n\nmail me: [EMAIL]"],
                            ["assistant", "Card [CREDIT_CARD] noted."],
                        ],
                        [1, 1],
                    )
                ]
            ),
            label="Texts",
        )
        assert_that(out.stats, equal_to([("pii.email", 1), ("pii.credit_card", 1)]), label="Stats")


def test_normalize_removes_signatures_disclaimers_and_quotes():
    text = "Please cancel my plan.\n-- \nAna Silva\nHead of Ops\n"
    assert normalize_text(text) == "Please cancel my plan."
    text = (
        "Thanks for the help.\n\nCONFIDENTIALITY NOTICE: this e-mail is confidential\nand for the addressee.\n\n"
        "On Mon, 3 Jun 2024 at 10:02, Support <help@x.com> wrote:\n> old text"
    )
    assert normalize_text(text) == "Thanks for the help."


def test_quality_filter_reasons():
    records = [
        record(
            [
                ("user", "How do I update the card on my account for the next payment?"),
                ("assistant", "Go to Account > Billing > Payment method and add the new card there."),
            ],
            line=1,
        ),
        record([("user", "hi"), ("assistant", "ok")], line=2),
        record([("user", "x" * 30_000), ("assistant", "That is a long log, thanks.")], line=3),
        record(
            [
                (
                    "user",
                    "Bonjour, je voudrais résilier mon abonnement. Comment faire et est-ce que je vais payer ?",
                ),
                (
                    "assistant",
                    "Vous pouvez résilier à tout moment depuis votre compte, sans aucuns frais du tout.",
                ),
            ],
            line=4,
        ),
        record(
            [
                ("user", "This shit keeps happening with my billing every single month, fix it."),
                ("assistant", "I am sorry, I have refunded the duplicate charge to your card today."),
            ],
            line=5,
        ),
        record([("assistant", "Hello, how can I help you with your subscription today?")], line=6),
        record(
            [("instruction", "What is the refund window?"), ("input", ""), ("output", "")],
            kind="instruction",
            line=7,
        ),
    ]
    with pipeline() as p:
        out = p | beam.Create(records) | QualityFilter(min_chars=20, max_chars=20_000, languages=["en"])
        assert_that(
            out.records | beam.Map(lambda r: (r["source_record"], r["language"])),
            equal_to([("line:1", "en")]),
            label="Passed",
        )
        assert_that(
            out.filtered | beam.Map(lambda f: (f["source_record"], f["stage"], f["reason"])),
            equal_to(
                [
                    ("line:2", "quality", "too_short"),
                    ("line:3", "quality", "too_long"),
                    ("line:4", "quality", "other_language"),
                    ("line:5", "quality", "toxic"),
                    ("line:6", "quality", "no_reply_pair"),
                    ("line:7", "quality", "empty_after_clean"),
                ]
            ),
            label="Filtered",
        )


def test_exact_and_near_dedup_keep_the_first_record_of_each_group():
    records = [
        conversation(GOOD_1, 1),
        conversation(GOOD_2, 2),
        conversation(dict(GOOD_1, id="copy"), 3),
        conversation(NEAR_2, 10),
    ]
    with pipeline() as p:
        exact = p | beam.Create(records) | "Exact" >> ExactDedup()
        near = exact.records | "Near" >> NearDedup(threshold=0.8)
        assert_that(
            near.records | beam.Map(lambda r: r["source_record"]),
            equal_to(["line:1", "line:2"]),
            label="Kept",
        )
        assert_that(
            exact.filtered | beam.Map(lambda f: (f["source_record"], f["reason"], f["detail"][-7:])),
            equal_to([("line:3", "exact_duplicate", "#line:1")]),
            label="Exact",
        )
        assert_that(
            near.filtered | beam.Map(lambda f: (f["source_record"], f["reason"], f["detail"][-7:])),
            equal_to([("line:10", "near_duplicate", "#line:2")]),
            label="Near",
        )


def test_near_dedup_links_chains_into_one_component_with_the_smallest_key():
    words = [f"w{i}" for i in range(60)]
    a = " ".join(words)
    b = " ".join(words[:-1] + ["changed"])  # J(a, b) high
    c = " ".join(words[:-2] + ["changed", "again"])  # J(b, c) high
    texts = [(3, c), (1, a), (2, b), (4, "something entirely different about refunds and invoices and plans")]
    with pipeline() as p:
        out = p | beam.Create([record([("user", t)], line=n) for n, t in texts]) | NearDedup(threshold=0.8)
        assert_that(
            out.records | beam.Map(lambda r: r["source_record"]), equal_to(["line:1", "line:4"]), label="Kept"
        )
        assert_that(
            out.filtered | beam.Map(lambda f: f["source_record"]),
            equal_to(["line:2", "line:3"]),
            label="Dropped",
        )


def test_candidate_pairs_stay_linear_for_hot_buckets():
    assert candidate_pairs(["b", "a", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    pairs = candidate_pairs([f"k{i:04d}" for i in range(1000)])
    assert len(pairs) < 2000 and ("k0000", "k0999") in pairs


@pytest.fixture(scope="module")
def prompts():
    return (
        PortablePrompt(load_prompt("support_assistant@1.0.0")),
        PortablePrompt(load_prompt("support_instruction@1.0.0")),
    )


def test_format_yields_one_example_per_reply_and_renders_with_the_shared_renderer(prompts):
    serving, instruction = prompts
    conv = conversation(GOOD_1, 1)
    section = record(
        [("title", "Refund policy"), ("heading", "Annual plans"), ("body", "Refunded within 14 days.")],
        kind="section",
        line=2,
        group="refunds",
    )
    ticket = record(
        [
            ("subject", "Invoice"),
            ("customer_message", "I need an invoice."),
            ("agent_reply", "Invoices are in Account > Billing."),
        ],
        kind="ticket",
        line=3,
        group="T-1",
    )
    with pipeline() as p:
        out = (
            p
            | beam.Create([conv, section, ticket])
            | FormatExamples(serving, instruction, "daily-2026-01-15", "2026-01-15")
        )
        assert_that(
            out.examples
            | beam.Map(lambda kv: (kv[1]["group_key"], kv[1]["instruction"][:20], kv[1]["output"][:12])),
            equal_to(
                [
                    ("chat-1", GOOD_1["messages"][1]["content"][:20], "Sorry about "),
                    ("chat-1", "Thanks. Will the ref", "Yes, refunds"),
                    (
                        "refunds",
                        render(
                            instruction.get(),
                            {"article_title": "Refund policy", "section_heading": "Annual plans"},
                        ).user[:20],
                        "Refunded wit",
                    ),
                    ("T-1", "I need an invoice.", "Invoices are"),
                ]
            ),
            label="Examples",
        )

        def prompt_text_is_the_serving_render(pairs):
            for _, row in pairs:
                expected = render(
                    serving.get(), {"instruction": row["instruction"], "input": row["input"]}
                ).text
                assert row["prompt_text"] == expected
                assert row["prompt_hash"] == serving.hash and row["source_date"] == "2026-01-15"

        assert_that(out.examples, prompt_text_is_the_serving_render, label="PromptText")
        assert_that(out.stats, equal_to([(("records_ok", "s"), 1)] * 3), label="Stats")


def test_split_is_by_group_and_stable():
    assert split_of("chat-1", 0.0) == "train" and split_of("chat-1", 1.0) == "eval"
    keys = [f"conv-{i}" for i in range(2000)]
    share = sum(split_of(k, 0.1) == "eval" for k in keys) / len(keys)
    assert 0.07 < share < 0.13
    rows = [(f"o{i}", {"group_key": f"g{i % 7}", "source": "s"}) for i in range(50)]
    with pipeline() as p:
        out = p | beam.Create(rows) | AssignSplit(0.3)
        both = (out.train, out.eval) | beam.Flatten()
        assert_that(
            both | beam.Map(lambda kv: (kv[1]["group_key"], kv[1]["split"])) | beam.Distinct(),
            equal_to([(f"g{i}", split_of(f"g{i}", 0.3)) for i in range(7)]),
        )


def test_file_readers_locate_records():
    md = b"# Title\n\nIntro text.\n\n## First\n\nBody one.\n\n## Second\n\nBody two.\n"
    got = [(r["source_record"], r["payload"]["heading"]) for r in iter_markdown("h", "raw/h/x.md", md)]
    assert got == [("section:0", None), ("section:1", "First"), ("section:2", "Second")]
    txt = b"Policy\n\n1. First para.\n\n\n2. Second para.\n"
    assert [r["source_record"] for r in iter_text("p", "raw/p/x.txt", txt)] == ["section:1", "section:2"]
    csv_bytes = b'a,b\r\n1,"multi\r\nline"\r\n2,x\r\n'
    assert [r["source_record"] for r in iter_csv("t", "raw/t/x.csv", csv_bytes)] == ["line:2", "line:4"]
    assert detect_format("x.jsonl", b'{"conversations": []}\n') == "chat_sharegpt"
    assert detect_format("x.jsonl", b'garbage\n{"instruction": "q"}\n') == "instruction"
    assert detect_format("x.json", b' [{"instruction": "q"}]') == "instruction"
    assert detect_format("x.parquet", b"PAR1") == "unsupported"
