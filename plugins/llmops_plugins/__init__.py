"""Airflow glue of LLMOps Factory: the target switch, step operators, defaults and notifier.

Domain logic lives in ``llmops_factory`` (``include/``); this package only adapts it to Airflow.
"""
