"""Scoring of the data-preparation filters against labelled public data that nobody here wrote.

The sets live in ``../shared/data/real/`` relative to the repository root (``real_data_dir``); see its
README. Used by ``benchmarks/bench_dataprep.py`` (full table) and by the tests (floors).

* ``score_pii`` — PII precision / recall per entity type the redactor claims, on the Presidio
  synthetic sentences: token level (whitespace tokens; a token is labelled with the type of the gold
  span it overlaps, ``O`` otherwise; a token is predicted as a kind when a found span overlaps it),
  plus span-level recall (a gold span counts as found when a span of the same kind overlaps it).
* ``score_toxicity`` — precision / recall of the offensive class (Davidson ``class`` 0 hate speech or
  1 offensive language) and the false-positive rate on the ``neither`` class, for a threshold.
* ``instruction_records`` — the human-written self-instruct records, each with its instances, as raw
  JSON lines the pipeline reads (for the "kept intact" check).

No Beam or Airflow import.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
PII_FILE = "pii-presidio-synth-v2.json"
OFFENSIVE_FILE = "offensive-davidson-labeled.csv"
INSTRUCTIONS_FILE = "instructions-self-instruct-user-oriented.jsonl"

# our PII kind -> the Presidio label of the same thing
PRESIDIO_LABELS: dict[str, str] = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "credit_card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ip": "IP_ADDRESS",
    "person_name": "PERSON",
}
_TOKEN = re.compile(r"\S+")


def real_data_dir() -> Path:
    """``../shared/data/real/`` relative to the repository root."""
    return (REPO_ROOT / ".." / "shared" / "data" / "real").resolve()


def available() -> bool:
    folder = real_data_dir()
    return all((folder / f).is_file() for f in (PII_FILE, OFFENSIVE_FILE, INSTRUCTIONS_FILE))


def load_pii_sentences(folder: Path | None = None) -> list[dict[str, Any]]:
    return json.loads(((folder or real_data_dir()) / PII_FILE).read_text(encoding="utf-8"))


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def score_pii(
    find: Callable[[str], list[tuple[str, int, int]]],
    sentences: list[dict[str, Any]],
    kinds: Iterable[str] = tuple(PRESIDIO_LABELS),
) -> dict[str, dict[str, Any]]:
    """Per kind: token precision / recall / F1 and span recall of ``find`` (text → ``(kind, start, end)``)."""
    kinds = tuple(kinds)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    spans_total: Counter[str] = Counter()
    spans_found: Counter[str] = Counter()
    fp_examples: dict[str, list[str]] = defaultdict(list)
    label_of = {v: k for k, v in PRESIDIO_LABELS.items()}
    for sentence in sentences:
        text = sentence["full_text"]
        gold = [
            (label_of.get(s["entity_type"], s["entity_type"]), s["start_position"], s["end_position"])
            for s in sentence["spans"]
        ]
        found = find(text)
        for kind, start, end in gold:
            if kind in kinds:
                spans_total[kind] += 1
                if _overlaps(start, end, [(s, e) for k, s, e in found if k == kind]):
                    spans_found[kind] += 1
        for m in _TOKEN.finditer(text):
            ts, te = m.span()
            gold_kind = next((k for k, s, e in gold if ts < e and s < te), "O")
            predicted = {k for k, s, e in found if ts < e and s < te}
            for kind in kinds:
                is_gold, is_pred = gold_kind == kind, kind in predicted
                if is_gold and is_pred:
                    tp[kind] += 1
                elif is_pred:
                    fp[kind] += 1
                    if len(fp_examples[kind]) < 5:
                        fp_examples[kind].append(f"{m.group(0)!r} (gold {gold_kind})")
                elif is_gold:
                    fn[kind] += 1
    out = {}
    for kind in kinds:
        p = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else None
        r = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else None
        f1 = 2 * p * r / (p + r) if p and r else None
        out[kind] = {
            "label": PRESIDIO_LABELS.get(kind, kind),
            "gold_spans": spans_total[kind],
            "span_recall": round(spans_found[kind] / spans_total[kind], 4) if spans_total[kind] else None,
            "token_precision": round(p, 4) if p is not None else None,
            "token_recall": round(r, 4) if r is not None else None,
            "token_f1": round(f1, 4) if f1 is not None else None,
            "false_positive_tokens": fp[kind],
            "false_positive_examples": fp_examples[kind],
        }
    return out


def load_offensive(folder: Path | None = None) -> list[tuple[str, int]]:
    """``(tweet, class)`` rows: 0 hate speech, 1 offensive language, 2 neither."""
    with ((folder or real_data_dir()) / OFFENSIVE_FILE).open(encoding="utf-8", newline="") as handle:
        return [(row["tweet"], int(row["class"])) for row in csv.DictReader(handle)]


def score_toxicity(scores: list[float], classes: list[int], threshold: float) -> dict[str, Any]:
    """Precision / recall of the offensive class (0 or 1) and the FPR on ``neither`` (2) at ``threshold``."""
    flagged = [s >= threshold for s in scores]
    positive = [c in (0, 1) for c in classes]
    tp = sum(f and p for f, p in zip(flagged, positive, strict=True))
    fp = sum(f and not p for f, p in zip(flagged, positive, strict=True))
    pos, neg = sum(positive), len(positive) - sum(positive)
    hate = [f for f, c in zip(flagged, classes, strict=True) if c == 0]
    return {
        "threshold": threshold,
        "records": len(classes),
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / pos, 4) if pos else None,
        "recall_hate_speech": round(sum(hate) / len(hate), 4) if hate else None,
        "false_positive_rate_neither": round(fp / neg, 4) if neg else None,
    }


def instruction_records(folder: Path | None = None) -> list[dict[str, Any]]:
    """The self-instruct records as they are in the file (``instruction`` + ``instances``)."""
    path = (folder or real_data_dir()) / INSTRUCTIONS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
