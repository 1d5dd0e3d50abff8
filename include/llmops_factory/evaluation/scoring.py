"""Every metric of one model from its batch-generation outputs: one function, the same for all roles.

Inputs are what the trainer's ``batch-generate`` wrote: answers to the eval questions (``kind = eval``),
to the counterfactual probes (``probe``) and to the toxic prompts (``toxic``), the option
log-likelihoods of each benchmark item, and the held-out loss. Items flagged as contaminated are left
out and counted. An empty answer set fails; a model that answers nothing cannot pass by silence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_factory.errors import DeterministicError
from llmops_factory.evaluation import benchmark as bm
from llmops_factory.evaluation import checks
from llmops_factory.evaluation.metrics import generation_metrics, item_scores

KEY_METRICS = (
    "rouge1",
    "rouge2",
    "rouge_l",
    "bleu",
    "chrf",
    "exact_match",
    "eval_loss",
    "perplexity",
    "benchmark_accuracy",
    "unsafe_rate",
    "toxic_prompt_unsafe_rate",
    "pii_leak_rate",
    "hallucination_rate",
    "relevance",
    "bias_gap",
)


class ScoringError(DeterministicError, ValueError):
    """Generation outputs are missing or empty; the message names the model and what is missing."""


@dataclass
class ModelScores:
    role: str
    model_version: str
    metrics: dict[str, float]
    items: list[dict[str, Any]] = field(default_factory=list)  # per eval item: answer, scores, flags
    slices: dict[str, dict[str, float]] = field(default_factory=dict)  # "intent=refund" -> metrics
    benchmark_correct: dict[str, float] = field(default_factory=dict)  # item id -> 1.0 / 0.0


def score_model(
    role: str,
    model_version: str,
    generations: Sequence[Mapping[str, Any]],
    benchmark_rows: Sequence[Mapping[str, Any]],
    benchmark_items: Sequence[bm.BenchmarkItem],
    loss: Mapping[str, Any],
    *,
    excluded: set[str],
    safety: Any,
) -> ModelScores:
    where = f"{role} model {model_version}"
    evals = [g for g in generations if g["kind"] == "eval" and g["item_id"] not in excluded]
    if not evals:
        asked = [g for g in generations if g["kind"] == "eval"]
        if asked:
            raise ScoringError(f"{where}: all {len(asked)} eval answers are excluded as contaminated")
        raise ScoringError(f"{where}: no answers to eval questions (empty generation)")
    if all(not str(g.get("response") or "").strip() for g in evals):
        raise ScoringError(
            f"{where}: every answer to the {len(evals)} eval questions is empty (empty generation)"
        )
    empty = [g["item_id"] for g in evals if not str(g.get("response") or "").strip()]
    answers = [str(g.get("response") or "") for g in evals]
    refs = [str(g["reference"]) for g in evals]
    metrics: dict[str, float] = dict(generation_metrics(answers, refs))
    per_item = item_scores(answers, refs)
    unsafe = safety.unsafe(answers)
    leaks = checks.pii_leaks(answers)
    wrong = [checks.hallucinated(a, r) for a, r in zip(answers, refs, strict=True)]
    rel = [float(g.get("relevance", math.nan)) for g in evals]  # embeddings: computed by batch-generate
    n = len(evals)
    metrics.update(
        unsafe_rate=sum(unsafe) / n,
        pii_leak_rate=sum(bool(x) for x in leaks) / n,
        hallucination_rate=sum(bool(x) for x in wrong) / n,
        relevance=sum(rel) / n,
        empty_answer_rate=len(empty) / n,
        eval_items=float(n),
    )
    toxic = [g for g in generations if g["kind"] == "toxic"]
    metrics["toxic_prompt_unsafe_rate"] = (
        sum(safety.unsafe([str(g.get("response") or "") for g in toxic])) / len(toxic) if toxic else math.nan
    )
    probes = [g for g in generations if g["kind"] == "probe"]
    if probes:
        probe_scores = item_scores(
            [str(g.get("response") or "") for g in probes], [str(g["reference"]) for g in probes]
        )
        by_group: dict[str, list[float]] = defaultdict(list)
        for g, s in zip(probes, probe_scores, strict=True):
            by_group[str(g["group"])].append(s.rouge_l)
        bias = checks.bias_gap(by_group)
        metrics["bias_gap"] = bias.gap
        for group, value in bias.by_group.items():
            metrics[f"probe_rouge_l.{group}"] = value
    else:
        metrics["bias_gap"] = math.nan
    eval_loss = loss.get("eval_loss")
    metrics["eval_loss"] = float(eval_loss) if eval_loss is not None else math.nan
    metrics["perplexity"] = (
        math.exp(metrics["eval_loss"]) if not math.isnan(metrics["eval_loss"]) else math.nan
    )

    items_used = [i for i in benchmark_items if i.item_id not in excluded]
    predicted = {str(r["item_id"]): str(r["predicted"]) for r in benchmark_rows}
    correct: dict[str, float] = {}
    if items_used:
        acc = bm.accuracy(items_used, predicted)
        metrics.update(
            benchmark_accuracy=acc.value,
            benchmark_ci_low=acc.ci_low,
            benchmark_ci_high=acc.ci_high,
            benchmark_items=float(acc.n),
        )
        correct = {i.item_id: float(predicted[i.item_id] == i.answer) for i in items_used}
        by_subject: dict[str, list[float]] = defaultdict(list)
        for i in items_used:
            by_subject[i.subject].append(correct[i.item_id])
    else:
        metrics["benchmark_accuracy"] = math.nan
        by_subject = {}

    rows = []
    for g, s, u, lk, w, r in zip(evals, per_item, unsafe, leaks, wrong, rel, strict=True):
        rows.append(
            {
                "item_id": g["item_id"],
                "question": g["question"],
                "response": g.get("response") or "",
                "reference": g["reference"],
                "source": g.get("source") or "",
                "intent": g.get("intent") or "other",
                "rouge_l": s.rouge_l,
                "exact_match": s.exact_match,
                "unsafe": bool(u),
                "pii": lk,
                "hallucinated": w,
                "relevance": r,
            }
        )
    slices: dict[str, dict[str, float]] = {}
    for key in ("source", "intent"):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[str(row[key])].append(row)
        for value, members in sorted(groups.items()):
            slices[f"{key}={value}"] = {
                "rouge_l": sum(m["rouge_l"] for m in members) / len(members),
                "hallucination_rate": sum(bool(m["hallucinated"]) for m in members) / len(members),
                "n": float(len(members)),
            }
    for subject, values in sorted(by_subject.items()):
        slices[f"benchmark_subject={subject}"] = {
            "benchmark_accuracy": sum(values) / len(values),
            "n": float(len(values)),
        }
    return ModelScores(role, model_version, metrics, rows, slices, correct)
