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
        msg = self.message(context, self.subject)
        log.error("LLMOPS_TASK_FAILED %s", json.dumps(msg, sort_keys=True, default=str))
        from llmops_factory.settings import get_settings

        settings = get_settings()
        if settings.target != "local":
            return
        outbox = settings.local.home / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{msg['dag_id']}__{msg['run_id']}__{msg['task_id']}")
        name += f"__{msg['map_index']}.eml" if msg["map_index"] is not None else ".eml"
        body = "\n".join(
            f"{k}: {v}" for k, v in msg.items() if k not in ("subject", "runbook") and v is not None
        )
        body += f"\n\nrunbook:\n{msg['runbook']}"
        to = settings.alert_email or "oncall@localhost"
        (outbox / name).write_text(f"To: {to}\nSubject: {msg['subject']}\n\n{body}\n", encoding="utf-8")
