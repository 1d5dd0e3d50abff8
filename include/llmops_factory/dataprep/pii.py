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

PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "iban": "[IBAN]",
    "credit_card": "[CREDIT_CARD]",
    "ip": "[IP_ADDRESS]",
    "phone": "[PHONE]",
    "person_name": "[PERSON]",
}
PII_KINDS: tuple[str, ...] = tuple(PLACEHOLDERS)
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
    r"(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![0-9A-Fa-f:])"
)

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
    # sign-offs: "Thanks,\nMaria Lopez" / "Best regards, Jonas" / "— Maria" at the end of a line
    re.compile(
        r"(?m)(?:\b(?:Thanks(?: again)?|Thank you|Many thanks|Regards|Best regards|Kind regards|Warm regards|"
        r"Best wishes|Best|Cheers|Sincerely|Yours sincerely|Yours truly|Cheers)[,.!]?[ ]*\n?[ ]*|^[ ]*[-–—]{1,2}[ ]*)"
        rf"{_NAME}[ ]*[.!]?[ ]*$"
    ),
)
# Lower-case words one of which must occur for the pattern at the same index to match.
_PERSON_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("i'm", "i’m", "i am", "my name", "name's", "name’s"),
    ("this is",),
    (" by ",),
    ("hi", "hello", "hey", "dear", "good "),
    ("thank", "regards", "best", "cheers", "sincerely", "yours", "-", "–", "—"),
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
    """.split()
)


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
    ((65, 65), 2, (16, 17, 18, 19)),
    ((3528, 3589), 4, (16, 17, 18, 19)),  # JCB
    ((300, 305), 3, (14, 15, 16, 17, 18, 19)),
    ((36, 36), 2, (14, 15, 16, 17, 18, 19)),
    ((38, 39), 2, (16, 17, 18, 19)),  # Diners Club
    ((62, 62), 2, (16, 17, 18, 19)),  # UnionPay
    ((50, 50), 2, tuple(range(12, 20))),
    ((56, 58), 2, tuple(range(12, 20))),  # Maestro
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
    ) -> None:
        unknown = sorted(set(kinds) - set(PII_KINDS))
        if unknown:
            raise ValueError(f"unknown PII kinds {unknown}; known: {', '.join(PII_KINDS)}")
        self.kinds = tuple(k for k in PII_KINDS if k in kinds)
        self.phone_regions = tuple(phone_regions)
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
                spans.append(m.span())
        if "::" in text or text.count(":") >= 3:
            for m in _IPV6.finditer(text):
                value = m.group(0)
                if not any(ch.isalnum() for ch in value):
                    continue
                try:
                    ipaddress.IPv6Address(value)
                except ValueError:
                    continue
                spans.append(m.span())
        return spans

    def _find_phone(self, text: str) -> Iterable[tuple[int, int]]:
        # libphonenumber's matcher is thorough but slow on long texts: run it only on short windows
        # around digit runs that could be a phone number (7+ digits with phone punctuation).
        spans: set[tuple[int, int]] = set()
        for candidate in _PHONE_CANDIDATE.finditer(text):
            if sum(ch.isdigit() for ch in candidate.group(0)) < 7:
                continue
            lo = max(0, candidate.start() - 4)
            window = text[lo : candidate.end() + 4]
            for region in self.phone_regions:
                for match in phonenumbers.PhoneNumberMatcher(
                    window, region, leniency=phonenumbers.Leniency.VALID
                ):
                    spans.add((lo + match.start, lo + match.end))
        return sorted(spans)

    @staticmethod
    def _find_person(text: str) -> Iterable[tuple[int, int]]:
        spans = []
        lowered = text.lower()
        for pattern, triggers in zip(_PERSON_PATTERNS, _PERSON_TRIGGERS, strict=True):
            if not any(t in lowered for t in triggers):
                continue  # cheap pre-check: the pattern's trigger words are absent
            for m in pattern.finditer(text):
                words = m.group("name").split(" ")
                # Drop trailing/leading words that are known non-names ("I'm Maria Again" -> "Maria").
                while words and words[-1].strip("'’-") in _NOT_NAMES:
                    words.pop()
                if not words or words[0] in _NOT_NAMES:
                    continue
                start = m.start("name")
                spans.append((start, start + len(" ".join(words))))
        return spans

    # -- public API -----------------------------------------------------------------------------------
    def find(self, text: str) -> list[tuple[str, int, int]]:
        """Non-overlapping ``(kind, start, end)`` spans, earlier recognisers winning overlaps."""
        taken: list[tuple[str, int, int]] = []
        for kind in self.kinds:
            for start, end in self._finders[kind](text):
                if start >= end:
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
