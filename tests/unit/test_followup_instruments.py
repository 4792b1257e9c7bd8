"""Follow-up instruments: ranges, vocabularies, scoring and refusals (no database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from vp_log import followup as fu

TODAY = dt.date(2025, 12, 31)


def entry(**fields: Any) -> fu.FollowupCreate:
    return fu.FollowupCreate.model_validate({"entered_by": "nurse", **fields})


def test_odi_from_sections_total_over_five_times_answered() -> None:
    assert fu.score_odi([5] * 10) == 100.0
    assert fu.score_odi([0] * 10) == 0.0
    assert fu.score_odi([1, 2, 3, 4, 5, 0, 1, 2, 3, 4]) == 50.0
    # one unanswered: 18 / (5 × 9) × 100 = 40
    assert fu.score_odi([2, 2, 2, 2, 2, 2, 2, 2, 2, None]) == 40.0


def test_odi_sections_and_percent_both_stored() -> None:
    data = entry(date=TODAY, odi_sections=[1, 2, 1, None, 0, 1, 2, 1, 1, 0])
    assert data.odi_percent == 20.0
    assert data.odi_sections == [1, 2, 1, None, 0, 1, 2, 1, 1, 0]


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        ([1, 2, None, None, 0, 1, 2, 1, 1, 0], "2 sections unanswered, unscorable"),
        ([1, 2, 3], "3 scores given"),
        ([1, 2, 3, 4, 6, 0, 1, 2, 3, 4], "odi_sections section 5 = 6"),
    ],
)
def test_odi_sections_refused(sections: list[int | None], match: str) -> None:
    with pytest.raises(ValidationError) as info:
        entry(date=TODAY, odi_sections=sections)
    assert match in fu.describe_validation_error(info.value)


def test_odi_percent_disagreeing_with_sections_refused() -> None:
    with pytest.raises(ValidationError, match="disagrees with the sections"):
        entry(date=TODAY, odi_sections=[1] * 10, odi_percent=50)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("pain", 11, "0–10, at most one decimal"),
        ("pain", -1, "0–10"),
        ("pain", 7.25, "at most one decimal"),
        ("pain", "abc", "0–10"),
        ("pain_rest", 10.5, "0–10"),
        ("pain_activity", float("nan"), "0–10"),
        ("odi_percent", 101, "0–100"),
        ("rmdq", 25, "0–24"),
        ("rmdq", 12.5, "whole number 0–24"),
        ("analgesic", "morphine", "none, non-opioid, weak-opioid, strong-opioid"),
    ],
)
def test_bad_value_refused_naming_field_value_and_range(
    field: str, value: Any, allowed: str
) -> None:
    with pytest.raises(ValidationError) as info:
        entry(date=TODAY, **{field: value})
    message = fu.describe_validation_error(info.value)
    assert message.startswith(f"{field} = {value!r} refused")
    assert allowed in message


@pytest.mark.parametrize("value", [0, 0.5, 7.5, 10, "3.5"])
def test_pain_accepts_zero_to_ten_with_one_decimal(value: Any) -> None:
    assert entry(date=TODAY, pain=value).pain == float(value)


def test_rmdq_bounds_and_analgesic_vocabulary() -> None:
    assert entry(date=TODAY, rmdq=0).rmdq == 0
    assert entry(date=TODAY, rmdq=24).rmdq == 24
    for value in ("none", "non-opioid", "weak-opioid", "Strong-Opioid"):
        assert entry(date=TODAY, analgesic=value).analgesic is not None


def test_not_assessed_is_none_never_zero_and_empty_entry_refused() -> None:
    data = entry(date=TODAY, pain=0)
    assert data.pain == 0 and data.rmdq is None and data.odi_percent is None
    with pytest.raises(ValidationError, match="nothing assessed"):
        entry(date=TODAY)


def test_complications_vocabulary_aliases_and_severity() -> None:
    data = entry(
        date=TODAY,
        complications=[
            {"type": "cement-leakage-disc", "severity": "a"},
            {"type": "foraminal", "severity": "B"},
            {"type": "haematoma", "severity": "C"},
            {"type": "pulmonary-cement-embolism", "severity": "D"},
            {"type": "death", "severity": "F"},
        ],
    )
    assert [c.type.value for c in data.complications] == [
        "cement-leakage-disc",
        "cement-leakage-epidural",
        "bleeding",
        "pulmonary-cement-embolism",
        "death",
    ]
    with pytest.raises(ValidationError) as info:
        entry(date=TODAY, complications=[{"type": "infection", "severity": "G"}])
    assert "complications[1].severity = 'G' refused" in fu.describe_validation_error(info.value)
    with pytest.raises(ValidationError, match="for death refused; allowed: F"):
        entry(date=TODAY, complications=[{"type": "death", "severity": "C"}])


def test_new_fracture_level_parsed_and_refused() -> None:
    assert entry(date=TODAY, new_fractures=[{"level": "Th12"}]).new_fractures[0].level == "T12"
    with pytest.raises(ValidationError) as info:
        entry(date=TODAY, new_fractures=[{"level": "X9"}])
    assert "new_fractures[1].level = 'X9' refused" in fu.describe_validation_error(info.value)


# --- the table: everything derives from it ---------------------------------------------------


def test_every_item_is_a_field_an_option_a_column_and_correctable() -> None:
    from vp_log.cli.followup import CLEARABLE, OPTION_NAMES
    from vp_log.db.followup_tables import CONTENT_COLUMNS, FollowupVersion

    columns = set(FollowupVersion.__table__.columns.keys())
    for item in fu.ITEMS:
        assert item.name in fu.FollowupCreate.model_fields, item.name
        assert item.name in fu.FollowupPublic.model_fields, item.name
        assert item.name in columns and item.name in CONTENT_COLUMNS, item.name
        assert item.name in fu.CORRECTABLE, item.name
        assert OPTION_NAMES[item.name] == item.flag
        assert CLEARABLE[item.option] == item.name
        assert item.name in fu.ALLOWED
    flags = [item.flag for item in fu.ITEMS]
    assert len(set(flags)) == len(flags)
    assert set(fu.OUTCOMES) == {
        "pain", "pain_rest", "pain_activity", "odi_percent", "rmdq", "eq5d_vas",
    }  # fmt: skip


# --- EQ-5D-5L --------------------------------------------------------------------------------

EQ5D = ("eq5d_mobility", "eq5d_self_care", "eq5d_usual_activities", "eq5d_pain_discomfort",
        "eq5d_anxiety_depression")  # fmt: skip


def test_eq5d5l_profile_and_vas() -> None:
    data = entry(date=TODAY, **dict(zip(EQ5D, (1, "2", 3, 4, 5), strict=True)), eq5d_vas="65")
    assert [getattr(data, n) for n in EQ5D] == [1, 2, 3, 4, 5]
    assert data.eq5d_vas == 65
    assert fu.eq5d_profile(fu.item_values(data)) == "12345"
    partial = entry(date=TODAY, eq5d_mobility=1)
    assert fu.eq5d_profile(fu.item_values(partial)) is None  # a missing dimension: no profile
    assert entry(date=TODAY, eq5d_vas=0).eq5d_vas == 0  # 0 is a value, not "not assessed"


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("eq5d_mobility", 0, "below the minimum (1–5)"),
        ("eq5d_self_care", 6, "above the maximum (1–5)"),
        ("eq5d_pain_discomfort", 2.5, "not a whole number"),
        ("eq5d_anxiety_depression", "severe", "not a number"),
        ("eq5d_vas", 101, "above the maximum (0–100)"),
        ("eq5d_vas", "-1", "below the minimum"),
    ],
)
def test_eq5d5l_refusals_name_the_range(field: str, value: Any, why: str) -> None:
    with pytest.raises(ValidationError) as info:
        entry(date=TODAY, **{field: value})
    message = fu.describe_validation_error(info.value)
    assert message.startswith(f"{field} = {value!r} refused: {why}")
    assert "(allowed: a whole number" in message


# --- input as people type it -----------------------------------------------------------------


def test_decimal_comma_and_percent_sign() -> None:
    assert entry(date=TODAY, pain="3,5").pain == 3.5
    assert entry(date=TODAY, odi_percent="64%").odi_percent == 64.0
    assert entry(date=TODAY, odi_percent="37,5 %").odi_percent == 37.5
    with pytest.raises(ValidationError, match="not a number"):
        entry(date=TODAY, pain="7%")  # a percent sign only where the item is a percentage
    assert entry(date=TODAY, analgesic="Weak Opioid").analgesic is fu.Analgesic.WEAK_OPIOID


def test_odi_sections_as_typed() -> None:
    data = entry(date=TODAY, odi_sections="1 2 1 - 0 1 2 1 1 0")
    assert data.odi_sections == [1, 2, 1, None, 0, 1, 2, 1, 1, 0] and data.odi_percent == 20.0


def test_every_prompt_fits_an_80_column_terminal() -> None:
    """A prompt with its '(empty: not assessed): ' and its answer stays on one line."""
    from vp_log.followup.instruments import ITEMS

    for item in ITEMS:
        if item.prompt:
            assert len(f"{item.prompt} (empty: not assessed): 64%") <= 80, item.name
