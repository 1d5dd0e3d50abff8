"""Realistic raw corpus generator for the Nimbus support domain (deterministic for a seed and a date).

Public API::

    from llmops_factory.datagen import generate_day, generate_range, load_facts, DefectRates

    summary = generate_day("file:///srv/llmops/storage", "2026-03-01", seed=0, scale=200)

See ``docs/data-generator.md`` for the formats, the injected defects and the ground truth.
"""

from __future__ import annotations

from llmops_factory.datagen.defects import KINDS, DefectRates, RatesError, jaccard, shingles
from llmops_factory.datagen.facts import FactItem, Facts, FactsError, fact_items, load_facts
from llmops_factory.datagen.generator import (
    DEFAULT_SCALE,
    DEFAULT_SHARD_SIZE,
    SOURCES,
    GenerationError,
    date_range,
    eligible_kinds,
    full_text,
    generate_day,
    generate_range,
    plan_counts,
)

__all__ = [
    "DEFAULT_SCALE",
    "DEFAULT_SHARD_SIZE",
    "KINDS",
    "SOURCES",
    "DefectRates",
    "FactItem",
    "Facts",
    "FactsError",
    "GenerationError",
    "RatesError",
    "date_range",
    "eligible_kinds",
    "fact_items",
    "full_text",
    "generate_day",
    "generate_range",
    "jaccard",
    "load_facts",
    "plan_counts",
    "shingles",
]
