"""Every figure of the reports on a generated cohort, computed again by hand (numpy).

The cohort is built through vp_log's own paths (generated studies imported with
``vp-log import``, follow-up entered with ``vp-log followup add``); the expected values come
from the plan of what was entered, never from the code under test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import hand_stats as hand
from cohort_support import PlannedProcedure, build_cohort
from conftest import base_env
from vp_log.cli import app

LABELS = {"pain": "Pain NRS", "odi": "ODI", "rmdq": "RMDQ"}
TIMEPOINTS = ("baseline", "1d", "1w", "1m", "3m", "6m", "12m")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PlannedProcedure]]:
    data_dir = tmp_path_factory.mktemp("cohort")
    return data_dir, build_cohort(data_dir)


def report(data_dir: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["report", *args, "--json"], env=base_env(data_dir))
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def rows(document: dict[str, Any], section: str, table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["reports"][section]["tables"][table]["rows"]
    return found


def close(actual: Any, expected: Any, tol: float = 1e-9) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return math.isclose(actual, expected, rel_tol=tol, abs_tol=tol)


def value_at(p: PlannedProcedure, timepoint: str, field: str) -> Any:
    for entry in p.entries:
        if entry.expected_timepoint == timepoint and getattr(entry, field) is not None:
            return getattr(entry, field)
    return None


def test_outcome_summaries_and_paired_changes(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    data_dir, planned = cohort
    document = report(data_dir, "outcomes")
    assert document["procedures"] == len(planned) == 12
    summary = {
        (r["instrument"], r["timepoint"]): r for r in rows(document, "outcomes", "outcomes_summary")
    }
    change = {
        (r["instrument"], r["timepoint"]): r for r in rows(document, "outcomes", "outcomes_change")
    }
    checked = 0
    for field, label in LABELS.items():
        for tp in TIMEPOINTS:
            values = [v for p in planned if (v := value_at(p, tp, field)) is not None]
            expected = hand.summary(values)
            row = summary[(label, tp)]
            for key in ("n", "mean", "sd", "median", "q1", "q3"):
                assert close(row[key], expected[key]), (label, tp, key, row[key], expected[key])
            if tp == "baseline":
                continue
            pairs = [
                (b, a)
                for p in planned
                if (b := value_at(p, "baseline", field)) is not None
                and (a := value_at(p, tp, field)) is not None
            ]
            expected_change = hand.paired([b for b, _ in pairs], [a for _, a in pairs])
            row = change[(label, tp)]
            for key in ("n", "mean_change", "ci_low", "ci_high"):
                assert close(row[key], expected_change[key]), (label, tp, key, row, expected_change)
            assert close(row["p_wilcoxon"], expected_change["p_wilcoxon"], 1e-6), (label, tp, row)
            with_after = sum(1 for p in planned if value_at(p, tp, field) is not None)
            with_before = sum(1 for p in planned if value_at(p, "baseline", field) is not None)
            assert row["no_baseline"] == with_after - len(pairs)
            assert row["no_followup"] == with_before - len(pairs)
            checked += row["n"]
    assert checked > 50  # the cohort really has paired data


def test_responders_and_analgesic_step_down(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    data_dir, planned = cohort
    document = report(data_dir, "outcomes")
    responders = {
        (r["definition"], r["timepoint"]): r
        for r in rows(document, "outcomes", "outcomes_responders")
    }
    rules = {
        "pain drop ≥ 2 points": ("pain", lambda b, a: b - a >= 2, True),
        "pain drop ≥ 30 %": ("pain", lambda b, a: (b - a) / b >= 0.3, True),
        "ODI drop ≥ 10 points": ("odi", lambda b, a: b - a >= 10, True),
        "RMDQ drop ≥ 5 points": ("rmdq", lambda b, a: b - a >= 5, True),
        "pain < 4": ("pain", lambda b, a: a < 4, False),
    }
    for name, (field, rule, needs_baseline) in rules.items():
        for tp in TIMEPOINTS[1:]:
            judged = [
                rule(b, a)
                for p in planned
                if (a := value_at(p, tp, field)) is not None
                and ((b := value_at(p, "baseline", field)) is not None or not needs_baseline)
            ]
            k, n = sum(judged), len(judged)
            rate, low, high = hand.wilson(k, n)
            row = responders[(name, tp)]
            assert (row["k"], row["n"]) == (k, n), (name, tp)
            assert close(row["rate"], rate) and close(row["low"], low) and close(row["high"], high)
    order = ["none", "non-opioid", "weak-opioid", "strong-opioid"]
    step = {r["timepoint"]: r for r in rows(document, "outcomes", "outcomes_analgesic_step_down")}
    for tp in TIMEPOINTS[1:]:
        pairs = [
            (order.index(b), order.index(a))
            for p in planned
            if (b := value_at(p, "baseline", "analgesic")) is not None
            and (a := value_at(p, tp, "analgesic")) is not None
        ]
        down = sum(1 for b, a in pairs if a < b)
        rate, low, high = hand.wilson(down, len(pairs))
        row = step[tp]
        assert (row["n"], row["down"]) == (len(pairs), down)
        assert close(row["rate"], rate) and close(row["low"], low) and close(row["high"], high)
