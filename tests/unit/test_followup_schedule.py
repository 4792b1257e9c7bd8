"""The follow-up schedule: the default, inference, site files and refusals (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vp_log import followup as fu

SCHEDULE = fu.load_schedule()


def test_default_schedule_and_inference() -> None:
    assert SCHEDULE.names == ["baseline", "1d", "1w", "1m", "3m", "6m", "12m"]
    expected = {-30: "baseline", 0: "baseline", 1: "1d", 7: "1w", 30: "1m", 21: "1m", 45: "1m"}
    expected |= {90: "3m", 182: "6m", 365: "12m"}
    for days, name in expected.items():
        tp = SCHEDULE.infer(days)
        assert tp is not None and tp.name == name, days
    assert SCHEDULE.infer(17) is None  # between 1w (to 14) and 1m (from 21)
    assert SCHEDULE.infer(-200) is None


def test_documented_schedule_matches_the_packaged_default() -> None:
    documented = Path(__file__).resolve().parents[2] / "config" / "followup_schedule.toml"
    assert fu.load_schedule(documented) == SCHEDULE


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        ('[[timepoint]]\nname="baseline"\nbaseline=true\ntarget=0\nfrom=1\nto=5\n', "from"),
        (
            '[[timepoint]]\nname="a"\nbaseline=true\ntarget=0\nfrom=0\nto=0\n'
            '[[timepoint]]\nname="a"\ntarget=1\nfrom=1\nto=1\n',
            "repeated: a",
        ),
        ('[[timepoint]]\nname="x"\ntarget=0\nfrom=0\nto=0\n', "exactly one time point"),
        ("[[timepoint]\n", "not valid TOML"),
    ],
)
def test_bad_schedule_refused(tmp_path: Path, toml: str, match: str) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(toml)
    with pytest.raises(fu.ScheduleError, match=match):
        fu.load_schedule(path)


def test_site_schedule_used(tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(
        '[[timepoint]]\nname="pre"\nbaseline=true\ntarget=0\nfrom=-30\nto=0\n'
        '[[timepoint]]\nname="6w"\ntarget=42\nfrom=28\nto=56\n'
    )
    schedule = fu.load_schedule(path)
    tp = schedule.infer(40)
    assert tp is not None and tp.name == "6w"


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("1m", "1m"), ("1M", "1m"), ("1 month", "1m"), ("1 Month", "1m"), ("1mo", "1m"),
        ("3 months", "3m"), ("1w", "1w"), ("1 week", "1w"), ("1 day", "1d"), ("1D", "1d"),
        ("12 months", "12m"), ("1 year", "12m"), ("Baseline", "baseline"),
        ("BASELINE", "baseline"),
    ],
)  # fmt: skip
def test_timepoints_case_insensitive_with_aliases(typed: str, name: str) -> None:
    assert SCHEDULE.get(typed).name == name


def test_unknown_timepoint_lists_the_allowed_ones() -> None:
    with pytest.raises(fu.FollowupError, match=r"time point '2y' refused \(allowed: baseline, 1d"):
        SCHEDULE.get("2y")
