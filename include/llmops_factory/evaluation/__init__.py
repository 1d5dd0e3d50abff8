"""Evaluation logic with no Airflow import: metrics, benchmark, checks, contamination, gate, review, report.

* ``metrics`` — ROUGE-1/2/L (rouge-score), BLEU and chrF (sacrebleu), exact match, confidence intervals.
* ``benchmark`` — MMLU-format multiple-choice items: the domain benchmark built from the facts table and
  any MMLU CSV; scoring by option log-likelihood happens in the trainer's batch-generate entrypoint.
* ``checks`` — safety (the shared toxicity classifier), PII leaks, hallucination against the facts table,
  relevance (sentence embeddings), counterfactual bias probes, intents for per-slice results.
* ``contamination`` — eval and benchmark items that are near-duplicates of training examples.
* ``gate`` — the quality gate: a pure function that fails closed.
* ``review`` — the human-review sample, label validation, the simulated reviewer.
* ``report`` — the HTML report with plots.
"""

from __future__ import annotations
