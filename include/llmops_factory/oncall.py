"""On-call helpers: the runbook text of one task, taken from its DAG's ``doc_md``.

A DAG's module docstring is its runbook (shown under DAG → Docs in the UI). It names each task in
backticks, in the list of what the DAG does and in the list of failures and what to do. When a task
fails, the notification quotes those blocks, so whoever is paged reads the fix for *that* task
without opening the docs.
"""

from __future__ import annotations

import re

_HEADING = re.compile(r"^\s*(#{1,6}\s+.*|\*\*[^*]+\*\*.*)$")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+")


def _blocks(doc_md: str) -> list[tuple[str, str]]:
    """Split markdown into ``(section, block)`` pairs: list items (with their continuation lines)
    and paragraphs; ``section`` is the nearest heading or bold paragraph lead above the block."""
    blocks: list[tuple[str, str]] = []
    section = ""
    current: list[str] = []

    def flush() -> None:
        if current:
            blocks.append((section, "\n".join(current).strip()))
            current.clear()

    for line in doc_md.splitlines():
        if not line.strip():
            flush()
            continue
        item = _ITEM.match(line)
        if item and len(item.group(1)) == 0:
            flush()
            current.append(line)
            continue
        if not current and _HEADING.match(line):
            lead = line.strip().lstrip("#").strip()
            bold = re.match(r"\*\*([^*]+)\*\*", lead)
            section = (bold.group(1) if bold else lead).strip()
            if bold and lead[bold.end() :].strip():  # a bold lead followed by text is also a paragraph
                current.append(line)
            continue
        current.append(line)
    flush()
    return blocks


def _names_task(block: str, task_id: str) -> bool:
    return re.search(rf"`{re.escape(task_id)}`", block) is not None


def runbook_paragraphs(doc_md: str | None, task_id: str) -> list[str]:
    """The runbook blocks that name ``task_id`` (in backticks): those under a *failure* section first,
    then the others (what the task does), each once, in document order within its group."""
    if not doc_md or not task_id:
        return []
    failures, others = [], []
    for section, block in _blocks(doc_md):
        if not _names_task(block, task_id):
            continue
        (failures if "fail" in section.lower() else others).append(block)
    return list(dict.fromkeys(failures + others))


def runbook_excerpt(doc_md: str | None, task_id: str, *, max_chars: int = 2000) -> str | None:
    """:func:`runbook_paragraphs` joined into one text for a notification (``None`` if the runbook does
    not name the task), cut at ``max_chars``."""
    paragraphs = runbook_paragraphs(doc_md, task_id)
    if not paragraphs:
        return None
    text = "\n\n".join(paragraphs)
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"
