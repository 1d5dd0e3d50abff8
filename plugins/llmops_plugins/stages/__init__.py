"""Lifecycle stages: one module per stage, each step with its ``local`` and ``gcp`` bodies side by side.

* :mod:`~llmops_plugins.stages.prompts` — resolve and pin the prompt of a run;
* :mod:`~llmops_plugins.stages.data` — raw partitions → Beam → warehouse → validated daily dataset;
* :mod:`~llmops_plugins.stages.training` — snapshot, base model, sweep, training jobs, registration;
* :mod:`~llmops_plugins.stages.serving` — serving registry version, canary deploy, smoke test, restore,
  deployment events, aliases.

The dispatch (which body runs on which target, delegation to provider operators, no retry for a
deterministic failure) lives in :mod:`~llmops_plugins.stages.base`; the services a body uses (storage,
warehouse, registry, tracking, notifier) come from the platform adapter it is given.
"""
