"""Redact PII in every text of a record with the shared recognisers (``llmops_factory.dataprep.pii``).

Each text's PII spans become typed placeholders (``[EMAIL]``, ``[PHONE]``, ``[CREDIT_CARD]``, ``[IBAN]``,
``[IP_ADDRESS]``, ``[PERSON]``); the record keeps the count per text (``pii``, used for the example's
``pii_redacted``) and the step emits ``(kind, count)`` pairs on its ``stats`` output, which the manifest
sums. The same recognisers run again in the DAG's validation task (``scan_for_pii``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from llmops_beam.records import STATS


class RedactPiiFn(beam.DoFn):
    """Replace PII with placeholders; ``stats`` output: ``("pii.<kind>", n)`` per record with PII."""

    def __init__(self, phone_regions: tuple[str, ...] | None = None):
        self.phone_regions = phone_regions
        self.records_with_pii = Metrics.counter("redact_pii", "records_with_pii")

    def setup(self):
        from llmops_factory.dataprep.pii import DEFAULT_PHONE_REGIONS, PiiRedactor

        self.redactor = PiiRedactor(phone_regions=self.phone_regions or DEFAULT_PHONE_REGIONS)

    def process(self, record: dict[str, Any]):
        total: Counter[str] = Counter()
        texts, per_text = [], []
        for label, text in record["texts"]:
            redacted, counts = self.redactor.redact(text)
            texts.append([label, redacted])
            per_text.append(sum(counts.values()))
            total.update(counts)
        record = dict(record, texts=texts, pii=per_text)
        if total:
            self.records_with_pii.inc()
            for kind, n in sorted(total.items()):
                Metrics.counter("redact_pii", kind).inc(n)
                yield beam.pvalue.TaggedOutput(STATS, (f"pii.{kind}", n))
        yield record


class RedactPii(beam.PTransform):
    """Records → ``records`` (redacted) and ``stats`` (PII counts by kind)."""

    def __init__(self, phone_regions: tuple[str, ...] | None = None):
        super().__init__()
        self.phone_regions = phone_regions

    def expand(self, records):
        return records | "ReplaceWithPlaceholders" >> beam.ParDo(
            RedactPiiFn(self.phone_regions)
        ).with_outputs(STATS, main="records")
