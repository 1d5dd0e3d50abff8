"""PII recognisers shared by the Beam pipeline (redaction) and the DAG's validation task (second scan).

Each recogniser finds spans in a text; ``PiiRedactor.redact`` replaces them with typed placeholders
(``[EMAIL]``, ``[PHONE]``, ``[CREDIT_CARD]``, ``[IBAN]``, ``[IP_ADDRESS]``, ``[PERSON]``) and counts
them per kind; ``scan_for_pii`` reports what is left in already-redacted texts.

Recognisers, in the order they run (a span found by an earlier one is not looked at again):

* ``email`` — RFC 5322-style local part ``@`` a dotted domain with a 2+ letter TLD.
* ``iban`` — country code, check digits and 11-30 alphanumerics (spaces allowed), accepted only when
  ``stdnum.iban`` validates the check digits and the country's length.
* ``credit_card`` — 12-19 digits (spaces or dashes between groups), accepted only when the Luhn checksum
  (``stdnum.luhn``) holds and the prefix and length are those of a card network (Visa, Mastercard, Amex,
  Discover, JCB, Diners, UnionPay, Maestro).
* ``ip`` — IPv4 and IPv6 literals, validated with :mod:`ipaddress`.
* ``phone`` — ``phonenumbers.PhoneNumberMatcher`` (Google's libphonenumber) over several default regions,
  leniency ``VALID``; international ``+CC`` numbers are found whatever the region.
* ``person_name`` — names introduced in greetings and sign-offs ("Hi, I'm Maria Lopez", "Dear Ms Novak",
  "Thanks,\\nJonas"); only the name is replaced, the greeting stays.

The module has no Beam or Airflow import.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn

from llmops_factory.text.blocks import code_spans

PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "iban": "[IBAN]",
    "credit_card": "[CREDIT_CARD]",
    "ip": "[IP_ADDRESS]",
    "phone": "[PHONE]",
    "person_name": "[PERSON]",
}
PII_KINDS: tuple[str, ...] = tuple(PLACEHOLDERS)
CODE_SAFE_KINDS = frozenset({"email", "iban", "credit_card"})
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL")

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?:[ ]?[A-Za-z0-9]){11,32}(?![A-Za-z0-9])")
_CARD = re.compile(r"(?<![\d+-])\d{2,6}(?:[ -]?\d{1,7}){2,9}(?![\d])")
_PHONE_CANDIDATE = re.compile(r"\+?\(?\d[\d \t().\-/]{5,24}\d")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion\s?|\brelease\s?|\bbuild\s?|\bver\.?\s?)$")
# A phone-shaped run: optional +CC, optional (area), 2+ digit groups separated by space . - /, extension.
_PHONE_SHAPED = re.compile(
    r"(?<![\w.+/-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?"
    r"(?:\d{7,15}|\d{1,5}(?:[ .\-/]\(?\d{1,8}\)?){1,5})"
    r"(?:[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6})?(?![\w/]|[.,]\d)"
)
_PHONE_CONTEXT_BEFORE = re.compile(
    r"(?i)(?:phone|\btel\b|telephone|mobile|\bcell\b|\bfax\b|\bdesk\b|\bcall\b|calling|\bring\b|text me|"
    r"\bsms\b|whatsapp|contact|reach|messages to|answering at|\bdial\b|registered)[^\n\d]{0,24}$"
)
_PHONE_CONTEXT_AFTER = re.compile(r"(?i)^[ \\,-]*(?:office|fax|mobile|cell|home|work|phone|tel)\b")
_NOT_PHONE_CONTEXT = re.compile(
    r"(?i)(?:\bssn\b|social security|licen[cs]e|passport|\bzip\b|postal|postcode|account|routing|"
    r"order|invoice|\bid\b|located at|return to|address)[^\n\d]{0,24}$"
)
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_ARITHMETIC = re.compile(r"[=*/^×÷<>%]|\d\s*[-+]\s*$")

_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆČĎĐĒĘĚĞĮİĹĽŁŃŇŐŒŔŘŚŞŠŢŤŪŮŰŲŹŻŽ"
_LOWER = "a-zß-öø-ÿāăąćčďđēęěğįıĺľłńňőœŕřśşšţťūůűųźżž"
_WORD = rf"[{_UPPER}][{_LOWER}'’\-]+"
_PARTICLES = (
    "de",
    "del",
    "della",
    "la",
    "le",
    "van",
    "von",
    "der",
    "den",
    "da",
    "di",
    "du",
    "dos",
    "das",
    "ter",
)
_PARTICLE = "(?:" + "|".join(_PARTICLES) + ")"
_NAME = rf"(?P<name>{_WORD}(?:[ ](?:{_PARTICLE}[ ])?{_WORD}){{0,2}})"
_TITLE = r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sr|Sra|Herr|Frau|Mme|M)\.?[ ])?"
_PERSON_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "I'm Maria Lopez", "my name is Maria", "name's Jo"
    re.compile(rf"(?:\b[Ii]['’]m|\b[Ii] am|\b[Mm]y name is|\b[Nn]ame['’]s)[ ]+{_TITLE}{_NAME}"),
    # "this is Maria Lopez," / "this is Maria from billing" (only before a clear name boundary)
    re.compile(rf"\b[Tt]his is[ ]+{_TITLE}{_NAME}(?=[ ]*(?:[,.!;:\n]|$|[ ](?:here|from|speaking|again)\b))"),
    # "Written by Maria Lopez", "Last reviewed by Jonas"
    re.compile(
        r"\b(?:[Ww]ritten|[Rr]eviewed|[Aa]uthored|[Ee]dited|[Pp]repared|[Aa]pproved|[Ss]igned|[Pp]osted|"
        rf"[Uu]pdated|[Cc]ompiled|[Tt]ranslated)[ ]+by[ ]+{_TITLE}{_NAME}"
    ),
    # "Hi Maria," "Dear Mr. Smith" "Hello Jonas!" at the start of a line
    re.compile(
        rf"(?m)^[ ]*(?:Hi|Hello|Hey|Dear|Hiya|Good (?:morning|afternoon|evening))[ ,]+{_TITLE}{_NAME}"
        r"(?=[ ]*(?:[,.!:\n]|$))"
    ),
    # sign-offs: "Thanks,\nMaria Lopez" / "Best regards, Jonas" at the end of a line, near the text's end
    re.compile(
        r"(?m)\b(?:Thanks(?: again)?|Thank you|Many thanks|Regards|Best regards|Kind regards|Warm regards|"
        r"Best wishes|Cheers|Sincerely|Yours sincerely|Yours truly)[,.!]?[ ]*\n?[ ]*"
        rf"{_NAME}[ ]*[.!]?[ ]*$"
    ),
)
# Lower-case words one of which must occur for the pattern at the same index to match.
_PERSON_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("i'm", "i’m", "i am", "my name", "name's", "name’s"),
    ("this is",),
    (" by ",),
    ("hi", "hello", "hey", "dear", "good "),
    ("thank", "regards", "best", "cheers", "sincerely", "yours"),
)
assert len(_PERSON_TRIGGERS) == len(_PERSON_PATTERNS)
# Capitalised words that follow a trigger but are not names in this domain.
_NOT_NAMES = frozenset(
    """
    I Im The A An And Or But So Not Just Still Also Very Really Sorry Happy Glad Sure Unable Trying Writing
    Calling Looking Having Going Getting Here There This That Support Team Customer Customers Service Billing
    Account Help Center Centre Admin Agent Assistant Bot Manager Pro Premium Basic Plus Family Business
    Enterprise Starter Standard Annual Monthly Yearly Free Trial Plan User Member Monday Tuesday Wednesday
    Thursday Friday Saturday Sunday January February March April May June July August September October
    November December Everyone All Guys Folks Sir Madam Again Thanks Thank Regards Best Cheers Hello Hi Hey
    Okay Ok Yes No Fine Good Great New Not Afraid Done Back Away Confused Frustrated Disappointed
    World Hiring Recruiter Recruiting Committee Admissions Colleague Colleagues Friend Friends Team
    Dear Mom Dad Mother Father Sister Brother Grandma Grandpa Neighbor Neighbour Reader Readers Students
    Teacher Professor Doctor Officer Director President Editor Landlord Tenant Host Guest Human Model Language
    Large An AI Here Now Today Tonight Excited Interested Writing Applying Reaching Sure Delighted Honored
    """.split()
)
# The assistant's own identity is not PII: "I am Vicuna", "my name is ChatGPT" (settings can add more).
ASSISTANT_NAMES = frozenset(
    """Vicuna ChatGPT GPT Claude Bard Gemini Alpaca Koala LLaMA Llama Mistral Assistant OpenAssistant Open
    Copilot Bing Nimbus Dolly Falcon Guanaco Orca Zephyr Qwen Baichuan ChatGLM MOSS Siri Alexa Cortana
    """.split()
)
_SIGNOFF_TAIL_LINES = 3


@dataclasses.dataclass(frozen=True)
class PiiFinding:
    """One PII item found in a text: where, what kind, and a masked hint of the value (never the value)."""

    text_index: int
    kind: str
    start: int
    end: int
    masked: str

    def __str__(self) -> str:
        return f"text #{self.text_index}: {self.kind} at [{self.start}:{self.end}] ({self.masked})"


def _tail_offset(text: str, lines: int) -> int:
    """Offset where the last ``lines`` non-empty lines of ``text`` start."""
    pos = len(text.rstrip())
    for _ in range(lines):
        pos = text.rfind("\n", 0, pos)
        if pos < 0:
            return 0
        while pos > 0 and text[pos - 1] == "\n":
            pos -= 1
    return pos


def mask(value: str) -> str:
    """A hint that names the shape of a value without revealing it (first and last character kept)."""
    value = value.strip()
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[0]}{'*' * (len(value) - 2)}{value[-1]}"


# Issuer prefixes and lengths of the card networks (ISO/IEC 7812 IIN ranges): a Luhn-valid digit run
# that no network issues (an order number, an account number inside an IBAN) is not a card.
_CARD_NETWORKS: tuple[tuple[tuple[int, int], int, tuple[int, ...]], ...] = (
    ((4, 4), 1, (13, 16, 19)),  # Visa
    ((51, 55), 2, (16,)),
    ((2221, 2720), 4, (16,)),  # Mastercard
    ((34, 34), 2, (15,)),
    ((37, 37), 2, (15,)),  # American Express
    ((6011, 6011), 4, (16, 17, 18, 19)),
    ((644, 649), 3, (16, 17, 18, 19)),
    ((65, 65), 2, (16, 17, 18, 19)),  # Discover
    ((35, 35), 2, (16, 17, 18, 19)),
    ((1800, 1800), 4, (15,)),
    ((2131, 2131), 4, (15,)),  # JCB (and its legacy 15-digit ranges)
    ((300, 305), 3, (14, 15, 16, 17, 18, 19)),
    ((36, 36), 2, (14, 15, 16, 17, 18, 19)),
    ((38, 39), 2, (14, 15, 16, 17, 18, 19)),  # Diners Club
    ((62, 62), 2, (16, 17, 18, 19)),  # UnionPay
    ((50, 50), 2, tuple(range(12, 20))),
    ((56, 69), 2, tuple(range(12, 20))),  # Maestro
)


def is_card_number(digits: str) -> bool:
    """A Luhn-valid number with the prefix and length of a card network."""
    if not 12 <= len(digits) <= 19 or not _luhn.is_valid(digits):
        return False
    return any(
        lo <= int(digits[:width]) <= hi and len(digits) in lengths
        for (lo, hi), width, lengths in _CARD_NETWORKS
    )


class PiiRedactor:
    """Find and replace PII. Build once (it compiles patterns and phone metadata) and reuse.

    ``kinds`` restricts the recognisers; ``phone_regions`` are the default regions for national-format
    phone numbers.
    """

    def __init__(
        self,
        kinds: Sequence[str] = PII_KINDS,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
        assistant_names: Iterable[str] = (),
    ) -> None:
        unknown = sorted(set(kinds) - set(PII_KINDS))
        if unknown:
            raise ValueError(f"unknown PII kinds {unknown}; known: {', '.join(PII_KINDS)}")
        self.kinds = tuple(k for k in PII_KINDS if k in kinds)
        self.phone_regions = tuple(phone_regions)
        self.assistant_names = ASSISTANT_NAMES | frozenset(assistant_names)
        self._finders = {
            "email": self._find_email,
            "iban": self._find_iban,
            "credit_card": self._find_card,
            "ip": self._find_ip,
            "phone": self._find_phone,
            "person_name": self._find_person,
        }

    # -- recognisers: each yields (start, end) spans in ``text`` --------------------------------------
    @staticmethod
    def _find_email(text: str) -> Iterable[tuple[int, int]]:
        if "@" not in text:
            return ()
        return [m.span() for m in _EMAIL.finditer(text)]

    @staticmethod
    def _find_iban(text: str) -> Iterable[tuple[int, int]]:
        spans = []
        for m in _IBAN.finditer(text):
            candidate = m.group(0)
            # The pattern is greedy: try the longest prefix that validates (a following code may stick).
            for end in range(len(candidate), 14, -1):
                piece = candidate[:end].rstrip()
                if piece[-1:].isalnum() and _iban.is_valid(piece.upper()):
                    spans.append((m.start(), m.start() + len(piece)))
                    break
        return spans

    @staticmethod
    def _find_card(text: str) -> Iterable[tuple[int, int]]:
        spans = []
        for m in _CARD.finditer(text):
            candidate = m.group(0)
            groups = [g for g in re.finditer(r"\d+", candidate)]
            best: tuple[int, int] | None = None
            # Longest contiguous run of digit groups with 13-19 digits that passes Luhn.
            for i in range(len(groups)):
                n = 0
                for j in range(i, len(groups)):
                    n += len(groups[j].group(0))
                    if n > 19:
                        break
                    if n >= 12:
                        digits = "".join(g.group(0) for g in groups[i : j + 1])
                        if is_card_number(digits):
                            span = (m.start() + groups[i].start(), m.start() + groups[j].end())
                            if best is None or span[1] - span[0] > best[1] - best[0]:
                                best = span
            if best:
                spans.append(best)
        return spans

    @staticmethod
    def _find_ip(text: str) -> Iterable[tuple[int, int]]:
        spans = []
        if "." in text:
            for m in _IPV4.finditer(text):
                try:
                    ipaddress.IPv4Address(m.group(0))
                except ValueError:
                    continue
                if _VERSION_BEFORE.search(text[max(0, m.start() - 16) : m.start()]):
                    continue  # "version 1.2.3.4", "v1.2.3.4": a version number, not an address
                spans.append(m.span())
        if "::" in text or text.count(":") >= 3:
            for m in _IPV6.finditer(text):
                value = m.group(0)
                groups = [g for g in value.split(":") if g]
                # "std::cout" → "d::c" is a valid IPv6 literal but not an address anyone writes: require
                # 3+ groups, or "::" with a group of 3+ hex digits ("::1" is loopback, not personal)
                if len(groups) < 3 and not any(len(g) >= 3 for g in groups):
                    continue
                try:
                    ipaddress.IPv6Address(value)
                except ValueError:
                    continue
                spans.append(m.span())
        return spans

    def _find_phone(self, text: str) -> Iterable[tuple[int, int]]:
        """Phone numbers: libphonenumber-valid numbers written like phone numbers, and phone-shaped runs
        with a phone context word nearby ("Phone:", "call me at", "Mobile", "… fax").

        Not phones: a digit run inside a decimal number (``5.385164807134504``), in arithmetic
        (``2**31 = 2147483648``), or a bare run of digits with no ``+``, separator or context.
        """
        spans: set[tuple[int, int]] = set()
        for candidate in _PHONE_SHAPED.finditer(text):
            value = candidate.group(0)
            digits = sum(ch.isdigit() for ch in value)
            if digits < 7 or digits > 17:
                continue
            start, end = candidate.span()
            before, after = text[max(0, start - 48) : start], text[end : end + 16]
            if _ARITHMETIC.search(text[max(0, start - 3) : start]) or _ARITHMETIC.match(
                after.lstrip()[:1] or " "
            ):
                continue
            if _DATE_LIKE.match(value) or _NOT_PHONE_CONTEXT.search(before):
                continue
            context = bool(_PHONE_CONTEXT_BEFORE.search(before) or _PHONE_CONTEXT_AFTER.match(after))
            separated = value.startswith("+") or any(ch in value for ch in " .-()/")
            if not separated and not context:
                continue
            if context:
                spans.add((start, end))
                continue
            for region in self.phone_regions:
                found = False
                for match in phonenumbers.PhoneNumberMatcher(
                    value, region, leniency=phonenumbers.Leniency.VALID
                ):
                    spans.add((start + match.start, start + match.end))
                    found = True
                if found:
                    break
        return sorted(spans)

    def _find_person(self, text: str) -> Iterable[tuple[int, int]]:
        spans = []
        lowered = text.lower()
        tail_start = _tail_offset(text, _SIGNOFF_TAIL_LINES)
        last = len(_PERSON_PATTERNS) - 1
        for index, (pattern, triggers) in enumerate(zip(_PERSON_PATTERNS, _PERSON_TRIGGERS, strict=True)):
            if not any(t in lowered for t in triggers):
                continue  # cheap pre-check: the pattern's trigger words are absent
            for m in pattern.finditer(text):
                if index == last and m.start("name") < tail_start:
                    continue  # a sign-off is at the end of a message, not in the middle of a list
                words = m.group("name").split(" ")
                # Drop trailing/leading words that are known non-names ("I'm Maria Again" -> "Maria").
                while words and words[-1].strip("'’-") in _NOT_NAMES:
                    words.pop()
                if not words or words[0] in _NOT_NAMES or words[0] in self.assistant_names:
                    continue
                start = m.start("name")
                spans.append((start, start + len(" ".join(words))))
        return spans

    # -- public API -----------------------------------------------------------------------------------
    def find(self, text: str) -> list[tuple[str, int, int]]:
        """Non-overlapping ``(kind, start, end)`` spans, earlier recognisers winning overlaps.

        Inside code (fenced / indented blocks, sessions, inline code) only the checksum- or
        syntax-validated kinds run (e-mail, IBAN, card): ``std::cout``, ``1.2.3.4`` in a version pin or a
        digit run in code is not a phone number, an address or a name.
        """
        taken: list[tuple[str, int, int]] = []
        code = (
            code_spans(text)
            if ("`" in text or "    " in text or "\t" in text or ">>>" in text or "$ " in text)
            else []
        )
        for kind in self.kinds:
            for start, end in self._finders[kind](text):
                if start >= end:
                    continue
                if code and kind not in CODE_SAFE_KINDS and any(start < ce and cs < end for cs, ce in code):
                    continue
                if any(start < t_end and t_start < end for _, t_start, t_end in taken):
                    continue
                taken.append((kind, start, end))
        taken.sort(key=lambda t: t[1])
        return taken

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        """Return ``text`` with every PII span replaced by its placeholder, and the count per kind."""
        counts: Counter[str] = Counter()
        if not text:
            return text, counts
        spans = self.find(text)
        if not spans:
            return text, counts
        out, pos = [], 0
        for kind, start, end in spans:
            out.append(text[pos:start])
            out.append(PLACEHOLDERS[kind])
            counts[kind] += 1
            pos = end
        out.append(text[pos:])
        return "".join(out), counts


_DEFAULT: PiiRedactor | None = None


def default_redactor() -> PiiRedactor:
    """A process-wide redactor with every recogniser (built on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = PiiRedactor()
    return _DEFAULT


def redact(text: str) -> tuple[str, Counter[str]]:
    """Redact ``text`` with the default recognisers (see ``PiiRedactor.redact``)."""
    return default_redactor().redact(text)


def scan_for_pii(texts: Iterable[str], redactor: PiiRedactor | None = None) -> list[PiiFinding]:
    """Second PII scan over already-redacted texts: every finding left, with its text index and kind.

    Placeholders such as ``[EMAIL]`` are not PII and are not reported. An empty list means clean.
    """
    redactor = redactor or default_redactor()
    findings: list[PiiFinding] = []
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            continue
        for kind, start, end in redactor.find(text):
            findings.append(PiiFinding(index, kind, start, end, mask(text[start:end])))
    return findings
