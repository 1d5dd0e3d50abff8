"""A/B statistics of a challenger against the champion (statsmodels / scipy, never hand-written tests).

* rates (unsafe, error, positive feedback): a one-sided two-proportion z-test "challenger worse"
  (``statsmodels.stats.proportion.proportions_ztest``), a Newcombe confidence interval of the difference
  (``confint_proportions_2indep``) for non-inferiority, and an exact binomial test against an absolute
  limit (``scipy.stats.binomtest``);
* latency: a one-sided Mann-Whitney U test "challenger slower" (``scipy.stats.mannwhitneyu``) and a
  bootstrap confidence interval of the p95 difference (``scipy.stats.bootstrap``);
* cost: the two costs per 1000 predictions side by side (a cost is a computed figure, not a sample).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class RateTest:
    """One rate of both arms: counts, the test that the challenger is worse, and the CI of the difference."""

    name: str
    champion_count: int
    champion_n: int
    challenger_count: int
    challenger_n: int
    #: one-sided p-value of "challenger worse than champion" (higher rate when ``higher_is_worse``)
    p_worse: float
    #: confidence interval (1 - 2*alpha) of challenger rate - champion rate
    diff_low: float
    diff_high: float
    #: one-sided p-value of "challenger rate above the absolute limit" (None without a limit)
    p_over_limit: float | None = None
    limit: float | None = None
    higher_is_worse: bool = True

    @property
    def champion_rate(self) -> float:
        return self.champion_count / self.champion_n if self.champion_n else math.nan

    @property
    def challenger_rate(self) -> float:
        return self.challenger_count / self.challenger_n if self.challenger_n else math.nan


@dataclasses.dataclass(frozen=True)
class LatencyTest:
    champion_n: int
    challenger_n: int
    champion_p95: float
    challenger_p95: float
    p_slower: float
    p95_diff_low: float
    p95_diff_high: float


def rate_test(
    name: str,
    champion: tuple[int, int],
    challenger: tuple[int, int],
    *,
    alpha: float,
    higher_is_worse: bool = True,
    limit: float | None = None,
) -> RateTest:
    """Compare ``(count, n)`` of both arms. With no data on an arm, p-values are 1 (nothing shown)."""
    from scipy.stats import binomtest
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    (c0, n0), (c1, n1) = champion, challenger
    for arm, (c, n) in (("champion", champion), ("challenger", challenger)):
        if n < 0 or c < 0 or c > n:
            raise ValueError(f"{name}: {arm} count {c} of {n} is not a proportion")
    p_worse, low, high = 1.0, -1.0, 1.0
    if n0 and n1:
        if c0 + c1 == 0 or c0 + c1 == n0 + n1:
            p_worse = 1.0  # no variation: no evidence either way
        else:
            alternative = "larger" if higher_is_worse else "smaller"
            _, p = proportions_ztest([c1, c0], [n1, n0], alternative=alternative)
            p_worse = float(p)
        low, high = confint_proportions_2indep(
            c1, n1, c0, n0, method="newcomb", compare="diff", alpha=2 * alpha
        )
        low, high = float(low), float(high)
    p_limit = None
    if limit is not None and n1:
        alternative = "greater" if higher_is_worse else "less"
        p_limit = float(binomtest(c1, n1, limit, alternative=alternative).pvalue)
    return RateTest(name, c0, n0, c1, n1, p_worse, low, high, p_limit, limit, higher_is_worse)


def latency_test(
    champion: Sequence[float], challenger: Sequence[float], *, alpha: float, seed: int = 0
) -> LatencyTest:
    """Mann-Whitney "challenger slower" and a bootstrap CI of the p95 difference (challenger - champion)."""
    import numpy as np
    from scipy.stats import bootstrap, mannwhitneyu

    a = np.asarray(champion, dtype=float)
    b = np.asarray(challenger, dtype=float)
    if len(a) < 2 or len(b) < 2:
        p95a = float(np.percentile(a, 95)) if len(a) else math.nan
        p95b = float(np.percentile(b, 95)) if len(b) else math.nan
        return LatencyTest(len(a), len(b), p95a, p95b, 1.0, -math.inf, math.inf)
    p = float(mannwhitneyu(b, a, alternative="greater").pvalue)

    def p95_diff(x, y, axis=-1):
        return np.percentile(y, 95, axis=axis) - np.percentile(x, 95, axis=axis)

    ci = bootstrap(
        (a[:5000], b[:5000]),
        p95_diff,
        confidence_level=1 - 2 * alpha,
        n_resamples=500,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return LatencyTest(
        len(a),
        len(b),
        float(np.percentile(a, 95)),
        float(np.percentile(b, 95)),
        p,
        float(ci.low),
        float(ci.high),
    )
