"""The statistics layer on edge cases: nothing, one value, no spread, all zero changes."""

from __future__ import annotations

import math

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
