"""Dose alerts end to end: generated patients and OpenREM's Zee pair through `vp-log import`."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest

from conftest import SAMPLES, base_env, run_cli
from openrem_values import ZEE_PAIR_ALERTS, ZEE_PAIR_CUMULATIVE
from vp_log.samples import write_case

FIRST = datetime(2026, 1, 5, 10, 0)


def _patient(
    out: Path, patient_id: str, days_apart: int, seed: int, first_day: datetime = FIRST
) -> float:
    """Two kyphoplasties of one patient ``days_apart`` apart; returns one's Ka,r (mGy)."""
    first = write_case(
        "kp-one-level", out / f"{patient_id}-a", seed=seed, patient_id=patient_id, start=first_day
    )
    write_case(
        "kp-one-level",
        out / f"{patient_id}-b",
        seed=seed + 1,
        patient_id=patient_id,
        start=first_day + timedelta(days=days_apart),
    )
    return first.ka_r_mgy


def _alerts(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        run_cli("dose", "alerts", "--json", *args, env=env).stdout
    )["alerts"]
    return found


def test_three_weeks_apart_alerts_a_year_apart_does_not(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    ka_r = _patient(cases, "PT-3WEEKS", 21, seed=1)
    assert _patient(cases, "PT-1YEAR", 365, seed=3) == ka_r
    # One procedure stays below the level, the two together reach it.
    env = base_env(tmp_path / "data", VP_LOG_DOSE_ALERT_KA_R_MGY=f"{ka_r * 1.5:g}")
    run_cli("import", str(cases), env=env)
    records = json.loads(run_cli("procedures", "list", "--json", env=env).stdout)
    assert len(records) == 4
    alerts = _alerts(env)
    assert [(a["patient_id"], a["scope"], a["metric"]) for a in alerts] == [
        ("PT-3WEEKS", "cumulative", "ka_r")
    ]
    (alert,) = alerts
    assert alert["value"] == pytest.approx(2 * ka_r)
    assert alert["study_date"] == (FIRST + timedelta(days=21)).date().isoformat()
    assert len(alert["records"]) == 2 and alert["window_days"] == 42
    # --since: only procedures from that day on are listed, with their whole window
    assert _alerts(env, "--since", "2026-01-20") == alerts
    assert _alerts(env, "--since", "2026-02-01") == []
    # the listing a person reads
    text = run_cli("dose", "alerts", env={**env, "COLUMNS": "80"}).stdout
    assert "PT-3WEEKS" in text and "cumulative Ka,r" in text and "PT-1YEAR" not in text
    assert text.splitlines()[0].rstrip() == "1 dose alert on 1 procedure of 1 patient"
    # procedures show: the alert on the record, its events and subtotals
    later = alert["record_id"]
    shown = json.loads(run_cli("procedures", "show", str(later), "--json", env=env).stdout)
    assert [a["scope"] + ":" + a["metric"] for a in shown["dose_alerts"]] == ["cumulative:ka_r"]
    assert len(shown["events"]) == shown["irradiation_events"] > 0
    assert shown["event_subtotals"]["fluoroscopy"]["events"] == len(shown["events"])
    assert shown["events"][0]["technique"]["kvp"]["unit"] == "kV"
    text = run_cli("procedures", "show", str(later), "--events", env={**env, "COLUMNS": "80"})
    lines = text.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("dose alert:") for line in lines)
    assert any("Irradiation events" in line for line in lines)
    assert any("Subtotals from the events" in line for line in lines)
    bad = run_cli("dose", "alerts", "--since", "last week", env=env, check=False)
    assert bad.returncode == 2 and "--since must be a date" in bad.stderr


def test_the_title_counts_alerts_the_footer_procedures_in_words(tmp_path: Path) -> None:
    """The rows are alerts, the pages procedures (each with all its alerts): the title says
    both, and the footer pages the same procedures with the same number format."""
    cases = tmp_path / "cases"
    ka_r = _patient(cases, "PT-A", 10, seed=1)
    _patient(cases, "PT-B", 10, seed=3)
    # Each procedure reaches the level alone; each second one also with its first.
    env = base_env(tmp_path / "data", VP_LOG_DOSE_ALERT_KA_R_MGY=f"{ka_r * 0.75:g}", COLUMNS="80")
    run_cli("import", str(cases), env=env)
    assert len(_alerts(env)) == 8  # the JSON also has each first one's window of one
    page = run_cli("dose", "alerts", "--limit", "1", env=env).stdout.splitlines()
    assert page[0].rstrip() == "6 dose alerts on 4 procedures of 2 patients"
    assert "showing 1 of 4 procedures with alerts (the newest); --limit/--offset for more" in page
    since = (FIRST + timedelta(days=10)).date().isoformat()
    page = run_cli("dose", "alerts", "--since", since, env=env).stdout.splitlines()
    assert (
        page[0].rstrip() == f"4 dose alerts on 2 procedures of 2 patients, dated {since} or later"
    )
    assert not any(line.startswith("showing") for line in page)


