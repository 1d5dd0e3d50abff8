"""Failure notifier shared by every DAG (``default_args["on_failure_callback"]``).

It writes one e-mail-style message per failed task: to the task log and, on the local target, to the
outbox folder ``.llmops/outbox/`` (one file per DAG run and task, so a retry overwrites its own
message); on gcp, as a structured ERROR log entry that the Cloud Monitoring alert policy of the
Terraform module matches (and by e-mail when an SMTP connection is configured in Composer).
"""

from __future__ import annotations

import json
import logging
import re
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
        msg = self.message(context, self.subject)
        log.error("LLMOPS_TASK_FAILED %s", json.dumps(msg, sort_keys=True, default=str))
        from llmops_factory.settings import get_settings

        settings = get_settings()
        if settings.target != "local":
            return
        outbox = settings.local.home / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{msg['dag_id']}__{msg['run_id']}__{msg['task_id']}") + ".eml"
        body = "\n".join(f"{k}: {v}" for k, v in msg.items() if k != "subject")
        to = settings.alert_email or "oncall@localhost"
        (outbox / name).write_text(f"To: {to}\nSubject: {msg['subject']}\n\n{body}\n", encoding="utf-8")
