"""Text utilities shared by data preparation, dataset snapshots and evaluation (no Beam, no Airflow).

* ``neardup`` — the one definition of "near duplicate" (5-word shingle Jaccard) with its MinHash
  signature and an in-memory LSH index (``NearDupIndex``).
"""

from __future__ import annotations
