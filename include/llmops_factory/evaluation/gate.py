"""The quality gate: may this candidate be deployed? A pure function of metrics and thresholds.

Every check must pass:

1. **absolute** — each metric of ``minimum`` is at least its floor, each of ``maximum`` at most its
   ceiling (human ratings are a floor like any other: ``human_rating``);
2. **no regression** — on each metric of ``regression_tolerance`` the candidate is no worse than the
   champion by more than the tolerance (skipped, and said so, when there is no champion yet);
3. **better than base** — on each metric of ``beat_base`` the candidate scores strictly better than the
   base model.

It **fails closed**: a metric the thresholds name that is missing, ``None`` or NaN — for the candidate,
the champion or the base — blocks, with a reason naming it. The direction of a metric (higher or lower
is better) is known from where it is named: ``maximum`` metrics and ``LOWER_IS_BETTER`` are lower-better.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOWER_IS_BETTER = frozenset(
    {
        "unsafe_rate",
        "pii_leak_rate",
        "hallucination_rate",
        "eval_loss",
        "perplexity",
        "bias_gap",
        "toxic_prompt_unsafe_rate",
    }
)


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "minimum:rouge_l"
    passed: bool
    reason: str


@dataclass(frozen=True)
class GateResult:
    approved: bool
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def reasons(self) -> list[str]:
        """Why it was blocked (empty when approved)."""
        return [c.reason for c in self.checks if not c.passed]

    def summary(self) -> str:
        head = "APPROVED" if self.approved else "REJECTED"
        return "\n".join([head, *(f"{'ok ' if c.passed else 'FAIL'} {c.reason}" for c in self.checks)])


def _value(metrics: Mapping[str, Any] | None, name: str) -> float | None:
    if metrics is None or name not in metrics:
        return None
    value = metrics[name]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def decide(
    candidate: Mapping[str, Any],
    *,
    champion: Mapping[str, Any] | None,
    base: Mapping[str, Any] | None,
    minimum: Mapping[str, float],
    maximum: Mapping[str, float],
    regression_tolerance: Mapping[str, float],
    beat_base: list[str] | tuple[str, ...],
) -> GateResult:
    """Run every check; approved only if all pass (and the gate has at least one threshold)."""
    if not (minimum or maximum or regression_tolerance or beat_base):
        return GateResult(False, (Check("configuration", False, "the gate has no thresholds (fail closed)"),))
    lower = LOWER_IS_BETTER | set(maximum)
    checks: list[Check] = []

    for name, floor in sorted(minimum.items()):
        v = _value(candidate, name)
        if v is None:
            checks.append(
                Check(f"minimum:{name}", False, f"{name} is missing or NaN for the candidate (fail closed)")
            )
        else:
            ok = v >= floor
            checks.append(
                Check(f"minimum:{name}", ok, f"{name} = {v:.4f} {'>=' if ok else '<'} floor {floor:.4f}")
            )
    for name, ceiling in sorted(maximum.items()):
        v = _value(candidate, name)
        if v is None:
            checks.append(
                Check(f"maximum:{name}", False, f"{name} is missing or NaN for the candidate (fail closed)")
            )
        else:
            ok = v <= ceiling
            checks.append(
                Check(f"maximum:{name}", ok, f"{name} = {v:.4f} {'<=' if ok else '>'} ceiling {ceiling:.4f}")
            )

    if champion is None:
        checks.append(Check("regression", True, "no champion yet: regression checks not applicable"))
    else:
        for name, tol in sorted(regression_tolerance.items()):
            v, c = _value(candidate, name), _value(champion, name)
            if v is None or c is None:
                who = "candidate" if v is None else "champion"
                checks.append(
                    Check(
                        f"regression:{name}", False, f"{name} is missing or NaN for the {who} (fail closed)"
                    )
                )
                continue
            drop = (v - c) if name in lower else (c - v)  # > 0: candidate is worse
            ok = drop <= tol
            checks.append(
                Check(
                    f"regression:{name}",
                    ok,
                    f"{name} candidate {v:.4f} vs champion {c:.4f}: "
                    + (
                        f"within tolerance {tol:.4f}"
                        if ok
                        else f"regressed by {drop:.4f} > tolerance {tol:.4f}"
                    ),
                )
            )

    for name in sorted(beat_base):
        v, b = _value(candidate, name), _value(base, name)
        if v is None or b is None:
            who = "candidate" if v is None else "base model"
            checks.append(
                Check(f"beat_base:{name}", False, f"{name} is missing or NaN for the {who} (fail closed)")
            )
            continue
        ok = v < b if name in lower else v > b
        checks.append(
            Check(
                f"beat_base:{name}",
                ok,
                f"{name} candidate {v:.4f} {'beats' if ok else 'does not beat'} base {b:.4f}",
            )
        )

    return GateResult(all(c.passed for c in checks), tuple(checks))


def decide_with_settings(candidate, champion, base, gate_settings) -> GateResult:
    """:func:`decide` with the thresholds of ``settings.evaluation.gate``."""
    return decide(
        candidate,
        champion=champion,
        base=base,
        minimum=gate_settings.minimum,
        maximum=gate_settings.maximum,
        regression_tolerance=gate_settings.regression_tolerance,
        beat_base=gate_settings.beat_base,
    )
