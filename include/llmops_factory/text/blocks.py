"""Cut a text into prose and the blocks that must never be rewritten (code, sessions, tables, quotes).

``split_blocks(text)`` returns consecutive ``Block``s whose texts concatenate to the input exactly.
Protected kinds:

========== =====================================================================================
kind       lines
========== =====================================================================================
fence      from a ```` ``` ```` or ``~~~`` fence (up to 3 spaces before it) to its closing fence of
           the same character and at least the same length, or to the end of the text
indented   lines indented by 4+ spaces or a tab (with the blank lines between them)
session    an interactive session: ``>>>`` / ``...`` lines and the output lines after them up to a
           blank line; shell lines starting with ``$ ``
table      Markdown table rows (a line starting with ``|``)
quote      Markdown / e-mail quotes (a line starting with ``>``)
========== =====================================================================================

``code_spans`` adds inline code (```` `x` ````) to the code blocks; ``strip_code`` returns the natural
language part of a text (code blocks, inline code and lines that look like code removed) for the
language filter. No third-party import.
"""

from __future__ import annotations

import dataclasses
import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)[^`\n]+?\1")
_CODE_KEYWORD = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|elif |else:|try:|except\b|finally:|with |"
    r"for \S+ in |while .*:$|if .*[:{]$|#include|#define|using namespace|public |private |protected |"
    r"static |void |int |func |fn |let |const |var |function\b|package |SELECT\b|INSERT\b|UPDATE\b|"
    r"DELETE\b|CREATE\b|ALTER\b|DROP\b|WHERE\b|FROM\b|GROUP BY|ORDER BY|print\(|console\.|System\.|"
    r"std::|<[/!?]?[A-Za-z][^>]*>|[{}\[\]();]+,?$|\w+(?:\.\w+)*\s*=\s*\S|\w+(?:\.\w+)*\(.*\)\s*;?$)"
)
_SYMBOLS = re.compile(r"[{}\[\]()<>=;:+\-*/\\|&%$#@^~`\"'_.,0-9]")


@dataclasses.dataclass(frozen=True)
class Block:
    kind: str  # "prose", "fence", "indented", "session", "table", "quote"
    start: int
    text: str

    @property
    def protected(self) -> bool:
        return self.kind != "prose"

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def _kind_of(line: str) -> str | None:
    """The protected kind a single line starts, or None for prose (fences are handled apart)."""
    if line.startswith(("    ", "\t")) and line.strip():
        return "indented"
    stripped = line.lstrip(" ")
    if stripped.startswith((">>>", "$ ")):
        return "session"
    if stripped.startswith("|"):
        return "table"
    if stripped.startswith(">"):
        return "quote"
    return None


def split_blocks(text: str) -> list[Block]:
    """Consecutive prose / protected blocks of ``text`` (their texts concatenate to ``text``)."""
    lines = text.splitlines(keepends=True)
    kinds: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r\n")
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group(1)
            closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            j = i + 1
            while j < len(lines) and not closing.match(lines[j].rstrip("\r\n")):
                j += 1
            end = min(j + 1, len(lines))
            kinds.extend(["fence"] * (end - i))
            i = end
            continue
        kind = _kind_of(line)
        if kind == "session":
            kinds.append(kind)
            i += 1
            # ">>>" output and "..." continuation lines run to the next blank line
            while i < len(lines) and lines[i].strip() and not _FENCE.match(lines[i]):
                kinds.append("session")
                i += 1
            continue
        if kind is None and not line.strip() and kinds and kinds[-1] == "indented":
            # a blank line inside indented code stays with it when the code goes on after it
            j = i
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _kind_of(lines[j].rstrip("\r\n")) == "indented":
                kinds.extend(["indented"] * (j - i))
                i = j
                continue
        kinds.append(kind or "prose")
        i += 1
    blocks: list[Block] = []
    pos = 0
    for line, kind in zip(lines, kinds, strict=True):
        if blocks and blocks[-1].kind == kind:
            last = blocks[-1]
            blocks[-1] = Block(kind, last.start, last.text + line)
        else:
            blocks.append(Block(kind, pos, line))
        pos += len(line)
    return blocks


def protected_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every protected block."""
    return [(b.start, b.end) for b in split_blocks(text) if b.protected]


def code_blocks(text: str) -> list[str]:
    """The texts of the code blocks (fenced, indented and sessions), in order."""
    return [b.text for b in split_blocks(text) if b.kind in ("fence", "indented", "session")]


def code_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of code: fenced / indented blocks, sessions and inline ```` `code` ```` spans."""
    spans = []
    for block in split_blocks(text):
        if block.kind in ("fence", "indented", "session"):
            spans.append((block.start, block.end))
        elif block.kind == "prose":
            spans.extend(
                (block.start + m.start(), block.start + m.end()) for m in _INLINE_CODE.finditer(block.text)
            )
    return spans


def looks_like_code(line: str) -> bool:
    """A line of unfenced code, JSON or markup (a keyword start, or mostly symbols and digits)."""
    stripped = line.strip()
    if not stripped:
        return False
    if _CODE_KEYWORD.match(stripped):
        return True
    letters = sum(ch.isalpha() for ch in stripped)
    symbols = len(_SYMBOLS.findall(stripped))
    return symbols >= 4 and symbols > letters


def strip_code(text: str) -> str:
    """The natural-language part of ``text``: protected blocks, inline code and code-like lines removed."""
    kept = []
    for block in split_blocks(text):
        if block.protected:
            kept.append("\n")
            continue
        prose = _INLINE_CODE.sub(" ", block.text)
        kept.extend(line for line in prose.splitlines(keepends=True) if not looks_like_code(line))
    return "".join(kept)
