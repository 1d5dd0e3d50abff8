"""The shared PII recognisers (Beam-free): redaction, placeholders, counts and the second scan."""

from __future__ import annotations

import pytest

from llmops_factory.dataprep.pii import PiiRedactor, mask, scan_for_pii

R = PiiRedactor()


@pytest.mark.parametrize(
    ("text", "kind", "redacted"),
    [
        ("Mail me at maria.lopez@example.com please.", "email", "Mail me at [EMAIL] please."),
        ("Call +49 151 23456789 today.", "phone", "Call [PHONE] today."),
        ("Call me on (415) 555-0134.", "phone", "Call me on [PHONE]."),
        ("Ring 07700 900123 after six.", "phone", "Ring [PHONE] after six."),
        ("Card 4111 1111 1111 1111 was charged.", "credit_card", "Card [CREDIT_CARD] was charged."),
        ("Amex 3782-822463-10005 on file.", "credit_card", "Amex [CREDIT_CARD] on file."),
        ("Refund to DE89 3704 0044 0532 0130 00 please.", "iban", "Refund to [IBAN] please."),
        ("IBAN GB82WEST12345698765432.", "iban", "IBAN [IBAN]."),
        ("My IP is 81.2.69.160 now.", "ip", "My IP is [IP_ADDRESS] now."),
        ("Host 2001:db8:85a3::8a2e:370:7334 failed.", "ip", "Host [IP_ADDRESS] failed."),
        ("Hi, I'm Maria Lopez. My TV is broken.", "person_name", "Hi, I'm [PERSON]. My TV is broken."),
        (
            "Hello, my name is Jonas Fischer and I need help.",
            "person_name",
            "Hello, my name is [PERSON] and I need help.",
        ),
        ("Hi there, this is Wei Chen.", "person_name", "Hi there, this is [PERSON]."),
        ("Dear Ms. Novak,\nthanks for writing.", "person_name", "Dear Ms. [PERSON],\nthanks for writing."),
        (
            "Thanks for the quick help.\nBest regards,\nAisha Haddad",
            "person_name",
            "Thanks for the quick help.\nBest regards,\n[PERSON]",
        ),
        ("Last reviewed by Marco Bianchi.", "person_name", "Last reviewed by [PERSON]."),
        ("My name is Ruth R Montez.", "person_name", "My name is [PERSON]."),
        ("I'm Jaroslava P. Sedláčková, from Brno.", "person_name", "I'm [PERSON], from Brno."),
        (
            "hi, my name is lena andersson. block my card",
            "person_name",
            "hi, my name is [PERSON]. block my card",
        ),
        ("\"I'm Amanda's daughter\".", "person_name", "\"I'm [PERSON]'s daughter\"."),
    ],
)
def test_each_kind_is_replaced_by_its_placeholder_and_counted(text, kind, redacted):
    out, counts = R.redact(text)
    assert out == redacted
    assert dict(counts) == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "The Premium plan costs 17.99 EUR per month and renews on 2026-01-15 at 10:30.",
        "Order 4111 1111 1111 1112 is not a card (Luhn fails).",
        "DE89 3704 0044 0532 0130 01 has wrong check digits.",
        "Version 1.2.300 and port 8080 are fine, 999.1.1.1 is no IP.",
        "Hi there, I'm having trouble with my account.",
        "Thanks,\nThe Support Team",
        "Hello Team, I'm Unable to log in.",
        "Already redacted: [EMAIL], [PHONE], [PERSON].",
        "my name is on the account, and my name is spelled wrong.",
    ],
)
def test_look_alikes_are_left_alone(text):
    assert R.redact(text) == (text, {})


def test_several_items_in_one_text_are_all_counted():
    text = "I'm Ana Silva, ana@x.io, +33 6 12 34 56 78, card 5500 0000 0000 0004, IBAN NL91ABNA0417164300."
    out, counts = R.redact(text)
    assert dict(counts) == {"person_name": 1, "email": 1, "phone": 1, "credit_card": 1, "iban": 1}
    assert "Ana" not in out and "5500" not in out and "NL91" not in out


def test_scan_for_pii_reports_what_is_left_without_revealing_it():
    findings = scan_for_pii(["clean text with [EMAIL]", "oops bob@example.com leaked", None, ""])
    assert [(f.text_index, f.kind) for f in findings] == [(1, "email")]
    assert "bob@example.com" not in str(findings[0]) and findings[0].masked == mask("bob@example.com")
    assert scan_for_pii(["nothing here", "[PHONE]"]) == []


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown PII kinds"):
        PiiRedactor(kinds=["email", "ssn"])
