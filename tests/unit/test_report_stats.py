"""The statistics layer on edge cases: nothing, one value, no spread, all zero changes."""

from __future__ import annotations

import math
import random

import pytest

import hand_stats as hand
from vp_log.report import stats
from vp_log.report.cohort import ReportError, parse_filters


def test_describe_nothing_one_and_many() -> None:
    assert stats.describe([]) == stats.Summary(0, None, None, None, None, None)
    assert stats.describe([None, None]).n == 0
    one = stats.describe([4.0])
    assert (one.n, one.mean, one.sd, one.median) == (1, 4.0, None, 4.0)
    many = stats.describe([1, 2, None, 4, 8])
    expected = hand.summary([1, 2, 4, 8])
    assert many.n == 4
    assert math.isclose(many.sd or 0, expected["sd"] or 0)
    assert (many.q1, many.q3) == (expected["q1"], expected["q3"])


def test_paired_change_edges() -> None:
    assert stats.paired_change([]).n == 0
    single = stats.paired_change([(8.0, 3.0)])
    assert (single.n, single.mean_change, single.ci_low, single.sd_change) == (1, -5.0, None, None)
    same = stats.paired_change([(8.0, 3.0), (7.0, 2.0)])
    assert (same.ci_low, same.ci_high) == (-5.0, -5.0)
    unchanged = stats.paired_change([(5.0, 5.0), (4.0, 4.0)])
    assert unchanged.mean_change == 0 and unchanged.p_wilcoxon is None


def test_paired_change_against_hand() -> None:
    pairs = [(8.0, 3.0), (7.5, 2.0), (9.0, 5.5), (6.0, 6.5), (8.5, 4.0), (7.0, 1.0)]
    got = stats.paired_change(pairs)
    expected = hand.paired([b for b, _ in pairs], [a for _, a in pairs])
    assert math.isclose(got.ci_low or 0, expected["ci_low"] or 0)
    assert math.isclose(got.ci_high or 0, expected["ci_high"] or 0)
    assert math.isclose(got.p_wilcoxon or 0, expected["p_wilcoxon"] or 0)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 10), (0, 25), (25, 25), (7, 180)])
def test_wilson_against_formula(k: int, n: int) -> None:
    got = stats.wilson(k, n)
    rate, low, high = hand.wilson(k, n)
    assert got.rate == rate
    assert math.isclose(got.low or 0, low or 0, abs_tol=1e-12)
    assert math.isclose(got.high or 0, high or 0, abs_tol=1e-12)


def test_wilson_of_nothing_is_unknown_and_bad_counts_refused() -> None:
    assert stats.wilson(0, 0) == stats.Proportion(0, 0, None, None, None)
    with pytest.raises(ValueError, match="k <= n"):
        stats.wilson(3, 2)


def test_kaplan_meier_against_product_limit() -> None:
    durations = [10, 20, 20, 30, 40, 40, 55, 90]
    events = [True, False, True, True, False, True, False, False]
    got = stats.kaplan_meier(durations, events)
    expected = {s["time"]: s for s in hand.kaplan_meier(durations, events)}
    assert got.n == 8 and got.events == 4
    for step in got.steps:
        if step.time == 0:
            assert step.survival == 1.0 and step.at_risk == 8
            continue
        e = expected[step.time]
        assert (step.at_risk, step.events, step.censored) == (
            e["at_risk"],
            e["events"],
            e["censored"],
        )
        assert math.isclose(step.survival, e["survival"])
    assert got.at_risk_at(30) == 5
    assert stats.kaplan_meier([], []).steps == ()


def test_unknown_filter_values_name_the_allowed_ones() -> None:
    with pytest.raises(ReportError, match="allowed: vertebroplasty, kyphoplasty, sacroplasty"):
        parse_filters(procedure_type="cementoplasty")
    with pytest.raises(ReportError, match="allowed: cervical, thoracic, lumbar, sacral"):
        parse_filters(region="pelvic")
    with pytest.raises(ReportError, match="--since '2025-13-01' is not a date"):
        parse_filters(since="2025-13-01")
    with pytest.raises(ReportError, match="--levels 0 refused"):
        parse_filters(level_count=0)


def test_wilson_is_statsmodels_bit_for_bit() -> None:
    """The closed-form Wilson interval gives statsmodels' numbers exactly (it replaced
    ``proportion_confint`` to spare reports the import of statsmodels and pandas)."""
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    cases = [
        (k, n)
        for n in [*range(1, 121), 179, 180, 1000, 9999, 10_000, 123_457]
        for k in sorted({*range(min(n, 120) + 1), n // 3, n // 2, n - 1, n})
    ]
    ks, ns = np.array([k for k, _ in cases]), np.array([n for _, n in cases])
    lows, highs = proportion_confint(ks, ns, alpha=1 - stats.CONFIDENCE, method="wilson")
    for (k, n), low, high in zip(cases, lows.tolist(), highs.tolist(), strict=True):
        got = stats.wilson(k, n)
        assert (got.low, got.high) == (low, high), (k, n)
    for k, n in ((0, 1), (1, 1), (7, 180), (3, 10)):  # the scalar call, as reports made it
        assert (stats.wilson(k, n).low, stats.wilson(k, n).high) == proportion_confint(
            k, n, alpha=1 - stats.CONFIDENCE, method="wilson"
        )


def test_wilson_constants_are_scipys() -> None:
    from scipy import stats as sps

    z = sps.norm.isf((1 - stats.CONFIDENCE) / 2.0)
    assert float(z) == stats.Z_95
    assert float(z**2) == stats.Z_95_SQUARED


def _pairs(rng: random.Random, n: int, *, ties: bool, zeros: bool) -> list[tuple[float, float]]:
    pairs = []
    for _ in range(n):
        before = rng.choice(range(0, 11)) if ties else rng.uniform(0, 10)
        change = rng.choice((-3, -2, -1, 1, 2)) if ties else rng.uniform(-6, 3)
        if zeros and rng.random() < 0.2:
            change = 0
        pairs.append((float(before), float(before + change)))
    return pairs


@pytest.mark.parametrize("seed", range(3))
def test_wilcoxon_is_scipys_in_every_regime(seed: int) -> None:
    """Large samples (and mid-sized ones with ties or zero changes) take the normal
    approximation computed in ``stats``; the p must be scipy's exactly, and the small ones
    (exact and permutation tests) are scipy's own."""
    import numpy as np
    from scipy import stats as sps

    rng = random.Random(seed)
    # 13 and below with ties or zeros: scipy's permutation test (about 1 s at 13), not ours
    sizes = [1, 2, 5, 9, 14, 15, 20, 49, 50, 51, 52, 80, 200, 1500, 8000]
    for n in sizes:
        for ties, zeros in ((False, False), (True, False), (False, True), (True, True)):
            pairs = _pairs(rng, n, ties=ties, zeros=zeros)
            before = np.array([b for b, _ in pairs])
            after = np.array([a for _, a in pairs])
            if not np.any(after - before != 0):
                continue
            expected = float(sps.wilcoxon(after, before, zero_method="wilcox").pvalue)
            got = stats.wilcoxon_p(after, before)
            assert got is not None
            assert abs(got - expected) <= 1e-12, (n, ties, zeros, got, expected)
            assert got == expected, (n, ties, zeros, got, expected)
            if n > 9:
                assert stats.paired_change(pairs).p_wilcoxon == got


def test_t_quantile_is_scipys_t_ppf() -> None:
    from scipy import stats as sps

    for df in (1, 2, 3, 5, 10, 29, 30, 100, 9999):
        assert stats.t_quantile(0.975, df) == float(sps.t.ppf(0.975, df))
