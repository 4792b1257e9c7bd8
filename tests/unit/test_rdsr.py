"""Dose report extraction on files written by real units (../shared/samples) and unit rules."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from expected_values import FLUORO_TABLE
from vp_log.extract.rdsr import (
    UnknownUnitError,
    dap_unit_factor,
    extract_dose_report,
    ka_r_unit_factor,
    normalise_dap,
    normalise_ka_r,
    normalise_time,
    parse_dicom_datetime,
    parse_timezone_offset,
    time_unit_factor,
)
from vp_log.models import Kind, Observation

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
OPENREM = SAMPLES / "openrem"


def read(name: str) -> Dataset:
    return pydicom.dcmread(OPENREM / name, stop_before_pixels=True)


def sig4(value: float | None, expected: float) -> bool:
    """Equal to 4 significant figures."""
    if value is None:
        return False
    if expected == 0:
        return value == 0
    return math.isclose(value, expected, rel_tol=5e-4)


def one(observations: list[Observation], kind: Kind) -> Observation:
    found = [o for o in observations if o.kind is kind]
    assert len(found) == 1, (kind, found)
    return found[0]


def events(observations: list[Observation]) -> list[dict[str, Any]]:
    return [o.value for o in observations if o.kind is Kind.IRRADIATION_EVENT]  # type: ignore[misc]


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=None)


# file, fluoro s, acquisition s, DAP Gy·cm², Ka,r mGy, events, first start, last start


@pytest.mark.parametrize(
    ("name", "fluoro_s", "acq_s", "dap_gy_cm2", "ka_r_mgy", "n_events", "first", "last"),
    FLUORO_TABLE,
)
def test_fluoroscopy_reports_match_expected(
    name: str,
    fluoro_s: float,
    acq_s: float,
    dap_gy_cm2: float,
    ka_r_mgy: float,
    n_events: int,
    first: str,
    last: str,
) -> None:
    obs = extract_dose_report(read(name))
    assert sig4(one(obs, Kind.FLUORO_TIME_S).value, fluoro_s)  # type: ignore[arg-type]
    assert sig4(one(obs, Kind.ACQUISITION_TIME_S).value, acq_s)  # type: ignore[arg-type]
    dap = one(obs, Kind.DAP_TOTAL_GY_M2).value
    assert isinstance(dap, float)
    assert sig4(dap * 1e4, dap_gy_cm2)
    assert sig4(one(obs, Kind.KAR_TOTAL_MGY).value, ka_r_mgy)  # type: ignore[arg-type]
    evs = events(obs)
    assert len(evs) == n_events
    assert len({e["uid"] for e in evs}) == n_events
    starts = sorted(local(e["start"]) for e in evs)
    assert starts[0] == datetime.fromisoformat(first)
    assert starts[-1] == datetime.fromisoformat(last)
    report = one(obs, Kind.DOSE_REPORT).value
    assert isinstance(report, dict)
    assert report["template"] == "TID10001"
    assert report["is_fluoroscopy"] is True
    assert report["planes"] == ["single"]
    assert report["event_count"] == n_events
    # every per-plane total says its plane, in flags and in the path
    for o in obs:
        if o.kind in (Kind.FLUORO_TIME_S, Kind.DAP_TOTAL_GY_M2, Kind.KAR_TOTAL_MGY):
            assert o.plane == "single"
            assert o.provenance.path.startswith("sr:(DCM,113702)[0]/")
            assert o.provenance.sop_instance_uid == report["report_uid"]
            assert o.provenance.raw


def test_siemens_zee_one_plane_and_gym2_unit() -> None:
    obs = extract_dose_report(read("RF-RDSR-Siemens-Zee.dcm"))
    dap = one(obs, Kind.DAP_TOTAL_GY_M2)
    assert dap.provenance.raw == "1.6e-005 Gym2"
    assert dap.provenance.path == "sr:(DCM,113702)[0]/(DCM,113722)"
    device = one(obs, Kind.DOSE_DEVICE).value
    assert isinstance(device, dict)
    assert (device["manufacturer"], device["model"], device["serial"]) == (
        "Siemens",
        "AXIOM-Artis",
        "123456",
    )


def test_ge_event_four_device_uid_and_lenient_timezone() -> None:
    obs = extract_dose_report(read("RF-RDSR-GE.dcm"))
    evs = events(obs)
    assert local(evs[3]["start"]) == datetime(2019, 3, 16, 13, 27, 25)
    # Timezone Offset From UTC is the invalid "UTC-04:00": read leniently, and said so.
    assert datetime.fromisoformat(evs[3]["start"]).utcoffset() == timedelta(hours=-4)
    event_obs = [o for o in obs if o.kind is Kind.IRRADIATION_EVENT]
    assert "lenient-timezone-offset:UTC-04:00" in event_obs[3].flags
    device = one(obs, Kind.DOSE_DEVICE).value
    assert isinstance(device, dict)
    # GE writes the Device Observer UID as TEXT rather than UIDREF.
    assert device["uid"] == "1.3.6.1.4.1.45593.912345678.9876543123"
    assert all(e["dap_gy_m2"] is not None for e in evs)  # unit scheme "UCM": code still read


def test_canon_rp_split_and_dgy_cm2() -> None:
    obs = extract_dose_report(read("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm"))
    assert sig4(one(obs, Kind.KAR_FLUORO_MGY).value, 25.664)  # type: ignore[arg-type]
    assert sig4(one(obs, Kind.KAR_ACQUISITION_MGY).value, 4.909)  # type: ignore[arg-type]
    assert one(obs, Kind.DAP_TOTAL_GY_M2).provenance.raw == "126.596 dGy.cm2"
    assert one(obs, Kind.KAR_TOTAL_MGY).provenance.raw == "30.573 mGy"


def test_philips_fluoro_and_acquisition_events() -> None:
    evs = events(extract_dose_report(read("RF-RDSR-Philips_Allura.dcm")))
    assert [e["category"] for e in evs] == ["fluoroscopy", "acquisition", "acquisition"]
    assert [e["protocol"] for e in evs] == [None, "Abdomen 2fps 25%", "Abdomen 2fps 25%"]
    assert sig4(evs[0]["duration_s"], 13.066)


def test_dual_rf_and_dx_name_the_same_device() -> None:
    rf = one(extract_dose_report(read("Dual-RDSR-RF.dcm")), Kind.DOSE_DEVICE).value
    dx = one(extract_dose_report(read("Dual-RDSR-DX.dcm")), Kind.DOSE_DEVICE).value
    assert isinstance(rf, dict)
    assert isinstance(dx, dict)
    assert rf["uid"] == dx["uid"] == "1.3.6.1.4.1.5962.99.1.2930476852.1535886921.1523348932404.2.0"
    assert (rf["manufacturer"], rf["model"], rf["serial"]) == (
        dx["manufacturer"],
        dx["model"],
        dx["serial"],
    )


@pytest.mark.parametrize("name", ["Dual-RDSR-DX.dcm", "DX-RDSR-Canon_CXDI.dcm"])
def test_projection_radiography_reports_are_not_fluoroscopy(name: str) -> None:
    obs = extract_dose_report(read(name))
    report = one(obs, Kind.DOSE_REPORT).value
    assert isinstance(report, dict)
    assert report["is_fluoroscopy"] is False
    assert all(e["category"] == "acquisition" for e in events(obs))


def test_canon_cxdi_empty_values_are_unknown_and_flagged() -> None:
    obs = extract_dose_report(read("DX-RDSR-Canon_CXDI.dcm"))
    ka_r = one(obs, Kind.KAR_TOTAL_MGY)
    assert ka_r.value is None
    assert "empty-value" in ka_r.flags
    assert sig4(one(obs, Kind.DAP_TOTAL_GY_M2).value, 1.07e-5)  # type: ignore[arg-type]


def test_non_dose_enhanced_sr_gives_nothing() -> None:
    assert extract_dose_report(read("ESR_non-dose.dcm")) == []


def test_siemens_arcadis_private_summary() -> None:
    obs = extract_dose_report(read("RF-ESR-Siemens-Varic.dcm"))
    assert sig4(one(obs, Kind.FLUORO_TIME_S).value, 34.427)  # type: ignore[arg-type]
    dap = one(obs, Kind.DAP_TOTAL_GY_M2)
    assert sig4(dap.value * 1e4, 0.2359)  # type: ignore[operator]
    assert dap.provenance.raw == "0.2359 Gy.cm^2"
    assert dap.provenance.path == "sr:(99SMS_RADSUM,C-204)"
    assert "private-template" in dap.flags
    ka_r = one(obs, Kind.KAR_TOTAL_MGY)
    assert ka_r.value is None
    assert "empty-value" in ka_r.flags
    assert not [o for o in obs if o.kind is Kind.ACQUISITION_TIME_S]
    assert not events(obs)
    report = one(obs, Kind.DOSE_REPORT).value
    assert isinstance(report, dict)
    assert report["template"] == "private-siemens-radiation-summary"
    assert report["is_fluoroscopy"] is True
    assert report["event_count"] is None
    device = one(obs, Kind.DOSE_DEVICE).value
    assert isinstance(device, dict)
    assert (device["manufacturer"], device["model"], device["serial"]) == (
        "SIEMENS",
        "ARCADIS",
        "16265",
    )


def all_samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")


@pytest.mark.parametrize("path", all_samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_goes_through(path: Path) -> None:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    obs = extract_dose_report(ds)
    if path.parent.name != "openrem":
        assert obs == []
    for o in obs:
        assert o.provenance.sop_instance_uid == str(ds.SOPInstanceUID)
        if o.kind in (Kind.FLUORO_TIME_S, Kind.DAP_TOTAL_GY_M2, Kind.KAR_TOTAL_MGY):
            assert o.value is None or (isinstance(o.value, float) and o.value >= 0)


def test_all_samples_found() -> None:
    assert len(all_samples()) >= 20


# --- synthetic reports: planes, bad values ------------------------------------------------


def code_item(value: str, scheme: str, meaning: str = "") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning or value
    return item


def num(code: str, value: Any, unit: str | None) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "NUM"
    item.ConceptNameCodeSequence = Sequence([code_item(code, "DCM")])
    measured = Dataset()
    if unit is not None:
        measured.MeasurementUnitsCodeSequence = Sequence([code_item(unit, "UCUM")])
    measured.NumericValue = value
    item.MeasuredValueSequence = Sequence([measured])
    return item


def code(name: str, value: str, scheme: str = "DCM") -> Dataset:
    item = Dataset()
    item.RelationshipType = "HAS CONCEPT MOD"
    item.ValueType = "CODE"
    item.ConceptNameCodeSequence = Sequence([code_item(name, "DCM")])
    item.ConceptCodeSequence = Sequence([code_item(value, scheme)])
    return item


def container(name: str, children: list[Dataset]) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "CONTAINER"
    item.ConceptNameCodeSequence = Sequence([code_item(name, "DCM")])
    item.ContentSequence = Sequence(children)
    return item


def rdsr(children: list[Dataset], sop_class: str = "1.2.840.10008.5.1.4.1.1.88.67") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = "1.2.3.4"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([code_item("113701", "DCM")])
    ds.ContentSequence = Sequence(children)
    return ds


def test_biplane_totals_are_kept_per_plane() -> None:
    ds = rdsr(
        [
            container(
                "113702",
                [code("113764", "113620"), num("113722", "2.0", "Gy.m2"), num("113730", "60", "s")],
            ),
            container(
                "113702",
                [
                    code("113764", "113621"),
                    num("113722", "1.0", "Gy.m2"),
                    num("113730", "2", "min"),
                ],
            ),
        ]
    )
    obs = extract_dose_report(ds)
    dap = {o.plane: o for o in obs if o.kind is Kind.DAP_TOTAL_GY_M2}
    assert {p: o.value for p, o in dap.items()} == {"A": 2.0, "B": 1.0}
    assert dap["B"].provenance.path == "sr:(DCM,113702)[1]/(DCM,113722)"
    times = {o.plane: o.value for o in obs if o.kind is Kind.FLUORO_TIME_S}
    assert times == {"A": 60.0, "B": 120.0}
    report = one(obs, Kind.DOSE_REPORT).value
    assert isinstance(report, dict)
    assert report["planes"] == ["A", "B"]


def test_comprehensive_sr_with_the_template_is_read() -> None:
    ds = rdsr([container("113702", [num("113722", "1", "Gy.m2")])], "1.2.840.10008.5.1.4.1.1.88.33")
    del ds.ConceptNameCodeSequence
    assert one(extract_dose_report(ds), Kind.DAP_TOTAL_GY_M2).value == 1.0


@pytest.mark.parametrize(
    ("value", "unit", "expected", "flag"),
    [
        ("1.5", "XYZ", None, "unknown-unit:XYZ"),
        ("", "Gy.m2", None, "empty-value"),
        (["1", "2"], "Gy.m2", None, "multi-valued"),
        ("2", None, 2.0, "missing-unit:assumed-Gy.m2"),
        ("3", "Gy.cm2", 3e-4, None),
        ("-1", "Gy.m2", None, "negative-value:-1"),
    ],
)
def test_odd_values_flagged_and_rest_still_read(
    value: Any, unit: str | None, expected: float | None, flag: str | None
) -> None:
    ds = rdsr(
        [container("113702", [num("113722", value, unit), num("113730", "10", "s")])],
    )
    obs = extract_dose_report(ds)
    dap = one(obs, Kind.DAP_TOTAL_GY_M2)
    if expected is None:
        assert dap.value is None
    else:
        assert dap.value == pytest.approx(expected)
    if flag:
        assert flag in dap.flags
    assert one(obs, Kind.FLUORO_TIME_S).value == 10.0


def test_images_are_not_dose_reports() -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"
    ds.SOPInstanceUID = "1.2"
    assert extract_dose_report(ds) == []


# --- units -----------------------------------------------------------------------------------

DAP_UNITS = {
    "Gy.m2": 1.0,
    "Gym2": 1.0,
    "Gy.m^2": 1.0,
    "Gy·m²": 1.0,
    "Gy.cm2": 1e-4,
    "Gy.cm^2": 1e-4,
    "dGy.cm2": 1e-5,
    "cGy.cm2": 1e-6,
    "mGy.cm2": 1e-7,
    "uGy.m2": 1e-6,
    "µGy.m2": 1e-6,
    "mGy.m2": 1e-3,
}


@pytest.mark.parametrize(("unit", "factor"), DAP_UNITS.items())
def test_dap_units_seen_in_the_field(unit: str, factor: float) -> None:
    assert dap_unit_factor(unit) == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(("unit", "factor"), [("Gy", 1000.0), ("mGy", 1.0), ("uGy", 1e-3)])
def test_air_kerma_units(unit: str, factor: float) -> None:
    assert ka_r_unit_factor(unit) == pytest.approx(factor)


@pytest.mark.parametrize(("unit", "factor"), [("s", 1.0), ("min", 60.0), ("ms", 1e-3)])
def test_time_units(unit: str, factor: float) -> None:
    assert time_unit_factor(unit) == factor


finite = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(value=finite, a=st.sampled_from(sorted(DAP_UNITS)), b=st.sampled_from(sorted(DAP_UNITS)))
def test_dap_round_trip_between_units(value: float, a: str, b: str) -> None:
    in_b = normalise_dap(value, a) / dap_unit_factor(b)
    assert normalise_dap(in_b, b) == pytest.approx(normalise_dap(value, a), rel=1e-9, abs=1e-300)


@given(value=finite)
def test_dap_scale_factors(value: float) -> None:
    gy_m2 = normalise_dap(value, "Gy.m2")
    assert normalise_dap(value * 1e4, "Gy.cm2") == pytest.approx(gy_m2, rel=1e-12)
    assert normalise_dap(value * 1e5, "dGy.cm2") == pytest.approx(gy_m2, rel=1e-12)


@given(value=finite)
def test_air_kerma_and_time_scale(value: float) -> None:
    assert normalise_ka_r(value, "Gy") == pytest.approx(normalise_ka_r(value * 1000, "mGy"))
    assert normalise_time(value, "min") == pytest.approx(normalise_time(value * 60, "s"))


TIME_UNITS = {"s", "ms", "us", "µs", "μs", "min", "h"}  # micro as u, micro sign or mu


@given(value=finite, unit=st.text(alphabet=st.characters(blacklist_characters="yY"), max_size=8))
def test_unknown_dose_unit_never_gives_a_number(value: float, unit: str) -> None:
    # Without "Gy" a text cannot name a dose-area product or an air kerma unit.
    for normalise in (normalise_dap, normalise_ka_r):
        with pytest.raises(UnknownUnitError):
            normalise(value, unit)


@given(value=finite, unit=st.text(max_size=6))
@example(value=2.0, unit="^h")  # a caret only folds before an exponent (cm^2)
@example(value=2.0, unit="h^")
@example(value=2.0, unit="m^in")
def test_unknown_time_unit_never_gives_a_number(value: float, unit: str) -> None:
    if unit.strip() in TIME_UNITS:
        assert normalise_time(value, unit) >= 0
    else:
        with pytest.raises(UnknownUnitError):
            normalise_time(value, unit)


@pytest.mark.parametrize("unit", ["", "XYZ", "Gy", "MGy.m2", "gy.m2", "cm2", "Sv"])
def test_dap_rejects_other_units(unit: str) -> None:
    with pytest.raises(UnknownUnitError, match="dose-area product unit"):
        normalise_dap(1.0, unit)


# --- date-times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hours", "flagged"),
    [("-0400", -4, False), ("+0130", 1.5, False), ("UTC-04:00", -4, True), ("+01:00", 1, True)],
)
def test_timezone_offsets(text: str, hours: float, flagged: bool) -> None:
    tz, flags = parse_timezone_offset(text)
    assert tz is not None
    assert tz.utcoffset(None) == timedelta(hours=hours)
    assert bool(flags) is flagged


def test_bad_timezone_is_none_and_flagged() -> None:
    tz, flags = parse_timezone_offset("Europe/Paris")
    assert tz is None
    assert flags == ("invalid-timezone-offset:Europe/Paris",)


def test_dicom_datetime_own_offset_wins() -> None:
    default, _ = parse_timezone_offset("+0100")
    value, _ = parse_dicom_datetime("20200108144020.5-0500", default)
    assert value == datetime.fromisoformat("2020-01-08T14:40:20.500000-05:00")
    naive, _ = parse_dicom_datetime("20200108", None)
    assert naive == datetime(2020, 1, 8)
    bad, flags = parse_dicom_datetime("2020-01-08", None)
    assert bad is None
    assert flags
