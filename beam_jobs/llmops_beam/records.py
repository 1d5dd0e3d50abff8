"""Element shapes shared by the pipeline's steps, and the helpers that build dead letters and filter marks.

Elements are plain dicts (cheap to encode on every runner):

* raw record (``io``): ``source``, ``source_uri`` (relative layout path of the file), ``source_record``
  (locator: ``line:12``, ``section:3``, ``document``), ``source_format``, ``sort_key``, ``payload``
  (``str``, or ``bytes`` when it could not be decoded) and ``meta`` (format-specific extras).
* record (``parse`` onwards): the raw record's location fields plus ``kind`` (``conversation``,
  ``instruction``, ``section``, ``ticket``), ``group_key``, ``record_id`` and ``texts`` — a list of
  ``[label, text]`` pairs every text step works on uniformly (labels: ``system``/``user``/``assistant``
  for conversations; ``instruction``/``input``/``output``; ``title``/``heading``/``body``;
  ``subject``/``customer_message``/``agent_reply``). Later steps add ``pii`` (count per text),
  ``language`` and ``content_hash``.

Every record leaves the pipeline exactly once: as examples, as a *filtered* mark (a valid record that a
policy rejects: quality, duplicates) or as a *dead letter* (a record that cannot be used as data).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

# Output tags of the multi-output steps.
DEAD_LETTER = "dead_letter"
FILTERED = "filtered"
STATS = "stats"

EXCERPT_CHARS = 240
_LOCATOR = re.compile(r"^(?P<kind>[a-z]+):(?P<n>\d+)$")


def sort_key(source_uri: str, locator: str) -> str:
    """A total order on records that follows file order (``line:9`` before ``line:10``)."""
    m = _LOCATOR.match(locator)
    loc = f"{m.group('kind')}:{int(m.group('n')):012d}" if m else locator
    return f"{source_uri}#{loc}"


def stable_hash(*parts: str) -> str:
    """SHA-256 hex of the parts joined with a separator that cannot occur in them."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def location(element: dict[str, Any]) -> dict[str, Any]:
    """The location fields every dead letter and filter mark carries."""
    return {
        "source": element["source"],
        "source_uri": element["source_uri"],
        "source_record": element["source_record"],
    }


def excerpt(value: Any, redactor: Any, limit: int = EXCERPT_CHARS) -> str:
    """The first characters of a raw value, PII-redacted (undecodable bytes shown with escapes)."""
    if isinstance(value, bytes):
        text = value[: limit * 4].decode("utf-8", "backslashreplace")
    elif isinstance(value, str):
        text = value
    else:
        import json

        text = json.dumps(value, ensure_ascii=False, default=str)
    text = text[:limit].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    redacted, _ = redactor.redact(text)
    return redacted


def dead_letter(
    element: dict[str, Any], stage: str, reason: str, detail: str, raw: Any, redactor: Any
) -> dict:
    """A dead letter (without the run's ``dataset_version``/``source_date``, added by the sink)."""
    return {
        **location(element),
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "raw_excerpt": excerpt(raw, redactor),
        "sort_key": element["sort_key"],
    }


def filtered(element: dict[str, Any], stage: str, reason: str, detail: str) -> dict:
    """A filter mark: a valid record that a policy rejected (counted in the manifest by reason)."""
    return {**location(element), "stage": stage, "reason": reason, "detail": detail}


def full_text(record: dict[str, Any]) -> str:
    """All texts of a record joined by newlines (what dedup and the length filter look at)."""
    return "\n".join(text for _, text in record["texts"])
