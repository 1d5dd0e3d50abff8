"""Toxicity scoring shared by data preparation, evaluation and monitoring.

``ToxicityClassifier`` is a model, not a word list: ``alt-profanity-check``'s linear SVM over TF-IDF
word n-grams (scikit-learn, calibrated probabilities), which runs offline from its PyPI wheel in about
0.1 ms per text. Its authors trained it on two public labelled sets: the Davidson et al. tweets
(hate speech / offensive language) and the Wikipedia comments of the Jigsaw toxic-comment challenge.
Figures on the Davidson set are therefore *in-sample* for this model (they show it works as built,
not how it generalises); the false-positive rate on real instruction data nobody here wrote is the
out-of-sample figure that decides the threshold (see docs/data-preparation.md).

Only the natural-language part of a text is scored: code blocks, inline code and code-like lines are
removed first (``llmops_factory.text.blocks.strip_code``), so ``len``, ``strip`` or ``kill -9`` in code
never count.

API (plain, so evaluation and monitoring score model answers the same way)::

    clf = ToxicityClassifier.load(settings)        # threshold from settings.dataprep.toxicity_threshold
    clf.scores(["text", ...]) -> list[float]        # probability of offensive language, 0..1
    clf.score("text") -> float
    clf.is_unsafe("text") -> bool                   # score >= threshold
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmops_factory.text.blocks import strip_code

DEFAULT_TOXICITY_THRESHOLD = 0.8
MODEL_NAME = "alt-profanity-check"


class ToxicityClassifier:
    """Offensive-language probability of texts; build once per process (loads the model) and reuse."""

    def __init__(self, threshold: float = DEFAULT_TOXICITY_THRESHOLD, strip_code_first: bool = True):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"toxicity threshold {threshold!r} must be in (0, 1]")
        self.threshold = threshold
        self.strip_code_first = strip_code_first
        self._load_model()

    def _load_model(self) -> None:
        """The package's TF-IDF vectoriser and its calibrated linear SVMs, flattened into one matrix.

        ``CalibratedClassifierCV.predict_proba`` costs ~5 ms per call in scikit-learn's checks, which is
        the whole budget of a record; the same figure is one sparse product and a sigmoid per fold:
        mean over folds of ``1 / (1 + exp(a * (x·w + b) + c))`` (the package's ``predict_prob``, to
        1e-9, tested).
        """
        import numpy as np
        from profanity_check import profanity_check as package

        folds = package.model.calibrated_classifiers_
        if any(type(f.calibrators[0]).__name__ != "_SigmoidCalibration" for f in folds):
            raise RuntimeError(f"{MODEL_NAME}: expected sigmoid-calibrated folds; the package model changed")
        self._vectorizer = package.vectorizer
        self._weights = np.vstack([f.estimator.coef_.ravel() for f in folds]).T
        self._bias = np.array([f.estimator.intercept_[0] for f in folds])
        self._a = np.array([f.calibrators[0].a_ for f in folds])
        self._b = np.array([f.calibrators[0].b_ for f in folds])

    def _predict_prob(self, texts: list[str]):
        import numpy as np

        decision = self._vectorizer.transform(texts) @ self._weights + self._bias
        return (1.0 / (1.0 + np.exp(self._a * decision + self._b))).mean(axis=1)

    @classmethod
    def load(cls, settings: Any | None = None) -> ToxicityClassifier:
        """A classifier with the threshold of ``settings.dataprep.toxicity_threshold`` (default settings
        when none are given)."""
        if settings is None:
            from llmops_factory.settings import get_settings

            settings = get_settings()
        return cls(threshold=settings.dataprep.toxicity_threshold)

    @property
    def model(self) -> str:
        from importlib.metadata import version

        return f"{MODEL_NAME}=={version(MODEL_NAME)}"

    def _prepare(self, text: str) -> str:
        return strip_code(text) if self.strip_code_first else text

    def scores(self, texts: Sequence[str]) -> list[float]:
        """Probability of offensive language for each text (0.0 for a text without natural language)."""
        prepared = [self._prepare(t or "") for t in texts]
        todo = [i for i, t in enumerate(prepared) if t.strip()]
        out = [0.0] * len(prepared)
        if todo:
            probs = self._predict_prob([prepared[i] for i in todo])
            for i, p in zip(todo, probs, strict=True):
                out[i] = round(float(p), 6)
        return out

    def score(self, text: str) -> float:
        return self.scores([text])[0]

    def is_unsafe(self, text: str) -> bool:
        return self.score(text) >= self.threshold

    def unsafe(self, texts: Sequence[str]) -> list[bool]:
        return [s >= self.threshold for s in self.scores(texts)]
