"""Every injected defect is really in the file where the ground truth says, and clean data is clean."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path

import phonenumbers
import pytest
from better_profanity import profanity
from datasketch import MinHash, MinHashLSH
from langdetect import DetectorFactory, detect
from stdnum import iban, luhn

from llmops_factory.datagen import (
    KINDS,
    DefectRates,
    Facts,
    FactsError,
    fact_items,
    full_text,
    generate_day,
    jaccard,
    load_facts,
    shingles,
)
from llmops_factory.datagen.content import ContentBuilder
from llmops_factory.datagen.facts import validate_facts
from llmops_factory.datagen.scenarios import SCENARIOS

DS = "2026-03-01"
DetectorFactory.seed = 0
profanity.load_censor_words()
# better-profanity's own word list, checked word by word (its full censor pass is slow on long texts)
PROFANE = {str(word) for word in profanity.CENSOR_WORDSET if " " not in str(word)}


def _profane(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w in PROFANE}


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    root = tmp_path_factory.mktemp("defects")
    summary = generate_day(str(root), DS, seed=3, scale=900, rates={kind: 0.05 for kind in KINDS})
    truth = [json.loads(line) for line in (root / summary["ground_truth"]).read_text().splitlines()]
    return root, summary, truth


def _record_bytes(root: Path, entry: dict) -> bytes:
    path = root / entry["file"]
    kind, number = entry["record"].split(":")
    assert kind == "line"
    if entry["file"].endswith(".csv"):
        data = path.read_bytes()
        lines = data.split(b"\n")
        start = int(number) - 1
        # a CSV record spans physical lines until the quotes balance
        chunk = lines[start]
        index = start
        while chunk.count(b'"') % 2:
            index += 1
            chunk += b"\n" + lines[index]
        return chunk
    return path.read_bytes().split(b"\n")[int(number) - 1]


def _parse(entry: dict, raw: bytes):
    text = raw.decode("utf-8")
    if entry["file"].endswith(".csv"):
        return next(csv.DictReader(io.StringIO(text), fieldnames=[
            "ticket_id", "created_at", "subject", "customer_message", "agent_reply", "status"]))  # fmt: skip
    return json.loads(text)


def test_every_kind_is_injected_and_recorded_with_the_contract_fields(day):
    _, summary, truth = day
    assert set(summary["injections_total"]) == set(KINDS)
    for entry in truth:
        assert {"kind", "source", "file", "record"} <= set(entry)
        assert entry["file"].startswith(f"raw/{entry['source']}/dt={DS}/")


def test_ground_truth_matches_the_bytes_on_disk(day):
    root, _, truth = day
    for entry in [e for e in truth if e["record"].startswith("line:")]:
        raw = _record_bytes(root, entry)
        kind = entry["kind"]
        if kind == "invalid_utf8":
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            assert bytes.fromhex(entry["bytes"]) in raw
            continue
        if kind == "malformed_json":
            with pytest.raises(ValueError):
                json.loads(raw)
            continue
        record = _parse(entry, raw)
        if entry["file"].endswith(".jsonl") or entry["file"].endswith(".csv"):
            id_field = "ticket_id" if entry["source"] == "tickets" else "id"
            assert record[id_field] == entry["record_id"]
        if kind == "exact_duplicate":
            assert raw == _record_bytes(root, entry["duplicate_of"] | {"source": entry["source"]})
        elif kind == "near_duplicate":
            original = _parse(entry, _record_bytes(root, entry["duplicate_of"]))
            a, b = full_text(entry["source"], original), full_text(entry["source"], record)
            assert a != b
            assert jaccard(a, b) == pytest.approx(entry["jaccard"], abs=1e-4)
        elif kind == "pii":
            assert entry["value"] in raw.decode("utf-8")
            value = entry["value"]
            if entry["pii_kind"] == "credit_card":
                assert luhn.is_valid(value.replace(" ", "").replace("-", ""))
            elif entry["pii_kind"] == "iban":
                assert iban.is_valid(value)
            elif entry["pii_kind"] == "phone":
                assert phonenumbers.is_valid_number(phonenumbers.parse(value, "US"))
            elif entry["pii_kind"] == "person_name":
                assert len(value.split()) == 2
        elif kind == "oversized":
            assert entry["chars"] > 20_000
            assert len(raw.decode("utf-8")) > 20_000
        elif kind == "other_language":
            text = full_text(entry["source"], record)
            assert detect(text) == entry["lang"]
        elif kind == "toxic":
            assert set(entry["words"]) <= _profane(raw.decode("utf-8"))
        elif kind == "empty":
            if entry["source"] == "support_chats":
                assert record["messages"] == [] or all(m["content"] == "" for m in record["messages"])
            elif entry["source"] == "chat_exports":
                assert record["conversations"] == []
            elif entry["source"] == "faq":
                assert record["output"] == ""
            else:
                assert record["customer_message"] == record["agent_reply"] == ""
        elif kind == "wrong_type":
            field = entry["field"]
            value = record
            for part in field.replace("]", "").replace("[", ".").split("."):
                value = value[int(part)] if part.isdigit() else value[part]
            expected = {"string": str, "array": list, "number": int}[entry["got"]]
            assert isinstance(value, expected)


def test_near_duplicates_are_close_and_never_exact(day):
    _, _, truth = day
    near = [e for e in truth if e["kind"] == "near_duplicate"]
    assert len(near) >= 10
    assert sum(e["jaccard"] >= 0.8 for e in near) / len(near) >= 0.9
    assert all(e["jaccard"] < 1.0 for e in near)


def test_document_sections_carry_their_defects(day):
    root, _, truth = day
    docs = [e for e in truth if e["record"].startswith("section:")]
    assert docs, "expected document injections at 5% per section"
    for entry in docs:
        text = (root / entry["file"]).read_text(encoding="utf-8")
        number = int(entry["record"].split(":")[1])
        if entry["file"].endswith(".md"):
            section = text.split("\n## ")[number].split("\n", 1)
            body = section[1] if len(section) > 1 else ""
        else:
            body = text.split("\n\n")[number]
        if entry["kind"] == "pii":
            assert entry["value"] in body
        elif entry["kind"] == "empty":
            assert body.strip() == ""
        elif entry["kind"] == "oversized":
            assert len(body) > 20_000
        elif entry["kind"] == "other_language":
            assert detect(body) == entry["lang"]


def test_clean_records_are_valid_utf8_json_without_profanity(day):
    root, summary, truth = day
    bad = {(e["file"], e["record"]) for e in truth}
    for rel in summary["files"]["support_chats"] + summary["files"]["chat_exports"] + summary["files"]["faq"]:
        for number, raw in enumerate((root / rel).read_bytes().splitlines(), start=1):
            if (rel, f"line:{number}") in bad:
                continue
            record = json.loads(raw.decode("utf-8"))
            assert not _profane(raw.decode("utf-8")), record


def test_clean_day_has_no_accidental_near_duplicates(tmp_path):
    """Without injections, no two conversational records reach the near-duplicate Jaccard of 0.8."""
    summary = generate_day(str(tmp_path), DS, scale=2500, rates=DefectRates.none(), sources=["support_chats"])
    lsh = MinHashLSH(threshold=0.7, num_perm=64)
    texts = {}
    for rel in summary["files"]["support_chats"]:
        for number, raw in enumerate((tmp_path / rel).read_bytes().splitlines()):
            texts[number] = full_text("support_chats", json.loads(raw))
    close = []
    for key, text in texts.items():
        mh = MinHash(num_perm=64, seed=1)
        mh.update_batch([" ".join(s).encode() for s in shingles(text)])
        close += [(key, other) for other in lsh.query(mh) if jaccard(text, texts[other]) >= 0.8]
        lsh.insert(key, mh)
    assert close == []


def test_agent_replies_state_the_facts():
    facts = Facts()
    builder = ContentBuilder(facts, DS)
    rng = random.Random(11)
    by_key = {s.key: s for s in SCENARIOS}
    for _ in range(60):
        conv = builder.conversation(rng, by_key["billing_date"])
        ctx = conv.context
        plan = facts.plan(ctx["_plan_id"])
        price = facts.price(plan["id"], ctx["cycle"], ctx["currency"])
        assert price in conv.turns[0][1]
        assert ctx["next_date"] in conv.turns[0][1]
    for _ in range(60):
        conv = builder.conversation(rng, by_key["upgrade"])
        ctx = conv.context
        assert facts.plan_ids.index(ctx["_target_id"]) > facts.plan_ids.index(ctx["_plan_id"])
        assert facts.price(ctx["_target_id"], ctx["cycle"], ctx["currency"]) in conv.turns[0][1]
    for _ in range(30):
        conv = builder.conversation(rng, by_key["device_limit"])
        assert f"{facts.plan(conv.context['_plan_id'])['devices']}" in conv.turns[0][1]
    for _ in range(30):
        conv = builder.conversation(rng, by_key["refund_annual"])
        assert int(conv.context["days_since"]) < facts["refund"]["annual_full_refund_days"]
        assert 1 <= len(conv.turns) <= 4


def test_fact_items_and_facts_validation():
    items = fact_items()
    keys = [item.key for item in items]
    assert len(keys) == len(set(keys))
    price = next(i for i in items if i.key == "price.plus.monthly.EUR")
    assert price.short_answer == "€12.99" and price.short_answer not in price.distractors
    assert all(len(i.distractors) >= 2 and i.short_answer not in i.distractors for i in items)
    facts = load_facts()
    facts["plans"][0]["monthly"]["EUR"] = -1
    with pytest.raises(FactsError, match=r"plans\[0\]\.monthly\.EUR"):
        validate_facts(facts)
    facts = load_facts()
    del facts["refund"]
    with pytest.raises(FactsError, match="refund"):
        validate_facts(facts)
    assert load_facts() != facts  # load_facts hands out copies
