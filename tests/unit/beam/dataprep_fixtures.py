"""Raw-data fixtures of the data-preparation tests: a small partition holding every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

DS = "2026-01-15"
EMAIL = "maria.lopez@example.com"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"


def chat(id_: str, *turns: tuple[str, str], **extra) -> dict:
    return {
        "id": id_,
        "created_at": "2026-01-15T10:00:00Z",
        "channel": "web",
        "messages": [{"role": r, "content": c} for r, c in turns],
        **extra,
    }


GOOD_1 = chat(
    "chat-1",
    ("system", "You are Nimbus Support."),
    (
        "user",
        f"Hi, I'm Maria Lopez. I was charged twice for my Premium plan this month, my e-mail is {EMAIL}.",
    ),
    (
        "assistant",
        "Sorry about that. Duplicate charges are always refunded in full within 5 to 10 business days.",
    ),
    ("user", "Thanks. Will the refund go back to my card?"),
    ("assistant", "Yes, refunds always go back to the original payment method that was charged."),
)
GOOD_2 = chat(
    "chat-2",
    ("user", "How do I pause my subscription while I am travelling for the next two months of the year?"),
    (
        "assistant",
        "You can pause a monthly plan for one, two or three months in Account > Subscription > Pause. "
        "Your profiles and watch history are kept while the subscription is paused.",
    ),
)
NEAR_2 = chat(
    "chat-2b",
    ("user", "How do I pause my subscription while I am travelling for the next two months of the year?"),
    (
        "assistant",
        "You can pause a monthly plan for one, two or three months in Account > Subscription > Pause. "
        "Your profiles and watch history are kept while the subscription is paused!",
    ),
)


def _jsonl(rows: list) -> bytes:
    out = []
    for row in rows:
        out.append(row if isinstance(row, bytes) else json.dumps(row, ensure_ascii=False).encode("utf-8"))
    return b"\n".join(out) + b"\n"


def write_partition(root: Path, ds: str = DS) -> dict[str, dict[str, str]]:
    """Write a raw day with good records and one of every bad kind; returns the expected outcome per record."""

    def put(source: str, name: str, data: bytes) -> str:
        path = root / "raw" / source / f"dt={ds}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return f"raw/{source}/dt={ds}/{name}"

    expected: dict[str, dict[str, str]] = {}
    chats = [
        GOOD_1,  # 1 ok (2 examples)
        GOOD_2,  # 2 ok
        dict(GOOD_1, id="chat-1-copy"),  # 3 exact duplicate
        NEAR_2,  # 4 near duplicate
        b'{"id": "chat-5", "messages": [{"role": "user", "content": "truncated',  # 5 malformed json
        {"id": "chat-6", "messages": "I want a refund"},  # 6 wrong type
        chat(
            "chat-7", ("user", "Where is my invoice for this month please?"), ("assistant", 42)
        ),  # 7 wrong type
        chat("chat-8"),  # 8 empty record
        b'{"id": "chat-9", "messages": [{"role": "user", "content": "caf\xe9 \xff"}]}',  # 9 invalid utf8
        chat(
            "chat-10", ("user", "Here is my log: " + "x" * 25_000), ("assistant", "Thanks, looking into it.")
        ),
        chat(
            "chat-11",
            ("user", "Your damn app charged me again and this is bullshit, fix it now please."),
            ("assistant", "I am sorry about the double charge; it will be refunded in full within 10 days."),
        ),
        chat(
            "chat-12",
            ("user", "Hola, quiero cancelar mi suscripción. ¿Cómo lo hago? No quiero pagar otra vez."),
            (
                "assistant",
                "Gracias por escribirnos. Puedes cancelar cuando quieras en la sección de tu cuenta.",
            ),
        ),
        chat(
            "chat-13", ("robot", "beep"), ("assistant", "Hello, how can I help you with your account today?")
        ),
        chat("chat-14", ("assistant", "Hello! Is there anything else I can help you with today at all?")),
        [1, 2, 3],  # 15 not an object
        {"id": "chat-16", "text": "no known fields here"},  # 16 missing messages
    ]
    uri = put("support_chats", "conversations-00000.jsonl", _jsonl(chats))
    outcomes = [
        "ok",
        "ok",
        "filtered:exact_duplicate",
        "filtered:near_duplicate",
        "dead:malformed_json",
        "dead:wrong_type",
        "dead:wrong_type",
        "dead:empty_record",
        "dead:invalid_utf8",
        "filtered:too_long",
        "filtered:toxic",
        "filtered:other_language",
        "dead:invalid_value",
        "filtered:no_reply_pair",
        "dead:not_an_object",
        "dead:missing_field",
    ]
    expected.update({f"{uri}#line:{i}": o for i, o in enumerate(outcomes, start=1)})

    sharegpt = [
        {
            "id": "exp-1",
            "conversations": [
                {
                    "from": "human",
                    "value": "Can I watch on my TV and my phone at the same time with the Basic plan?",
                },
                {
                    "from": "gpt",
                    "value": "The Basic plan allows one stream at a time; Standard allows two and Premium four.",
                },
            ],
        },
        {"id": "exp-2", "conversations": [{"from": "human", "value": 12}]},
    ]
    uri = put("chat_exports", "export-00000.jsonl", _jsonl(sharegpt))
    expected.update({f"{uri}#line:1": "ok", f"{uri}#line:2": "dead:wrong_type"})

    faq = [
        {
            "id": "faq-1",
            "instruction": "How long does a password reset link stay valid?",
            "input": "",
            "output": "Each password reset link is valid for sixty minutes; request a new one after that.",
        },
        {"id": "faq-2", "instruction": "Can I get an invoice for my payment?", "input": ""},
    ]
    uri = put("faq", "faq.jsonl", _jsonl(faq))
    expected.update({f"{uri}#line:1": "ok", f"{uri}#line:2": "dead:missing_field"})
    array = [
        {
            "id": "faq-3",
            "instruction": "Do you charge a fee for cancelling my subscription?",
            "input": None,
            "output": "No. You can cancel at any time without a fee and you keep access until the period ends.",
        }
    ]
    uri = put("faq", "faq-extra.json", json.dumps(array).encode())
    expected[f"{uri}#item:1"] = "ok"

    md = (
        "# Refund policy explained\n\n## Annual plans\n\nAnnual plans are refunded in full within 14 days of the "
        "annual charge. After that you keep access until the term ends.\n\n## Refund timing\n\nRefunds take 5 to 10 "
        "business days. Escalations: call +44 7700 900123.\n\n## Empty section\n\n"
    )
    uri = put("help_center", "refunds.md", md.encode())
    expected.update(
        {f"{uri}#section:1": "ok", f"{uri}#section:2": "ok", f"{uri}#section:3": "dead:empty_record"}
    )
    uri = put("help_center", "diagram.png", b"\x89PNG\r\n\x1a\n")
    expected[f"{uri}#document"] = "dead:unsupported_format"

    txt = (
        "Payment Policy\n\n1. Methods. We accept Visa, Mastercard, American Express and PayPal for every plan we "
        "sell.\n\n2. Failed payments. Failed payments are retried after 3 and 7 days, with a 7-day grace period.\n"
    )
    uri = put("policies", "payment-policy.txt", txt.encode())
    expected.update({f"{uri}#section:1": "ok", f"{uri}#section:2": "ok"})

    csv_text = (
        b"ticket_id,created_at,subject,customer_message,agent_reply,status\r\n"
        b'T-1,2026-01-15T09:00:00Z,Invoice,"I need an invoice\r\nfor January, please.",'
        b'"Invoices are in Account > Billing > Invoices; you can download a PDF for every payment.",closed\r\n'
        b"T-2,2026-01-15T09:05:00Z,Short row,only four columns\r\n"
        b'T-3,2026-01-15T09:10:00Z,Bad bytes,"Caf\xe9 problem \xff here",Sorry about that,open\r\n'
        b"T-4,2026-01-15T09:15:00Z,No reply,Where is my refund for the double charge?,,open\r\n"
    )
    uri = put("tickets", "tickets.csv", csv_text)
    expected.update(
        {
            f"{uri}#line:2": "ok",
            f"{uri}#line:4": "dead:malformed_csv",
            f"{uri}#line:5": "dead:invalid_utf8",
            f"{uri}#line:6": "dead:empty_field",
        }
    )
    return expected
