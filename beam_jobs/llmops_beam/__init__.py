"""Apache Beam pipeline of data preparation: raw conversations and documents → instruction examples.

Modules, in pipeline order: ``io`` (read a day's partition, per-file format detection), ``parse``
(parse and validate), ``normalize`` (Unicode, whitespace, boilerplate), ``pii`` (redaction), ``quality``
(length, language, toxicity, structure), ``dedup`` (exact and MinHash-LSH near-duplicates), ``format``
(instruction examples via the shared prompt renderer), ``split`` (train/eval by group key), ``sinks``
(JSONL shards, dead letters, manifest) and ``pipeline`` (``run(argv)``).
"""

from __future__ import annotations
