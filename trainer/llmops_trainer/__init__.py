"""LLMOps Factory model-side package: the training container's code.

One entrypoint, ``python -m llmops_trainer <command>``, runs the same way in a Vertex AI custom job and as a
local process: arguments are typed dataclasses plus an optional YAML config file, outputs follow the
Vertex AI ``AIP_*`` environment contract (``AIP_MODEL_DIR``, ``AIP_CHECKPOINT_DIR``,
``AIP_TENSORBOARD_LOG_DIR``).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
