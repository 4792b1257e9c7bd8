"""Issue 3 end to end: EXPECTED.md's values through `vp-log import` and over DICOM."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pydicom
import pytest

from conftest import SAMPLES, ListenerFactory, base_env, run_cli, storescu, wait_for
from expected_values import FLUORO_TABLE, VARIC

# EXPECTED.md: file → (fluoro s, acquisition s, DAP Gy·cm², Ka,r mGy, events, first and last
# event start); None where it gives no value.
EXPECTED: dict[str, tuple[Any, ...]] = {row[0]: row[1:] for row in FLUORO_TABLE}
EXPECTED[VARIC[0]] = (VARIC[1], None, VARIC[2], None, None, None, None)
FIELDS = ("fluoro_time_s", "acquisition_time_s", "dap_gy_cm2", "ka_r_mgy", "irradiation_events")


def close(a: float, b: float) -> bool:
    """Equal to 4 significant figures."""
    return a == b or math.isclose(a, b, rel_tol=5e-4, abs_tol=0.0)


def naive(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every public sample imported once through the CLI; records by file name."""
    data = tmp_path_factory.mktemp("dose") / "data"
    env = base_env(data)
    out = run_cli("import", str(SAMPLES / "openrem"), "--json", env=env)
    summary = json.loads(out.stdout)
    assert summary["rejected"] == []
    records = json.loads(run_cli("procedures", "list", "--all", "--json", env=env).stdout)
    by_study = {r["study_instance_uid"]: r for r in records}
    return {
        f.name: by_study[pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID]
        for f in sorted((SAMPLES / "openrem").glob("*.dcm"))
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_values_through_import(imported: dict[str, dict[str, Any]], name: str) -> None:
    record = imported[name]
    expected = EXPECTED[name]
    for field, value in zip(FIELDS, expected[:5], strict=True):
        if value is None:
            continue
        got = record[field]
        assert isinstance(got, int | float), f"{name}: {field} is {got!r}, expected {value}"
        assert close(float(got), float(value)), f"{name}: {field} {got} != {value}"
    first, last = expected[5], expected[6]
    if first is not None and last is not None:
        assert naive(str(record["start"])) == datetime.fromisoformat(first)
        assert naive(str(record["end"])) >= datetime.fromisoformat(last)
    assert record["procedure_type"] == "unclassified"  # a dose report alone names no procedure


def test_vendor_details(imported: dict[str, dict[str, Any]]) -> None:
    zee = imported["RF-RDSR-Siemens-Zee.dcm"]
    assert (zee["patient_id"], zee["accession_number"]) == ("098765", "1234.5678")
    assert zee["planes"] == ["single"] or len(zee["planes"]) == 1
    philips = imported["RF-RDSR-Philips_Allura.dcm"]
    assert philips["performing_physicians"] == ["Yamada^Tarou=山田^太郎=やまだ^たろう"]
    assert philips["accession_number"] == "01234.1234"
    assert philips["study_description"] == "liuotushoidon raajojen"
    ge = imported["RF-RDSR-GE.dcm"]
    assert ge["device"]["uid"] == "1.3.6.1.4.1.45593.912345678.9876543123"
    assert any("timezone-offset" in f for f in ge["flags"])
    canon = imported["RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm"]
    assert close(canon["ka_r_fluoro_mgy"], 25.664)
    assert close(canon["ka_r_acquisition_mgy"], 4.909)
    varic = imported["RF-ESR-Siemens-Varic.dcm"]
    assert varic["ka_r_mgy"] is None  # empty in the file: unknown, not zero
    assert "private" in str(varic["origins"]["fluoro_time_s"])
    rf, dx = imported["Dual-RDSR-RF.dcm"], imported["Dual-RDSR-DX.dcm"]
    assert rf["device"]["uid"] == dx["device"]["uid"]
    assert rf["modalities"] == ["SR"]


def test_controls_are_not_augmentation(imported: dict[str, dict[str, Any]]) -> None:
    for name in ("Dual-RDSR-DX.dcm", "DX-RDSR-Canon_CXDI.dcm"):
        record = imported[name]
        assert record["procedure_type"] == "unclassified"
        assert record["is_fluoroscopy"] is False
    non_dose = imported["ESR_non-dose.dcm"]
    for field in FIELDS:
        assert non_dose[field] is None


def test_expected_values_over_dicom(listener_factory: ListenerFactory, tmp_path: Path) -> None:
    files = [SAMPLES / "openrem" / n for n in ("RF-RDSR-Philips_Allura.dcm", "RF-RDSR-GE.dcm")]
    lst = listener_factory()
    assert storescu(lst.port, files).returncode == 0

    def records() -> list[dict[str, Any]]:
        out = run_cli("procedures", "list", "--all", "--json", env=lst.env)
        data: list[dict[str, Any]] = json.loads(out.stdout)
        return data

    assert wait_for(lambda: len(records()) == 2)
    by_patient = {r["patient_id"]: r for r in records()}
    philips, ge = by_patient["abc123def"], by_patient["7941723318697695"]
    assert close(philips["dap_gy_cm2"], 1.5357) and close(philips["ka_r_mgy"], 4.2713)
    assert philips["fluoro_time_s"] == 13 and philips["acquisition_time_s"] == 14.75
    assert close(ge["fluoro_time_s"], 72.46) and ge["irradiation_events"] == 8

    shown = run_cli("procedures", "show", str(philips["id"]), env=lst.env).stdout
    assert "0:13 (13 s)" in shown and "1.536 Gy·cm²" in shown and "4.271 mGy" in shown
