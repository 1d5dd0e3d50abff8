"""Normalise every text of a record without touching code, sessions, tables or quotes.

A text is cut into *protected* blocks and *prose* (``llmops_factory.text.blocks``): fenced code
(```` ``` ```` / ``~~~``), indented code (4+ spaces or a tab), interactive sessions (``>>>`` / ``...``,
``$ `` prompts), Markdown tables (``|`` rows) and Markdown quotes (``>`` lines). Protected blocks come
out byte-identical (only ``\\r\\n`` line endings become ``\\n``, everywhere). Prose gets:

* Unicode: NFC composition; zero-width spaces, word joiners, soft hyphens and the BOM removed (the
  zero-width joiners of emoji sequences and Indic / Persian script stay); other control characters
  (except newline and tab) removed. Non-breaking and other Unicode spaces stay as written.
* Whitespace: more than two blank lines in a row become two; the text's leading and trailing blank lines
  and whitespace are stripped. Spaces inside a line (indentation, alignment, two spaces after a full
  stop) are content and stay as written; exact dedup compares texts with runs of whitespace collapsed
  (``llmops_beam.dedup.content_hash``), so they do not hide duplicates.
* Boilerplate: mobile-client signatures ("Sent from my iPhone", "Get Outlook for Android") on a line of
  their own, a short signature block after the RFC 3676 delimiter ``-- `` (dash, dash, space: a bare
  ``--`` is a Markdown rule or an SQL comment, not a delimiter), confidentiality disclaimers, the
  "please consider the environment" line, and a quoted earlier message from its "On <date>, <name>
  wrote:" line to the end. Counted per kind.

A text that is empty afterwards stays in the record (empty); the quality step decides what that means.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from llmops_factory.text.blocks import split_blocks

# zero-width space, word joiner, BOM, soft hyphen; ZWJ / ZWNJ stay (emoji sequences, Indic and Persian script)
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){3,}")
_SIGNATURE_MAX_LINES = 8
_SIGNATURE_MAX_CHARS = 400

# Boilerplate removed from prose: (name, pattern, cuts_to_end). A pattern that cuts to the end drops
# everything from its match to the end of the text (later blocks included).
BOILERPLATE: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    (
        "mobile_signature",
        re.compile(
            r"(?im)^[ \t]*(?:sent from my (?:iphone|ipad|android|samsung[^\n]*|galaxy[^\n]*|blackberry[^\n]*|"
            r"(?:mobile |smart)?phone|mobile device|huawei[^\n]*|pixel[^\n]*)|sent from (?:mail|outlook|yahoo mail|gmail)"
            r"(?: for (?:windows|ios|android|iphone)[^\n]*)?|get outlook for (?:ios|android)[^\n]*)[ \t]*[.!]?[ \t]*(?:\n|\Z)"
        ),
        False,
    ),
    (
        "disclaimer",
        re.compile(
            r"(?ims)^[ \t]*(?:confidentiality notice|disclaimer:|important notice:|this (?:e-?mail|message|communication)"
            r"(?: and any (?:attachments?|files?)(?: transmitted with it)?)? (?:is|are|may be|contains?) "
            r"(?:strictly )?(?:confidential|privileged|intended (?:solely |only )?for))[^\n]*(?:\n(?!\n)[^\n]*)*"
        ),
        False,
    ),
    (
        "print_notice",
        re.compile(r"(?im)^[ \t]*please consider the environment before printing[^\n]*(?:\n|\Z)"),
        False,
    ),
    # quoted earlier message: "On Mon, 3 Jun 2024 at 10:02, Ana <ana@x.com> wrote:" and everything after
    ("quoted_reply", re.compile(r"(?m)^[ \t]*On [^\n]{4,200}wrote:[ \t]*$"), True),
)
_SIGNATURE_DELIMITER = re.compile(r"(?m)^-- $")


def _normalize_prose(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    return _CONTROL.sub("", text)


def _signature_cut(text: str) -> int | None:
    """Offset of an RFC 3676 signature delimiter whose tail is short enough to be a signature."""
    for m in _SIGNATURE_DELIMITER.finditer(text):
        tail = text[m.end() :].strip("\n")
        if len(tail) <= _SIGNATURE_MAX_CHARS and tail.count("\n") < _SIGNATURE_MAX_LINES:
            return m.start()
    return None


def normalize_text(text: str, counts: Counter[str] | None = None) -> str:
    """Normalise one text (see the module docstring); ``counts`` gets the boilerplate removed by kind."""
    if not text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = split_blocks(text)
    last_prose = max((i for i, b in enumerate(blocks) if not b.protected), default=-1)
    out: list[str] = []
    for index, block in enumerate(blocks):
        if block.protected:
            out.append(block.text)
            continue
        prose = _normalize_prose(block.text)
        cut = False
        for name, pattern, to_end in BOILERPLATE:
            if to_end:
                m = pattern.search(prose)
                if m:
                    prose, cut = prose[: m.start()], True
                    if counts is not None:
                        counts[name] += 1
                    break
            else:
                prose, n = pattern.subn("", prose)
                if n and counts is not None:
                    counts[name] += n
        if not cut and index == last_prose:
            at = _signature_cut(prose)
            if at is not None:
                prose, cut = prose[:at], True
                if counts is not None:
                    counts["signature_block"] += 1
        out.append(_BLANK_RUN.sub("\n\n\n", prose))
        if cut:
            break
    return _trim("".join(out))


def _trim(text: str) -> str:
    """Strip leading blank lines and trailing whitespace; leading spaces only when they are not code."""
    text = text.rstrip()
    body = text.lstrip("\n \t")
    skipped = text[: len(text) - len(body)]
    line_start = skipped.rfind("\n") + 1
    indent = skipped[line_start:]
    if indent.startswith(("    ", "\t")):
        return indent + body
    return body


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
