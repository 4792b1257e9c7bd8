"""Manual record decisions (issue 10): typing-time checks, the rules, the effective record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from vp_log import decisions as dc
from vp_log.vocabulary import Approach, Plausibility, ProcedureType

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def _level(name: str, cement: float | None = None, **more: Any) -> dict[str, Any]:
    return {"level": name, "cement_ml": cement, "sources": [{"x": name}], "flags": [], **more}


VP = {
    "procedure_type": "vertebroplasty",
    "procedure_type_reason": "code 22510",
    "other_procedure": None,
    "levels": [_level("T12", 4.0), _level("L1", 4.0)],
    "total_cement_ml": 8.0,
    "sources": {"total_cement_ml": ["sum of levels"]},
}
FACET = {
    "procedure_type": "other",
    "procedure_type_reason": "code 64493",
    "other_procedure": "facet joint injection",
    "levels": [],
    "total_cement_ml": None,
}


def decide(
    record: dict[str, Any], state: dc.DecisionState | None = None, **request: Any
) -> tuple[dc.DecisionState, dict[str, Any]]:
    return dc.apply_request(
        record, state, dc.DecisionRequest(reason="op note", **request), who="dr.a", now=NOW
    )


# --- typing-time checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("L1,L2", ["L1", "L2"]),
        ("L2, L1", ["L1", "L2"]),  # craniocaudal
        ("T11-L1", ["T11", "T12", "L1"]),
        ("th12;LWK 1", ["T12", "L1"]),
        ("sacrum", ["sacrum"]),
        ("L1,L1", ["L1"]),
    ],
)
def test_levels_are_parsed_canonical_and_ordered(text: str, levels: list[str]) -> None:
    assert dc.parse_levels(text) == levels


@pytest.mark.parametrize("text", ["L9", "Co", "T13", "lumbar", ""])
def test_a_level_that_is_not_a_vertebra_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(dc.DecisionError) as caught:
        dc.parse_levels(text)
    message = str(caught.value)
    assert message.startswith("--levels: ") and "\n" not in message
    if text:
        assert message == (
            f"--levels: {text!r} is not a vertebra; use C1-C7, T1-T12, L1-L5, S1-S5 or sacrum"
        )


@pytest.mark.parametrize(
    ("text", "cement"),
    [
        ("L1=4.5,L2=3", {"L1": 4.5, "L2": 3.0}),
        ("L1=4,5, L2=3", {"L1": 4.5, "L2": 3.0}),  # decimal comma
        ("L2=3 mL; L1=4,5ml", {"L1": 4.5, "L2": 3.0}),
        ("sacrum=12", {"sacrum": 12.0}),  # two sides of 10 mL at most
    ],
)
def test_cement_is_parsed_per_level(text: str, cement: dict[str, float]) -> None:
    assert dc.parse_cement(text) == cement


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("L1", "--cement: 'L1' is not LEVEL=mL (like L1=4.5)"),
        ("L1=", "--cement: 'L1=' has no volume in mL"),
        ("L1=abc", "--cement: 'L1=abc' has no volume in mL"),
        ("L1=0", "--cement: 'L1=0': a cement volume is more than 0 mL"),
        ("L1=-2", "a cement volume is more than 0 mL"),
        ("L1=nan", "a cement volume is more than 0 mL"),
        ("L9=3", "--cement: 'L9' is not a vertebra"),
        ("L1=13", "more than the plausible 12 mL at L1 ([plausibility] vertebral_max_ml)"),
        ("L1=1,L1=2", "--cement: L1 is given twice"),
        ("", "--cement: give LEVEL=mL"),
    ],
)
def test_cement_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(dc.DecisionError, match=None) as caught:
        dc.parse_cement(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_sites_plausible_limit_applies() -> None:
    assert dc.parse_cement("L1=13", Plausibility(vertebral_max_ml=15)) == {"L1": 13.0}


def test_types_exclusions_and_approaches_any_case() -> None:
    assert dc.parse_type("Kyphoplasty") is ProcedureType.KYPHOPLASTY
    assert dc.parse_exclude("PHANTOM") is dc.ExcludeReason.PHANTOM
    assert dc.parse_approach("unipedicular") is Approach.UNIPEDICULAR
    with pytest.raises(dc.DecisionError, match=r"^--type: 'unclassified' is not a procedure"):
        dc.parse_type("unclassified")  # revoke the type instead
    with pytest.raises(dc.DecisionError, match=r"^--exclude: 'junk' is not an exclusion reason"):
        dc.parse_exclude("junk")


# --- the effective record -------------------------------------------------------------------


def test_a_decided_type_is_the_effective_one_and_says_who_and_why() -> None:
    state, changes = decide(FACET, type=ProcedureType.VERTEBROPLASTY)
    shown = dc.effective(FACET, state)
    assert shown["procedure_type"] == "vertebroplasty" and shown["other_procedure"] is None
    assert shown["procedure_type_reason"] == "decided by dr.a on 2026-12-03: op note"
    assert changes == {"type": {"old": "other", "new": "vertebroplasty"}}
    assert FACET["procedure_type"] == "other"  # the extracted record is not changed
    [decision] = dc.public_decisions(FACET, state)
    assert (decision.field, decision.value, decision.extracted) == (
        "type",
        "vertebroplasty",
        "other",
    )


def test_decided_levels_keep_what_extraction_found_at_them() -> None:
    state, changes = decide(VP, levels=["L1", "L2"])
    levels = dc.effective(VP, state)["levels"]
    assert [lv["level"] for lv in levels] == ["L1", "L2"]
    assert levels[0]["cement_ml"] == 4.0 and levels[0]["sources"] == [{"x": "L1"}]
    assert levels[1].get("cement_ml") is None
    # L2's volume is unknown, so the total is the stated one still (unknown is not zero)
    assert dc.effective(VP, state)["total_cement_ml"] == 8.0
    assert changes == {"levels": {"old": ["T12", "L1"], "new": ["L1", "L2"]}}


def test_decided_cement_sets_its_level_and_the_total() -> None:
    state, _ = decide(VP, cement={"L1": 5.5})
    shown = dc.effective(VP, state)
    assert [(lv["level"], lv["cement_ml"]) for lv in shown["levels"]] == [("T12", 4.0), ("L1", 5.5)]
    assert shown["total_cement_ml"] == 9.5


def test_cement_at_a_level_not_extracted_names_it_treated() -> None:
    state, _ = decide(FACET, type=ProcedureType.KYPHOPLASTY, cement={"L2": 3.0})
    shown = dc.effective(FACET, state)
    assert [lv["level"] for lv in shown["levels"]] == ["L2"] and shown["total_cement_ml"] == 3.0


def test_cement_of_one_sacral_side_each_becomes_one_level_when_decided() -> None:
    sacro = {
        **VP,
        "procedure_type": "sacroplasty",
        "levels": [_level("sacrum", 2.0, side="left"), _level("sacrum", 2.5, side="right")],
        "total_cement_ml": 4.5,
    }
    state, _ = decide(sacro, cement={"sacrum": 6.0})
    [level] = dc.effective(sacro, state)["levels"]
    assert (level["side"], level["cement_ml"], len(level["sources"])) == ("bilateral", 6.0, 2)


def test_a_decided_approach_applies_to_every_level() -> None:
    state, _ = decide(VP, approach=Approach.UNIPEDICULAR)
    assert {lv["approach"] for lv in dc.effective(VP, state)["levels"]} == {"unipedicular"}


def test_reports_fields_take_decisions_too() -> None:
    """Reports read a few fields (no reason, no sources): only those are set."""
    fields = {"procedure_type": "other", "levels": []}
    state, _ = decide(FACET, type=ProcedureType.VERTEBROPLASTY, levels=["L1"], cement={"L1": 3})
    assert dc.effective(fields, state) == {
        "procedure_type": "vertebroplasty",
        "levels": [{"level": "L1", "sources": [], "flags": [], "cement_ml": 3}],
        "total_cement_ml": 3,
    }


def test_an_other_procedure_has_no_treated_levels() -> None:
    state, _ = decide(VP, type=ProcedureType.OTHER)
    shown = dc.effective(VP, state)
    assert shown["levels"] == [] and shown["total_cement_ml"] is None
    with pytest.raises(dc.DecisionError, match=r"^--levels: the record is 'other'"):
        decide(FACET, levels=["L1"])
    with_levels, _ = decide(VP, levels=["L1"])
    with pytest.raises(dc.DecisionError, match=r"^--type other: levels is decided; --revoke"):
        decide(VP, with_levels, type=ProcedureType.OTHER)


# --- the rules of a request -----------------------------------------------------------------


def test_cement_must_be_at_the_decided_levels() -> None:
    with pytest.raises(dc.DecisionError, match=r"^--cement: L3 is not in --levels \(L1, L2\)$"):
        decide(VP, levels=["L1", "L2"], cement={"L3": 2.0})
    state, _ = decide(VP, levels=["L1", "L2"])
    with pytest.raises(dc.DecisionError, match=r"not in the decided levels .*give --levels"):
        decide(VP, state, cement={"L3": 2.0})
    state, _ = decide(VP, state, cement={"L2": 2.0})
    with pytest.raises(dc.DecisionError, match=r"^--levels: cement is decided at L2"):
        decide(VP, state, levels=["L1"])


def test_approach_needs_treated_levels() -> None:
    with pytest.raises(dc.DecisionError, match=r"^--approach: the record has no treated levels"):
        decide({**FACET, "procedure_type": "unclassified"}, approach=Approach.UNIPEDICULAR)


def test_a_reason_is_required() -> None:
    with pytest.raises(dc.DecisionError, match=r"^--reason: say why"):
        dc.apply_request(
            VP, None, dc.DecisionRequest(reason="  ", type="kyphoplasty"), who="a", now=NOW
        )


def test_a_decision_that_changes_nothing_is_refused() -> None:
    state, _ = decide(VP, type=ProcedureType.KYPHOPLASTY)
    with pytest.raises(dc.DecisionError, match="nothing changes: type is already decided as"):
        decide(VP, state, type=ProcedureType.KYPHOPLASTY)


def test_revoking_brings_back_what_was_extracted() -> None:
    state, _ = decide(VP, type=ProcedureType.KYPHOPLASTY, exclude=dc.ExcludeReason.DUPLICATE)
    state, changes = decide(VP, state, revoke=[dc.DecisionField.TYPE])
    assert state.decided() == [dc.DecisionField.EXCLUDE]
    assert dc.effective(VP, state)["procedure_type"] == "vertebroplasty"
    assert changes == {"type": {"old": "kyphoplasty", "new": "vertebroplasty"}}
    state, changes = decide(VP, state, revoke=[dc.DecisionField.EXCLUDE])
    assert state.decided() == [] and changes == {"exclude": {"old": "duplicate", "new": None}}
    assert dc.effective(VP, state) == VP
    with pytest.raises(dc.DecisionError, match=r"^--revoke type: nothing decided for type"):
        decide(VP, state, revoke=[dc.DecisionField.TYPE])


def test_the_state_round_trips_through_json() -> None:
    state, _ = decide(
        VP,
        type=ProcedureType.KYPHOPLASTY,
        levels=["L1"],
        cement={"L1": 3.5},
        approach="bipedicular",
    )
    again = dc.DecisionState.model_validate(state.model_dump(mode="json"))
    assert again == state and dc.effective(VP, again) == dc.effective(VP, state)


def test_revoking_all_revokes_what_is_decided() -> None:
    state, _ = decide(VP, type=ProcedureType.KYPHOPLASTY, levels=["L1"])
    state, changes = decide(VP, state, revoke_all=True)
    assert state.decided() == [] and set(changes) == {"type", "levels"}
    with pytest.raises(dc.DecisionError, match=r"^--revoke all: nothing is decided"):
        decide(VP, state, revoke_all=True)
