"""Failure notifier shared by every DAG (``default_args["on_failure_callback"]``).

It builds one e-mail-style message per failed task and hands it to the platform adapter: every target
logs it as a structured ERROR line (on gcp, the Cloud Monitoring alert policy of the Terraform module
matches it); the local target also writes it to the outbox folder ``.llmops/outbox/`` (one file per DAG
run and task, so a retry overwrites its own message).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from llmops_factory.oncall import runbook_excerpt

log = logging.getLogger("llmops.notify")


class LLMOpsFailureNotifier(BaseNotifier):
    """Tell on-call which DAG, task, run and try failed, why, where its log is, and what the runbook
    says about that task (its paragraphs from the DAG's ``doc_md``, matched by task id)."""

    template_fields = ("subject",)

    def __init__(self, subject: str = "[llmops] {{ dag.dag_id }}.{{ ti.task_id }} failed ({{ run_id }})"):
        super().__init__()
        self.subject = subject

    @staticmethod
    def message(context: dict[str, Any], subject: str) -> dict[str, Any]:
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        exc = context.get("exception")
        dag_id = getattr(dag, "dag_id", None)
        task_id = getattr(ti, "task_id", None)
        map_index = getattr(ti, "map_index", -1)
        return {
            "subject": subject,
            "dag_id": dag_id,
            "task_id": task_id,
            "map_index": map_index if isinstance(map_index, int) and map_index >= 0 else None,
            "run_id": context.get("run_id"),
            "try_number": getattr(ti, "try_number", None),
            "logical_date": str(context.get("logical_date")),
            "error": f"{type(exc).__name__}: {exc}" if exc else None,
            "log_url": getattr(ti, "log_url", None),
            "runbook": runbook_excerpt(getattr(dag, "doc_md", None), task_id or "")
            or f"The runbook does not name {task_id}: see the DAG's Docs.",
            "docs": f"Airflow UI → DAG {dag_id} → Docs (the full runbook).",
        }

    def notify(self, context: dict[str, Any]) -> None:
        from llmops_plugins.platform import get_platform

        get_platform().notify(self.message(context, self.subject))
