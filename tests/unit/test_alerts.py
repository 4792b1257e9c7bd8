"""Dose alerts per procedure and per patient over a window (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from openrem_values import ZEE_PAIR_ALERTS, ZEE_PAIR_CUMULATIVE
from vp_log.alerts import AlertLevels, DoseEntry, Metric, dose_alerts, entry_of_record

DAY = date(2026, 3, 2)


def entry(
    record_id: int,
    day: date | None,
    *,
    patient: str | None = "P1",
    ka_r: float | None = None,
    dap: float | None = None,
    fluoro: float | None = None,
) -> DoseEntry:
    return DoseEntry(
        record_id=record_id,
        patient_id=patient,
        day=day,
        values={Metric.KA_R: ka_r, Metric.DAP: dap, Metric.FLUORO_TIME: fluoro},
    )


def names(alerts: dict[int, list], record_id: int) -> set[str]:  # type: ignore[type-arg]
    return {a.name for a in alerts[record_id]}


def test_defaults_are_the_ncrp_168_levels() -> None:
    levels = AlertLevels()
    assert (levels.ka_r_mgy, levels.dap_gy_cm2, levels.fluoro_time_s) == (5000, 500, 3600)
    assert "NCRP Report No. 168" in levels.source


def test_two_procedures_three_weeks_apart_add_up() -> None:
    first = entry(1, DAY, ka_r=3000, dap=300, fluoro=2000)
    second = entry(2, DAY + timedelta(weeks=3), ka_r=3000, dap=300, fluoro=2000)
    found = dose_alerts([first, second], AlertLevels())
    assert names(found, 1) == set()
    assert names(found, 2) == {"cumulative:ka_r", "cumulative:dap", "cumulative:fluoro_time"}
    ka_r = next(a for a in found[2] if a.metric is Metric.KA_R)
    assert ka_r.value == 6000 and ka_r.records == [1, 2] and ka_r.window_days == 42
    assert not ka_r.incomplete


def test_the_same_doses_a_year_apart_do_not() -> None:
    first = entry(1, DAY, ka_r=3000, dap=300, fluoro=2000)
    second = entry(2, DAY + timedelta(days=365), ka_r=3000, dap=300, fluoro=2000)
    found = dose_alerts([first, second], AlertLevels())
    assert found == {1: [], 2: []}


def test_the_window_edge_counts_its_last_day() -> None:
    levels = AlertLevels(window_days=42)
    inside = dose_alerts([entry(1, DAY, dap=300), entry(2, DAY + timedelta(41), dap=300)], levels)
    outside = dose_alerts([entry(1, DAY, dap=300), entry(2, DAY + timedelta(42), dap=300)], levels)
    assert names(inside, 2) == {"cumulative:dap"}
    assert names(outside, 2) == set()


def test_one_procedure_at_a_level_alerts_alone_and_cumulatively() -> None:
    found = dose_alerts([entry(1, DAY, ka_r=5000)], AlertLevels())
    assert names(found, 1) == {"procedure:ka_r", "cumulative:ka_r"}


def test_other_patients_and_later_procedures_never_count() -> None:
    found = dose_alerts(
        [
            entry(1, DAY, ka_r=3000),
            entry(2, DAY + timedelta(days=1), ka_r=3000, patient="P2"),
            entry(3, DAY + timedelta(days=2), ka_r=3000),
        ],
        AlertLevels(),
    )
    assert names(found, 1) == set() and names(found, 2) == set()
    assert names(found, 3) == {"cumulative:ka_r"}


def test_unknown_values_make_the_sum_a_lower_bound() -> None:
    found = dose_alerts(
        [entry(1, DAY, ka_r=None), entry(2, DAY, ka_r=2500), entry(3, DAY, ka_r=2600)],
        AlertLevels(),
    )
    alert = next(a for a in found[3] if a.name == "cumulative:ka_r")
    assert alert.value == 5100 and alert.incomplete
    # unknown is not zero, and not a value either: no procedure alert on record 1
    assert names(found, 1) == set()


def test_a_level_set_to_none_never_alerts_and_no_patient_means_no_cumulation() -> None:
    levels = AlertLevels(ka_r_mgy=None)
    assert dose_alerts([entry(1, DAY, ka_r=9000)], levels) == {1: []}
    alone = dose_alerts(
        [entry(1, DAY, patient=None, dap=600), entry(2, DAY, patient=None)], AlertLevels()
    )
    assert names(alone, 1) == {"procedure:dap"}


def test_entry_of_record_reads_the_public_fields() -> None:
    record = {"patient_id": "P1", "study_date": "2026-03-02", "ka_r_mgy": 12.5, "dap_gy_cm2": None}
    got = entry_of_record(7, record)
    assert got.day == DAY and got.patient_id == "P1"
    assert got.values[Metric.KA_R] == 12.5 and got.values[Metric.DAP] is None
    assert got.values[Metric.FLUORO_TIME] is None
    assert entry_of_record(8, {"study_date": "not a date"}).day is None


@pytest.mark.parametrize(("dap", "ka_r", "study_date", "expected"), ZEE_PAIR_ALERTS)
def test_openrem_zee_pair_alerts(
    dap: float, ka_r: float, study_date: str, expected: frozenset[str]
) -> None:
    """test_rf_high_dose_alert.py: the Zee file and a copy two days earlier, 2-week window."""
    earlier = entry(1, date(2016, 5, 10), patient="098765", ka_r=2.52, dap=0.16)
    later = entry(2, date(2016, 5, 12), patient="098765", ka_r=2.52, dap=0.16)
    levels = AlertLevels(ka_r_mgy=ka_r, dap_gy_cm2=dap, fluoro_time_s=None, window_days=14)
    found = dose_alerts([earlier, later], levels)
    record = 1 if study_date == "2016-05-10" else 2
    assert names(found, record) == expected
    cumulative = ZEE_PAIR_CUMULATIVE[study_date]
    for alert in found[record]:
        if alert.name == "cumulative:dap":
            assert alert.value == pytest.approx(cumulative[0])
            assert len(alert.records) == cumulative[2]
        if alert.name == "cumulative:ka_r":
            assert alert.value == pytest.approx(cumulative[1])
