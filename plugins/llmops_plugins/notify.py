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

log = logging.getLogger("llmops.notify")


class LLMOpsFailureNotifier(BaseNotifier):
    """Tell on-call which task failed, why, and where the runbook is."""

    template_fields = ("subject",)

    def __init__(self, subject: str = "[llmops] {{ dag.dag_id }}.{{ ti.task_id }} failed ({{ run_id }})"):
        super().__init__()
        self.subject = subject

    @staticmethod
    def message(context: dict[str, Any], subject: str) -> dict[str, Any]:
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        exc = context.get("exception")
        return {
            "subject": subject,
            "dag_id": getattr(dag, "dag_id", None),
            "task_id": getattr(ti, "task_id", None),
            "run_id": context.get("run_id"),
            "try_number": getattr(ti, "try_number", None),
            "logical_date": str(context.get("logical_date")),
            "error": f"{type(exc).__name__}: {exc}" if exc else None,
            "runbook": f"See the DAG's doc_md (Airflow UI → DAG {getattr(dag, 'dag_id', '')} → Docs).",
        }

    def notify(self, context: dict[str, Any]) -> None:
        from llmops_plugins.platform import get_platform

        get_platform().notify(self.message(context, self.subject))
