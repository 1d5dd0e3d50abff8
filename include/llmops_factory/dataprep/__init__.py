"""Data-preparation logic shared by the Beam pipeline and the DAG's validation task (no Beam, no Airflow).

* ``pii`` — the PII recognisers: ``PiiRedactor`` (used by the pipeline's RedactPii step) and
  ``scan_for_pii`` (the validation task's second scan).
* ``manifest`` — the manifest contract, ``reconcile`` and ``validate_day``; ``check_row`` checks a row
  against a warehouse schema.
"""

from __future__ import annotations

from llmops_factory.dataprep.manifest import (
    MANIFEST_FORMAT,
    DataValidationError,
    DayValidation,
    ReconciliationError,
    check_row,
    load_manifest,
    manifest_path,
    reconcile,
    validate_day,
)
from llmops_factory.dataprep.pii import PII_KINDS, PLACEHOLDERS, PiiFinding, PiiRedactor, redact, scan_for_pii

__all__ = [
    "MANIFEST_FORMAT",
    "PII_KINDS",
    "PLACEHOLDERS",
    "DataValidationError",
    "DayValidation",
    "PiiFinding",
    "PiiRedactor",
    "ReconciliationError",
    "check_row",
    "load_manifest",
    "manifest_path",
    "reconcile",
    "redact",
    "scan_for_pii",
    "validate_day",
]
