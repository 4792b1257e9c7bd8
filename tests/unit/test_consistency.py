"""A dose report's totals against its own events (pure)."""

from __future__ import annotations

import pytest

from vp_log.consistency import EventValues, StatedTotals, check_report


def fluoro(
    duration: float | None = 10.0, dap: float | None = 1e-5, ka_r: float | None = 1.0
) -> EventValues:
    return EventValues("fluoroscopy", "single", dap_gy_m2=dap, ka_r_mgy=ka_r, duration_s=duration)


def acquisition(pulses: float | None = 10, dap: float = 2e-5, ka_r: float = 2.0) -> EventValues:
    return EventValues(
        "acquisition", "single", dap_gy_m2=dap, ka_r_mgy=ka_r, duration_s=1.0, pulses=pulses
    )


CONSISTENT = StatedTotals(
    fluoro_time_s=20,
    acquisition_time_s=1,
    dap_gy_m2=4e-5,
    dap_fluoro_gy_m2=2e-5,
    dap_acquisition_gy_m2=2e-5,
    ka_r_mgy=4.0,
    ka_r_fluoro_mgy=2.0,
    ka_r_acquisition_mgy=2.0,
    radiographic_frames=10,
)
EVENTS = [fluoro(), fluoro(), acquisition()]


def checks(stated: StatedTotals, events: list[EventValues]) -> list[str]:
    return [f.check for f in check_report("1.2.3", {"single": stated}, events)]


def test_a_consistent_report_is_not_flagged() -> None:
    assert checks(CONSISTENT, EVENTS) == []


def test_rounding_within_tolerance_is_not_flagged() -> None:
    # Philips Allura: events 13.066 s, total fluoro time 13 s
    stated = StatedTotals(fluoro_time_s=13)
    assert checks(stated, [fluoro(duration=13.066)]) == []


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"fluoro_time_s": 70}, "fluoro-time-disagrees-with-events"),
        ({"fluoro_time_s": 0}, "fluoro-time-zero-with-fluoroscopy-events"),
        ({"acquisition_time_s": 0}, "acquisition-time-zero-with-acquisition-events"),
        ({"dap_gy_m2": 8e-5}, "dap-disagrees-with-events"),
        ({"dap_fluoro_gy_m2": 1e-5}, "dap-fluoro-disagrees-with-events"),
        ({"ka_r_mgy": 40.0}, "ka-r-disagrees-with-events"),
        ({"ka_r_acquisition_mgy": 0.5}, "ka-r-acquisition-disagrees-with-events"),
        ({"radiographic_frames": 12}, "frame-count-disagrees-with-events"),
    ],
)
def test_each_disagreement_is_named(change: dict[str, float], check: str) -> None:
    stated = CONSISTENT.__class__(**{**CONSISTENT.__dict__, **change})
    found = check_report("1.2.3", {"single": stated}, EVENTS)
    assert [f.check for f in found] == [check]
    assert found[0].report_uid == "1.2.3" and found[0].plane == "single"


def test_the_disagreement_keeps_both_numbers() -> None:
    events = [fluoro(duration=3359.0), fluoro(duration=3359.0)]
    (finding,) = check_report("1.2.3", {"single": StatedTotals(fluoro_time_s=70)}, events)
    assert (finding.stated, finding.from_events, finding.unit, finding.events) == (
        70,
        6718,
        "s",
        2,
    )


def test_time_without_events_of_that_kind() -> None:
    assert checks(StatedTotals(acquisition_time_s=5), [fluoro()]) == [
        "acquisition-time-without-acquisition-events"
    ]


def test_unknown_event_values_skip_the_sum() -> None:
    assert checks(StatedTotals(fluoro_time_s=70), [fluoro(duration=None), fluoro()]) == []


def test_unknown_event_type_skips_the_split_checks() -> None:
    unknown = EventValues(None, "single", dap_gy_m2=1e-5, duration_s=5)
    stated = StatedTotals(fluoro_time_s=0, dap_fluoro_gy_m2=9, dap_gy_m2=1e-5)
    assert checks(stated, [unknown]) == []


def test_a_report_without_events_has_nothing_to_compare() -> None:
    assert checks(StatedTotals(fluoro_time_s=70), []) == []


def test_planes_are_checked_each_with_its_own_events() -> None:
    a = EventValues("fluoroscopy", "A", duration_s=10)
    b = EventValues("fluoroscopy", "B", duration_s=30)
    stated = {"A": StatedTotals(fluoro_time_s=10), "B": StatedTotals(fluoro_time_s=10)}
    found = check_report("1.2.3", stated, [a, b])
    assert [(f.plane, f.check) for f in found] == [("B", "fluoro-time-disagrees-with-events")]
