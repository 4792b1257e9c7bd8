"""Statistics computed by hand with numpy (and math), to check the report layer against.

Nothing here calls scipy, statsmodels or lifelines: quantiles of t come from a printed table,
the Wilson interval from its formula, Wilcoxon's p from the exact distribution of the
signed-rank sum (its normal approximation when a difference is zero), Kaplan-Meier by the
product-limit loop.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

Z95 = 1.959963984540054
#: t(0.975, df), df = 1 … 30 (standard table values).
T975 = [
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851,
    2.364624252, 2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830,
    2.160368656, 2.144786688, 2.131449546, 2.119905299, 2.109815578, 2.100922040,
    2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
    2.059538553, 2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
]  # fmt: skip


def summary(values: list[float]) -> dict[str, float | int | None]:
    a = np.array(values, dtype=float)
    if a.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None}
    s = np.sort(a)

    def quantile(q: float) -> float:  # linear interpolation between order statistics
        pos = q * (len(s) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))

    mean = float(a.sum() / a.size)
    sd = math.sqrt(float(((a - mean) ** 2).sum()) / (a.size - 1)) if a.size > 1 else None
    return {"n": int(a.size), "mean": mean, "sd": sd, "median": quantile(0.5),
            "q1": quantile(0.25), "q3": quantile(0.75)}  # fmt: skip


def paired(before: list[float], after: list[float]) -> dict[str, float | int | None]:
    d = np.array(after, dtype=float) - np.array(before, dtype=float)
    n = d.size
    if n == 0:
        return {"n": 0, "mean_change": None, "ci_low": None, "ci_high": None, "p_wilcoxon": None}
    mean = float(d.sum() / n)
    out: dict[str, float | int | None] = {"n": n, "mean_change": mean}
    if n > 1:
        sd = math.sqrt(float(((d - mean) ** 2).sum()) / (n - 1))
        half = T975[n - 2] * sd / math.sqrt(n)
        out.update(sd_change=sd, ci_low=mean - half, ci_high=mean + half)
    else:
        out.update(sd_change=None, ci_low=None, ci_high=None)
    out["p_wilcoxon"] = wilcoxon_p(list(d))
    return out


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and math.isclose(values[order[j + 1]], values[order[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def wilcoxon_p(differences: list[float]) -> float | None:
    d = [x for x in differences if not math.isclose(x, 0.0, abs_tol=1e-12)]
    n = len(d)
    if n == 0:
        return None
    absolute = [abs(x) for x in d]
    ranks = _ranks(absolute)
    r_plus = sum(r for r, x in zip(ranks, d, strict=True) if x > 0)
    zeros = n < len(differences)
    if not zeros and n <= 20:
        # The exact null distribution of the signed-rank sum over ranks 1..n (as scipy's
        # exact method uses when no difference is zero), the statistic from averaged ranks.
        sums = [sum(r for r, s in zip(range(1, n + 1), signs, strict=True) if s)
                for signs in itertools.product((0, 1), repeat=n)]  # fmt: skip
        total = len(sums)
        low = sum(1 for s in sums if s <= r_plus + 1e-9) / total
        high = sum(1 for s in sums if s >= r_plus - 1e-9) / total
        return min(1.0, 2 * min(low, high))
    counts: dict[float, int] = {}
    for r in ranks:
        counts[r] = counts.get(r, 0) + 1
    var = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in counts.values()) / 48
    z = (r_plus - n * (n + 1) / 4) / math.sqrt(var)
    return math.erfc(abs(z) / math.sqrt(2))


def wilson(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    p = k / n
    centre = (k + Z95**2 / 2) / (n + Z95**2)
    half = Z95 / (n + Z95**2) * math.sqrt(k * (n - k) / n + Z95**2 / 4)
    return p, centre - half, centre + half


def kaplan_meier(durations: list[float], events: list[bool]) -> list[dict[str, float]]:
    """Product-limit steps at every distinct time: at risk, events, censored, S(t)."""
    steps = []
    survival = 1.0
    for time in sorted(set(durations)):
        at_risk = sum(1 for d in durations if d >= time)
        died = sum(1 for d, e in zip(durations, events, strict=True) if d == time and e)
        censored = sum(1 for d, e in zip(durations, events, strict=True) if d == time and not e)
        survival *= 1 - died / at_risk
        steps.append({"time": time, "at_risk": at_risk, "events": died,
                      "censored": censored, "survival": survival})  # fmt: skip
    return steps