def _zee_pair(out: Path) -> None:
    """The Zee sample and a copy two days earlier in another study (as OpenREM's test)."""
    out.mkdir()
    ds = pydicom.dcmread(SAMPLES / "openrem" / "RF-RDSR-Siemens-Zee.dcm")
    ds.save_as(out / "zee.dcm")
    ds.StudyDate = (date(2016, 5, 12) - timedelta(days=2)).strftime("%Y%m%d")
    ds.StudyInstanceUID = ds.StudyInstanceUID + ".1"
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".1"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(out / "zee_adjusted.dcm")


@pytest.fixture(scope="module")
def zee_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pair imported once: alerts are worked out when read, so each level set reads it."""
    root = tmp_path_factory.mktemp("zee")
    _zee_pair(root / "zee")
    run_cli("import", str(root / "zee"), env=base_env(root / "data"))
    return root / "data"


@pytest.mark.parametrize(("dap", "ka_r", "study_date", "expected"), ZEE_PAIR_ALERTS)
def test_openrem_zee_pair(
    zee_data: Path, dap: float, ka_r: float, study_date: str, expected: frozenset[str]
) -> None:
    """test_rf_high_dose_alert.py's levels and 2-week window on the Zee pair."""
    env = base_env(
        zee_data,
        VP_LOG_DOSE_ALERT_DAP_GY_CM2=str(dap),
        VP_LOG_DOSE_ALERT_KA_R_MGY=str(ka_r),
        VP_LOG_DOSE_ALERT_FLUORO_TIME_MIN="0",
        VP_LOG_DOSE_ALERT_WINDOW_DAYS="14",
    )
    alerts = [a for a in _alerts(env) if a["study_date"] == study_date]
    assert {f"{a['scope']}:{a['metric']}" for a in alerts} == expected
    cumulative_dap, cumulative_ka_r, exams = ZEE_PAIR_CUMULATIVE[study_date]
    for alert in alerts:
        if alert["scope"] == "cumulative":
            expected_value = cumulative_dap if alert["metric"] == "dap" else cumulative_ka_r
            assert alert["value"] == pytest.approx(expected_value)
            assert len(alert["records"]) == exams


def test_status_counts_the_alerts_of_the_last_window(tmp_path: Path) -> None:
    """Issue 13: `vp-log status` says how many records of the last alert window are alerted."""
    cases = tmp_path / "cases"
    recent = datetime.combine(date.today() - timedelta(days=30), datetime.min.time())
    ka_r = _patient(cases, "PT-RECENT", 21, seed=5, first_day=recent.replace(hour=10))
    env = base_env(tmp_path / "data", VP_LOG_DOSE_ALERT_KA_R_MGY=f"{ka_r * 1.5:g}")
    run_cli("import", str(cases), env=env)
    data = json.loads(run_cli("status", "--json", env=env).stdout)
    doses = data["dose_alerts"]
    assert doses["records"] == 1 and doses["alerts"] == 1
    since = (date.today() - timedelta(days=41)).isoformat()
    assert doses["since"] == since
    text = run_cli("status", env={**env, "COLUMNS": "80"}).stdout
    assert f"1 dose alert on 1 procedure dated {since} or later" in " ".join(text.split())
    assert doses["shown_alerts"] == 1
    listed = run_cli("dose", "alerts", "--since", since, env={**env, "COLUMNS": "80"}).stdout
    assert listed.startswith("1 dose alert on 1 procedure of 1 patient"), listed  # as status says
    quiet = base_env(tmp_path / "quiet", VP_LOG_DOSE_ALERT_KA_R_MGY=f"{ka_r * 3:g}")
    run_cli("import", str(cases), env=quiet)
    assert json.loads(run_cli("status", "--json", env=quiet).stdout)["dose_alerts"]["records"] == 0
