"""Normalise every text of a record: Unicode NFC, whitespace, boilerplate.

* Unicode: NFC composition; zero-width characters and the BOM removed; other control characters
  (except newline and tab) removed; non-breaking and other Unicode spaces become a plain space.
* Whitespace: ``\\r\\n`` → ``\\n``; runs of spaces/tabs → one space; spaces at line ends removed; more
  than one blank line → one blank line; leading/trailing whitespace stripped.
* Boilerplate: mobile-client signatures ("Sent from my iPhone", "Get Outlook for Android"), the
  signature block after an RFC 3676 ``-- `` delimiter, confidentiality disclaimers, and quoted earlier
  messages ("On <date>, <name> wrote:" and ``>`` lines). Counted per kind.

A text that is empty afterwards stays in the record (empty); the quality step decides what that means.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_UNICODE_SPACE = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SPACES = re.compile(r"[ \t]+")
_LINE_END_SPACE = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")

BOILERPLATE: tuple[tuple[str, re.Pattern[str]], ...] = (
    # a line that is only a mobile/mail-client signature
    (
        "mobile_signature",
        re.compile(
            r"(?im)^[ \t]*(?:sent from my (?:iphone|ipad|android|samsung[^\n]*|galaxy[^\n]*|blackberry[^\n]*|"
            r"(?:mobile |smart)?phone|mobile device|huawei[^\n]*|pixel[^\n]*)|sent from (?:mail|outlook|yahoo mail|gmail)"
            r"(?: for (?:windows|ios|android|iphone)[^\n]*)?|get outlook for (?:ios|android)[^\n]*)[ \t]*[.!]?[ \t]*$"
        ),
    ),
    # everything after an RFC 3676 signature delimiter ("-- " alone on a line)
    ("signature_block", re.compile(r"(?s)\n-- ?\n.*\Z")),
    # quoted earlier message: "On Mon, 3 Jun 2024 at 10:02, Ana <ana@x.com> wrote:" and everything after
    ("quoted_reply", re.compile(r"(?ms)^[ \t]*On [^\n]{4,200}wrote:[ \t]*\n.*\Z")),
    ("quoted_lines", re.compile(r"(?m)^[ \t]*>[^\n]*(?:\n|\Z)")),
    # confidentiality disclaimers: the paragraph that carries one
    (
        "disclaimer",
        re.compile(
            r"(?ims)^[ \t]*(?:confidentiality notice|disclaimer|important notice|this (?:e-?mail|message|communication)"
            r"(?: and any (?:attachments?|files?)(?: transmitted with it)?)? (?:is|are|may be|contains?) "
            r"(?:strictly )?(?:confidential|privileged|intended (?:solely |only )?for))[^\n]*(?:\n(?!\n)[^\n]*)*"
        ),
    ),
    ("print_notice", re.compile(r"(?im)^[ \t]*please consider the environment before printing[^\n]*$")),
)


def normalize_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _UNICODE_SPACE.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_END_SPACE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def normalize_text(text: str, counts: Counter[str] | None = None) -> str:
    """NFC + control/zero-width removal + boilerplate removal + whitespace normalisation."""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\t", " "))
    for name, pattern in BOILERPLATE:
        text, n = pattern.subn("", text)
        if n and counts is not None:
            counts[name] += n
    return normalize_whitespace(text)


class NormalizeTextFn(beam.DoFn):
    """Normalise every ``[label, text]`` of a record in place; count boilerplate removals by kind."""

    def __init__(self):
        self.records = Metrics.counter("normalize", "records")
        self.boilerplate = Metrics.counter("normalize", "boilerplate_removed")

    def process(self, record: dict[str, Any]):
        counts: Counter[str] = Counter()
        record = dict(record)
        record["texts"] = [[label, normalize_text(text, counts)] for label, text in record["texts"]]
        self.records.inc()
        if counts:
            self.boilerplate.inc(sum(counts.values()))
            for name, n in counts.items():
                Metrics.counter("normalize", f"boilerplate.{name}").inc(n)
        yield record


class NormalizeText(beam.PTransform):
    """Records → records with normalised texts."""

    def expand(self, records):
        return records | "NormalizeUnicodeWhitespaceBoilerplate" >> beam.ParDo(NormalizeTextFn())
