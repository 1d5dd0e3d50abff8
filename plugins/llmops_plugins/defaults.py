"""Defaults shared by every DAG: start date, default_args (retries with backoff, timeouts, notifier)."""

from __future__ import annotations

import datetime as dt

import pendulum

from llmops_plugins.notify import LLMOpsFailureNotifier

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
OWNER = "llmops"

DEFAULT_ARGS = {
    "owner": OWNER,
    "depends_on_past": False,
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "execution_timeout": dt.timedelta(hours=2),
    "on_failure_callback": [LLMOpsFailureNotifier()],
}


def tags(*stage: str) -> list[str]:
    """Every DAG is tagged ``llmops`` plus its stage(s), so the UI filters the factory's DAGs."""
    return ["llmops", *stage]
