"""Checks over model responses, in one place: the shared safety classifier and the evaluation checks.

Monitoring scores live responses with the same code that scores data (data preparation) and candidate
models (evaluation), never a copy of its own:

* unsafe — :class:`llmops_factory.safety.ToxicityClassifier` (the shared toxicity model), threshold
  ``monitoring.toxicity_threshold``;
* PII leak — :class:`llmops_factory.dataprep.pii.PiiRedactor` (the data-preparation recognisers);
* relevance — cosine similarity of the prompt's and the response's sentence embeddings (the drift
  embedder), mapped to 0..1;
* hallucination — the evaluation stage's grounding check (``llmops_factory.evaluation``) when it is
  installed; until then the metric is reported as not computed (no row), never as zero.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def instance_text(instance: Any) -> str:
    """The user's text of a logged request instance (JSON of the prompt variables, or a plain string)."""
    if instance is None:
        return ""
    value = instance
    if isinstance(instance, str):
        try:
            value = json.loads(instance)
        except ValueError:
            return instance
    if isinstance(value, dict):
        parts = [str(value.get(k) or "") for k in ("instruction", "prompt", "question", "input", "text")]
        parts = [p for p in parts if p.strip()] or [str(v) for v in value.values() if isinstance(v, str)]
        return "\n".join(parts)
    return str(value)


@dataclasses.dataclass(frozen=True)
class ResponseScores:
    unsafe: list[bool]
    pii: list[bool]
    hallucinated: list[bool] | None


class ResponseChecks:
    """Build once per task (loads the classifier), then ``score`` batches of responses."""

    def __init__(self, toxicity_threshold: float) -> None:
        from llmops_factory.dataprep.pii import PiiRedactor
        from llmops_factory.safety import ToxicityClassifier

        self.toxicity = ToxicityClassifier(threshold=toxicity_threshold)
        self.pii = PiiRedactor()
        self.grounding = _grounding_check()

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> ResponseScores:
        texts = [r or "" for r in responses]
        unsafe = self.toxicity.unsafe(texts)
        pii = [bool(self.pii.find(t)) for t in texts]
        hallucinated = None
        if self.grounding is not None:
            hallucinated = [bool(x) for x in self.grounding(list(prompts), texts)]
        return ResponseScores(unsafe, pii, hallucinated)


def _grounding_check():
    """The evaluation stage's hallucination check over responses: ``(prompts, responses) -> [bool]``, an
    answer counting as hallucinated when a price, duration or policy it states contradicts the facts
    table (``llmops_factory.evaluation.checks.hallucinated``). ``None`` where evaluation is not installed
    (the metric is then absent, never zero)."""
    if importlib.util.find_spec("llmops_factory.evaluation") is None:
        log.info("llmops_factory.evaluation is not installed: hallucination_rate is not computed")
        return None
    from llmops_factory.evaluation.checks import hallucinated

    def check(prompts: Sequence[str], responses: Sequence[str]) -> list[bool]:
        return [bool(hallucinated(r or "")) for r in responses]

    return check


def relevance(embed, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
    """Answer relevance in 0..1: cosine similarity of prompt and response embeddings, (cos + 1) / 2."""
    import numpy as np

    if not prompts:
        return []
    a = embed(list(prompts))
    b = embed([r or "" for r in responses])
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return [float((c + 1) / 2) for c in cos]
