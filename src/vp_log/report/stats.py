"""Cohort statistics: pure functions over plain values, no database, no settings.

Each function takes sequences of numbers (``None`` is unknown and left out where it says so)
and returns a small frozen dataclass whose fields are ``None`` where a figure cannot be computed
(no values, one value, no spread): never NaN, never a division by zero.

Libraries: scipy (t quantiles, Wilcoxon signed-rank), lifelines (Kaplan-Meier with its event
table of at-risk counts). They are imported here, inside the functions that use them, and this
module is imported only by the report commands, so the CLI starts fast.

Two figures are computed here in closed form rather than by a library, because importing the
library would cost more than the report itself (tests/unit/test_report_stats.py holds them
equal to the library, bit for bit, over many inputs):

- the Wilson score interval, as statsmodels' ``proportion_confint(method="wilson")`` computes
  it (statsmodels imports pandas and scipy.stats: about 1 s);
- the large-sample (normal) Wilcoxon signed-rank p, as ``scipy.stats.wilcoxon`` computes it
  when it takes that path itself: more than 50 pairs, or more than 13 with zero changes or ties.
  Smaller samples take scipy's exact or permutation test through ``scipy.stats`` (about 0.5 s
  more of imports than ``scipy.special``, which has the t and normal distributions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95


def _finite(value: Any) -> float | None:
    """A plain float, or None for NaN/inf (a library's way of saying 'cannot be computed')."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Summary:
    """n, mean ± SD (sample, ddof = 1), median [IQR] of the known values."""

    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None


def describe(values: Sequence[float | None]) -> Summary:
    """Summary of the known values (``None`` left out). SD needs two values."""
    known = np.array([v for v in values if v is not None], dtype=float)
    n = int(known.size)
    if n == 0:
        return Summary(0, None, None, None, None, None)
    q1, median, q3 = np.percentile(known, [25, 50, 75])
    sd = float(np.std(known, ddof=1)) if n > 1 else None
    return Summary(n, float(known.mean()), sd, float(median), float(q1), float(q3))


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The q-th percentile (linear interpolation, numpy's default) of the known values."""
    known = [v for v in values if v is not None]
    return float(np.percentile(np.array(known, dtype=float), q)) if known else None


@dataclass(frozen=True)
class PairedChange:
    """Change after − before over the pairs where both are known.

    ``ci_low``/``ci_high``: the 95 % t interval of the mean change (needs two pairs and some
    spread); ``p_wilcoxon``: the two-sided Wilcoxon signed-rank p (needs a non-zero change).
    """

    n: int
    mean_before: float | None
    mean_after: float | None
    mean_change: float | None
    sd_change: float | None
    ci_low: float | None
    ci_high: float | None
    p_wilcoxon: float | None


def t_quantile(p: float, df: int) -> float:
    """The p quantile of Student's t with ``df`` degrees of freedom (``scipy.stats.t.ppf``,
    which is ``scipy.special.stdtrit``)."""
    from scipy import special

    return float(special.stdtrit(df, p))


def paired_change(pairs: Sequence[tuple[float, float]]) -> PairedChange:
    """Mean paired change with its t confidence interval and the Wilcoxon signed-rank p."""
    n = len(pairs)
    if n == 0:
        return PairedChange(0, None, None, None, None, None, None, None)
    before = np.array([p[0] for p in pairs], dtype=float)
    after = np.array([p[1] for p in pairs], dtype=float)
    diff = after - before
    mean = float(diff.mean())
    sd = float(np.std(diff, ddof=1)) if n > 1 else None
    low = high = None
    if sd is not None and sd > 0:
        half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    elif sd == 0:
        low = high = mean  # every pair changed by the same amount: no uncertainty to show
    p = wilcoxon_p(after, before) if np.any(diff != 0) else None
    return PairedChange(n, float(before.mean()), float(after.mean()), mean, sd, low, high, p)


#: Sample sizes up to which ``scipy.stats.wilcoxon`` (method "auto") takes an exact test: 50
#: without zero changes or ties, 13 with them (a complete permutation test).
_WILCOXON_EXACT_N = 50
_WILCOXON_PERMUTATION_N = 13


def wilcoxon_p(after: np.ndarray, before: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p of ``after - before``, zero changes left out
    (``scipy.stats.wilcoxon(after, before, zero_method="wilcox")``, its defaults otherwise).

    Where scipy would use the normal approximation, it is computed here with scipy's own
    steps (ranks of |change| with ties averaged, the tie-corrected variance, no continuity
    correction); elsewhere scipy computes it."""
    diff = after - before
    nonzero = diff[diff != 0]
    order = np.argsort(np.abs(nonzero), kind="stable")
    ranked = np.abs(nonzero)[order]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    counts = np.diff(np.append(starts, ranked.size))
    ties = bool(np.any(counts > 1))
    zeros = nonzero.size < diff.size
    if diff.size <= _WILCOXON_EXACT_N and (
        not (ties or zeros) or diff.size <= _WILCOXON_PERMUTATION_N
    ):
        from scipy import stats as sps

        return _finite(sps.wilcoxon(after, before, zero_method="wilcox").pvalue)
    from scipy import special

    ranks = np.empty(ranked.size, dtype=float)
    ranks[order] = np.repeat(starts + 1 + (counts - 1) / 2, counts)
    count = float(nonzero.size)
    r_plus = float(np.sum(ranks[nonzero > 0]))
    mean = count * (count + 1.0) * 0.25
    var = count * (count + 1.0) * (2.0 * count + 1.0)
    tie_correction = float(np.sum(counts.astype(float) ** 3 - counts))
    se = math.sqrt((var - tie_correction / 2) / 24)
    z = (r_plus - mean) / se
    return _finite(2 * special.ndtr(-abs(z)))


@dataclass(frozen=True)
class Proportion:
    """k of n with the Wilson score 95 % interval; rate and bounds None when n = 0."""

    k: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


#: The normal quantile of the two-sided 95 % interval, ``scipy.stats.norm.isf((1 - 0.95) / 2)``
#: as statsmodels computes it, and its square (a test checks both against scipy).
Z_95 = 1.959963984540054
Z_95_SQUARED = 3.8414588206941254


def wilson(k: int, n: int) -> Proportion:
    """k of n with its Wilson score interval: statsmodels' ``proportion_confint(k, n,
    alpha=0.05, method="wilson")``, its steps in the same order (so the same bits)."""
    if k < 0 or n < 0 or k > n:
        msg = f"a proportion needs 0 <= k <= n, got k = {k}, n = {n}"
        raise ValueError(msg)
    if n == 0:
        return Proportion(0, 0, None, None, None)
    q = k / n
    denom = 1 + Z_95_SQUARED / n
    center = (q + Z_95_SQUARED / (2 * n)) / denom
    dist = Z_95 * math.sqrt(q * (1.0 - q) / n + Z_95_SQUARED / (4.0 * n**2))
    dist /= denom
    low = min(max(center - dist, 0.0), 1.0)
    high = min(max(center + dist, 0.0), 1.0)
    return Proportion(k, n, q, _finite(low), _finite(high))


@dataclass(frozen=True)
class KmStep:
    """One row of the Kaplan-Meier event table, at ``time`` (days)."""

    time: float
    at_risk: int
    events: int
    censored: int
    survival: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class KaplanMeier:
    n: int
    events: int
    steps: tuple[KmStep, ...]
    """Every time with an event or a censoring, starting with time 0."""

    def survival_at(self, time: float) -> float | None:
        """S(t): the survival after the last step at or before ``time``; None before data."""
        if not self.steps:
            return None
        value = 1.0
        for step in self.steps:
            if step.time > time:
                break
            value = step.survival
        return value

    def at_risk_at(self, time: float) -> int:
        """How many are still followed and event-free at ``time`` (the at-risk table)."""
        return sum(s.events + s.censored for s in self.steps if s.time >= time)


def kaplan_meier(durations: Sequence[float], events: Sequence[bool]) -> KaplanMeier:
    """Kaplan-Meier estimate (lifelines ``KaplanMeierFitter``) with at-risk counts per step."""
    if len(durations) != len(events):
        msg = "durations and events must have the same length"
        raise ValueError(msg)
    n = len(durations)
    if n == 0:
        return KaplanMeier(0, 0, ())
    from lifelines import KaplanMeierFitter

    fitter = KaplanMeierFitter(alpha=1 - CONFIDENCE)
    fitter.fit(np.array(durations, dtype=float), np.array(events, dtype=bool))
    table = fitter.event_table
    survival = fitter.survival_function_.iloc[:, 0]
    ci = fitter.confidence_interval_survival_function_
    steps = []
    for time in table.index:
        row = table.loc[time]
        steps.append(
            KmStep(
                time=float(time),
                at_risk=int(row["at_risk"]),
                events=int(row["observed"]),
                censored=int(row["censored"]),
                survival=float(survival.loc[time]),
                ci_low=_finite(ci.loc[time].iloc[0]),
                ci_high=_finite(ci.loc[time].iloc[1]),
            )
        )
    return KaplanMeier(n, int(sum(bool(e) for e in events)), tuple(steps))
