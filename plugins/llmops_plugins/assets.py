"""Assets that chain the lifecycle DAGs (data-aware scheduling).

Name-only assets: their identity does not depend on the target (the same on local and gcp) and
creating them loads no provider's URI handlers at parse time. The asset events carry the concrete
location (dataset version, storage URI, model version) in their ``extra``.
"""

from __future__ import annotations

from airflow.sdk import Asset

INSTRUCTION_DATASET = Asset(name="llmops_instruction_dataset", group="llmops")
CANDIDATE_MODEL = Asset(name="llmops_candidate_model", group="llmops")
#: a model version approved by evaluation (extra: a Candidate with ``model_version``); deployment runs on it
APPROVED_MODEL = Asset(name="llmops_approved_model", group="llmops")
