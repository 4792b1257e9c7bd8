"""Study dose summary on the real samples; merge policy by property."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expected_values import FLUORO_TABLE
from vp_log.dose import (
    EventRecord,
    MergedDose,
    ReportRecord,
    gy_m2_to_gy_cm2,
    merge_events,
    summarise_dose,
)
from vp_log.extract.image_dose import extract_image_dose
from vp_log.extract.rdsr import extract_dose_report
from vp_log.models import Kind, Observation, Provenance

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
OPENREM = SAMPLES / "openrem"


def observations(*names: str) -> list[Observation]:
    found: list[Observation] = []
    for name in names:
        found += extract_dose_report(pydicom.dcmread(OPENREM / name, stop_before_pixels=True))
    return found


def sig4(value: float | None, expected: float) -> bool:
    if value is None:
        return False
    if expected == 0:
        return value == 0
    return math.isclose(value, expected, rel_tol=5e-4)


def local(iso: str | None) -> datetime:
    assert iso is not None
    return datetime.fromisoformat(iso).replace(tzinfo=None)


# EXPECTED.md, fluoroscopy dose reports
TABLE = FLUORO_TABLE


@pytest.mark.parametrize(
    ("name", "fluoro_s", "acq_s", "dap", "ka_r", "n_events", "first", "last"), TABLE
)
def test_expected_values(
    name: str,
    fluoro_s: float,
    acq_s: float,
    dap: float,
    ka_r: float,
    n_events: int,
    first: str,
    last: str,
) -> None:
    summary = summarise_dose(observations(name))
    assert sig4(summary.fluoro_time_s, fluoro_s)
    assert sig4(summary.acquisition_time_s, acq_s)
    assert sig4(summary.dap_gy_cm2, dap)
    assert sig4(summary.ka_r_mgy, ka_r)
    assert summary.irradiation_events == n_events
    assert summary.planes == ["single"]
    assert summary.is_fluoroscopy is True
    assert local(summary.first_event_start) == datetime.fromisoformat(first)
    assert local(summary.last_event_start) == datetime.fromisoformat(last)
    assert local(summary.start) == datetime.fromisoformat(first)
    assert local(summary.end) == datetime.fromisoformat(last)
    assert summary.duration_s == pytest.approx(
        (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    )
    assert summary.device is not None
    assert summary.origins["dap_gy_cm2"] == "TID10001"
    for field in ("fluoro_time_s", "dap_gy_cm2", "ka_r_mgy", "start", "end"):
        assert summary.sources[field], field


def test_ge_event_start_device_uid_and_timezone() -> None:
    summary = summarise_dose(observations("RF-RDSR-GE.dcm"))
    assert summary.device is not None
    assert summary.device.uid == "1.3.6.1.4.1.45593.912345678.9876543123"
    assert summary.start == "2019-03-16T13:26:23-04:00"


def test_canon_rp_split() -> None:
    summary = summarise_dose(observations("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm"))
    assert sig4(summary.ka_r_fluoro_mgy, 25.664)
    assert sig4(summary.ka_r_acquisition_mgy, 4.909)
    assert sig4(summary.dap_fluoro_gy_cm2, 10.6281)
    assert sig4(summary.dap_acquisition_gy_cm2, 2.0315)


def test_siemens_arcadis_private_summary() -> None:
    summary = summarise_dose(observations("RF-ESR-Siemens-Varic.dcm"))
    assert sig4(summary.fluoro_time_s, 34.427)
    assert sig4(summary.dap_gy_cm2, 0.2359)
    assert summary.acquisition_time_s is None
    assert summary.ka_r_mgy is None
    assert summary.irradiation_events is None
    assert summary.templates == ["private-siemens-radiation-summary"]
    assert summary.origins["dap_gy_cm2"] == "private-siemens-radiation-summary"
    assert summary.is_fluoroscopy is True
    assert summary.duration_s == 22 * 60 + 10  # examination start and end in the summary


def test_dual_rf_and_dx_one_device() -> None:
    summary = summarise_dose(observations("Dual-RDSR-RF.dcm", "Dual-RDSR-DX.dcm"))
    assert len(summary.devices) == 1
    assert summary.device is not None
    assert summary.device.model == "Fluorospot Compact FD"


@pytest.mark.parametrize("name", ["Dual-RDSR-DX.dcm", "DX-RDSR-Canon_CXDI.dcm"])
def test_projection_radiography_is_not_fluoroscopy(name: str) -> None:
    assert summarise_dose(observations(name)).is_fluoroscopy is False


def test_non_dose_sr_gives_no_values() -> None:
    summary = summarise_dose(observations("ESR_non-dose.dcm"))
    assert summary.fluoro_time_s is None
    assert summary.dap_gy_cm2 is None
    assert summary.ka_r_mgy is None
    assert summary.irradiation_events is None
    assert summary.is_fluoroscopy is None


def test_nothing_gives_unknown_not_zero() -> None:
    summary = summarise_dose([])
    assert summary.model_dump(exclude_defaults=True) == {}


def test_resent_report_counts_once() -> None:
    once = summarise_dose(observations("RF-RDSR-GE.dcm"))
    obs = observations("RF-RDSR-GE.dcm")
    resent = [
        o.model_copy(
            update={"provenance": o.provenance.model_copy(update={"sop_instance_uid": "9.9"})}
        )
        for o in obs
    ]
    twice = summarise_dose(obs + resent)
    assert twice.dap_gy_cm2 == once.dap_gy_cm2
    assert twice.fluoro_time_s == once.fluoro_time_s
    assert twice.irradiation_events == 8
    assert len(twice.dose_reports) == 1


def test_event_subset_report_changes_nothing() -> None:
    full = observations("RF-RDSR-Philips_Allura.dcm")
    # an earlier report of the same study: first event only, its own totals
    early: list[Observation] = []
    for o in full:
        if o.kind is Kind.IRRADIATION_EVENT and o.provenance.path != "sr:(DCM,113706)[0]":
            continue
        early.append(
            o.model_copy(
                update={"provenance": o.provenance.model_copy(update={"sop_instance_uid": "8.8"})}
            )
        )
    both = summarise_dose(early + full)
    alone = summarise_dose(full)
    assert both.model_dump(exclude={"flags"}) == alone.model_dump(exclude={"flags"})
    assert any(flag.startswith("report-subset-of:") for flag in both.flags)


# --- synthetic observations: planes, images, timing -------------------------------------------


def obs(
    kind: Kind,
    value: object,
    sop: str = "1.1",
    path: str = "x",
    *flags: str,
    plane: str | None = None,
    event_uid: str | None = None,
) -> Observation:
    return Observation(
        kind=kind,
        value=value,
        provenance=Provenance(sop_instance_uid=sop, path=path),
        plane=plane,
        event_uid=event_uid,
        flags=flags,
    )


def report_obs(sop: str, **info: object) -> Observation:
    value = {"template": "TID10001", "report_uid": sop, "is_fluoroscopy": True, "event_count": 0}
    value.update(info)
    return obs(Kind.DOSE_REPORT, value, sop)


def test_two_planes_summed_and_kept() -> None:
    summary = summarise_dose(
        [
            report_obs("1.1", planes=["A", "B"]),
            obs(Kind.DAP_TOTAL_GY_M2, 2e-4, "1.1", "a", plane="A"),
            obs(Kind.DAP_TOTAL_GY_M2, 1e-4, "1.1", "b", plane="B"),
            obs(Kind.FLUORO_TIME_S, 60.0, "1.1", "c", plane="A"),
            obs(Kind.FLUORO_TIME_S, 30.0, "1.1", "d", plane="B"),
            obs(Kind.KAR_TOTAL_MGY, 10.0, "1.1", "e", plane="A"),
            obs(Kind.KAR_TOTAL_MGY, None, "1.1", "f", plane="B"),
        ]
    )
    assert summary.planes == ["A", "B"]
    assert summary.dap_gy_cm2 == pytest.approx(3.0)
    assert summary.fluoro_time_s == pytest.approx(90.0)
    assert summary.per_plane["A"].dap_gy_cm2 == pytest.approx(2.0)
    assert summary.per_plane["B"].fluoro_time_s == pytest.approx(30.0)
    assert summary.per_plane["A"].ka_r_mgy == pytest.approx(10.0)
    assert summary.ka_r_mgy is None  # plane B unknown: the sum is unknown, not 10


def test_image_dap_used_only_without_a_dose_report() -> None:
    images = [
        obs(Kind.IMAGE_DAP_GY_M2, 1e-5, "2.1", "ImageAndFluoroscopyAreaDoseProduct"),
        obs(Kind.IMAGE_DAP_GY_M2, 2e-5, "2.2", "ImageAndFluoroscopyAreaDoseProduct"),
        obs(Kind.IMAGE_DAP_GY_M2, 5e-5, "2.3", "p", "derived-image"),
    ]
    summary = summarise_dose(images)
    assert summary.dap_gy_cm2 == pytest.approx(0.3)
    assert summary.origins["dap_gy_cm2"] == "image-header"
    assert len(summary.sources["dap_gy_cm2"]) == 2
    assert summary.fluoro_time_s is None
    with_report = summarise_dose(
        [*images, report_obs("1.1"), obs(Kind.DAP_TOTAL_GY_M2, 1e-4, "1.1", "t", plane="single")]
    )
    assert with_report.dap_gy_cm2 == pytest.approx(1.0)
    assert with_report.origins["dap_gy_cm2"] == "TID10001"


def test_image_dap_unknown_makes_the_sum_unknown() -> None:
    summary = summarise_dose(
        [
            obs(Kind.IMAGE_DAP_GY_M2, 1e-5, "2.1"),
            obs(Kind.IMAGE_DAP_GY_M2, None, "2.2", "p", "multi-valued"),
        ]
    )
    assert summary.dap_gy_cm2 is None


def test_real_image_headers_with_synthetic_dap() -> None:
    ds = pydicom.dcmread(SAMPLES / "dbdicom" / "0015.DCM", stop_before_pixels=True)
    ds.ImageAndFluoroscopyAreaDoseProduct = "3.5"
    summary = summarise_dose(extract_image_dose(ds))
    assert summary.dap_gy_cm2 == pytest.approx(0.35)  # 3.5 dGy·cm²


def test_timing_from_events_and_images() -> None:
    summary = summarise_dose(
        [
            report_obs("1.1", event_count=1),
            obs(
                Kind.IRRADIATION_EVENT,
                {"uid": "e1", "start": "2020-01-08T14:40:20", "category": "fluoroscopy"},
                "1.1",
            ),
            obs(Kind.CONTENT_DATETIME, "2020-01-08T15:30:00", "1.1"),  # the report itself
            obs(Kind.ACQUISITION_DATETIME, "2020-01-08T14:35:00", "2.1"),
            obs(Kind.CONTENT_DATETIME, "2020-01-08T13:00:00", "2.1"),  # acquisition preferred
            obs(Kind.SERIES_DATETIME, "2020-01-08T14:50:00", "2.2"),
            obs(Kind.MODALITY, "PR", "3.1"),
            obs(Kind.CONTENT_DATETIME, "2020-01-09T09:00:00", "3.1"),  # annotation made later
        ]
    )
    assert summary.start == "2020-01-08T14:35:00"
    assert summary.end == "2020-01-08T14:50:00"
    assert summary.duration_s == 15 * 60
    assert summary.first_event_start == "2020-01-08T14:40:20"
    assert summary.sources["start"] == ["x@2.1"]


def test_mixed_offsets_compared_as_local_time_and_flagged() -> None:
    summary = summarise_dose(
        [
            obs(Kind.ACQUISITION_DATETIME, "2020-01-08T10:00:00-04:00", "2.1"),
            obs(Kind.ACQUISITION_DATETIME, "2020-01-08T11:00:00", "2.2"),
        ]
    )
    assert summary.duration_s == 3600
    assert "mixed-timezone-awareness:compared-as-local-time" in summary.flags


def test_aware_times_compared_in_utc() -> None:
    summary = summarise_dose(
        [
            obs(Kind.ACQUISITION_DATETIME, "2020-01-08T10:00:00+01:00", "2.1"),
            obs(Kind.ACQUISITION_DATETIME, "2020-01-08T09:30:00+00:00", "2.2"),
        ]
    )
    assert summary.start == "2020-01-08T10:00:00+01:00"
    assert summary.duration_s == 30 * 60


def test_device_falls_back_to_image_header() -> None:
    summary = summarise_dose(
        [
            obs(Kind.MANUFACTURER, "GE MEDICAL SYSTEMS", "2.1"),
            obs(Kind.MODEL, "DRS", "2.1"),
        ]
    )
    assert summary.device is not None
    assert (summary.device.manufacturer, summary.device.model) == ("GE MEDICAL SYSTEMS", "DRS")


def test_gy_m2_to_gy_cm2() -> None:
    assert gy_m2_to_gy_cm2(1.0) == 1e4
    assert gy_m2_to_gy_cm2(None) is None


# --- merge policy: properties -------------------------------------------------------------

CATEGORIES = ("fluoroscopy", "acquisition")
PLANES = ("A", "B")
small = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)


@st.composite
def universes(draw: st.DrawFn) -> dict[str, EventRecord]:
    count = draw(st.integers(min_value=1, max_value=12))
    return {
        f"e{i}": EventRecord(
            uid=f"e{i}",
            start=f"2020-01-01T10:{i:02d}:00",
            category=draw(st.sampled_from(CATEGORIES)),
            plane=draw(st.sampled_from(PLANES)),
            dap_gy_m2=draw(small),
            ka_r_mgy=draw(small),
            duration_s=draw(small),
        )
        for i in range(count)
    }


def contributions(event: EventRecord) -> dict[tuple[str, str], float]:
    split = "fluoro" if event.category == "fluoroscopy" else "acquisition"
    assert event.dap_gy_m2 is not None
    assert event.ka_r_mgy is not None
    assert event.duration_s is not None
    return {
        ("dap_total_gy_m2", event.plane): event.dap_gy_m2,
        (f"dap_{split}_gy_m2", event.plane): event.dap_gy_m2,
        ("ka_r_total_mgy", event.plane): event.ka_r_mgy,
        (f"ka_r_{split}_mgy", event.plane): event.ka_r_mgy,
        (f"{split}_time_s", event.plane): event.duration_s,
    }


def totals_of(events: list[EventRecord]) -> dict[tuple[str, str], float | None]:
    keys = [
        (f, p)
        for p in PLANES
        for f in (
            "dap_total_gy_m2",
            "dap_fluoro_gy_m2",
            "dap_acquisition_gy_m2",
            "ka_r_total_mgy",
            "ka_r_fluoro_mgy",
            "ka_r_acquisition_mgy",
            "fluoro_time_s",
            "acquisition_time_s",
        )
    ]
    totals: dict[tuple[str, str], float | None] = dict.fromkeys(keys, 0.0)
    for event in events:
        for key, value in contributions(event).items():
            current = totals[key]
            assert current is not None
            totals[key] = current + value
    return totals


def report(uid: str, events: list[EventRecord]) -> ReportRecord:
    ordered = sorted(events, key=lambda e: e.uid)
    return ReportRecord(report_uid=uid, events=tuple(ordered), totals=totals_of(ordered))


@st.composite
def studies(draw: st.DrawFn) -> tuple[dict[str, EventRecord], list[ReportRecord]]:
    universe = draw(universes())
    n = draw(st.integers(min_value=1, max_value=5))
    reports = []
    for i in range(n):
        uids = draw(st.sets(st.sampled_from(sorted(universe)), min_size=1))
        reports.append(report(f"r{i}", [universe[u] for u in uids]))
    return universe, reports


def assert_same_totals(a: MergedDose, b: MergedDose) -> None:
    assert a.totals.keys() == b.totals.keys()
    for key in a.totals:
        x, y = a.totals[key], b.totals[key]
        assert (x is None) == (y is None), key
        if x is not None and y is not None:
            assert x == pytest.approx(y, rel=1e-9, abs=1e-9), key


def expected_union_totals(
    universe: dict[str, EventRecord], uids: set[str]
) -> dict[tuple[str, str], float | None]:
    return totals_of([universe[u] for u in sorted(uids)])


@settings(max_examples=200)
@given(studies(), st.randoms(use_true_random=False))
def test_reorder_gives_the_same_result(
    study: tuple[dict[str, EventRecord], list[ReportRecord]], rnd: object
) -> None:
    _, reports = study
    shuffled = list(reports)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a, b = merge_events(reports), merge_events(shuffled)
    assert a.kept == b.kept
    assert a.dropped == b.dropped
    assert a.events == b.events
    assert_same_totals(a, b)


@settings(max_examples=200)
@given(studies())
def test_overlap_is_a_union_without_double_counting(
    study: tuple[dict[str, EventRecord], list[ReportRecord]],
) -> None:
    universe, reports = study
    merged = merge_events(reports)
    union = {e.uid for r in reports for e in r.events}
    assert set(merged.events) == union
    expected = expected_union_totals(universe, union)
    assert_same_totals(merged, MergedDose({}, expected, (), {}, (), True))


@settings(max_examples=200)
@given(studies(), st.data())
def test_subset_changes_nothing(
    study: tuple[dict[str, EventRecord], list[ReportRecord]], data: st.DataObject
) -> None:
    universe, reports = study
    before = merge_events(reports)
    source = data.draw(st.sampled_from(reports))
    uids = data.draw(st.sets(st.sampled_from([e.uid for e in source.events])))
    extra = report("zz-subset", [universe[u] for u in uids])
    after = merge_events([*reports, extra])
    assert after.kept == before.kept
    assert after.events == before.events
    assert_same_totals(after, before)
    assert "zz-subset" in after.dropped


@settings(max_examples=200)
@given(studies(), st.data())
def test_superset_replaces(
    study: tuple[dict[str, EventRecord], list[ReportRecord]], data: st.DataObject
) -> None:
    universe, reports = study
    source = data.draw(st.sampled_from(reports))
    more = data.draw(st.sets(st.sampled_from(sorted(universe))))
    bigger = {e.uid for e in source.events} | more
    if bigger == {e.uid for e in source.events}:
        return
    cumulative = report("zz-cumulative", [universe[u] for u in bigger])
    merged = merge_events([source, cumulative])
    assert merged.kept == ("zz-cumulative",)
    assert merged.dropped == {source.report_uid: "subset-of:zz-cumulative"}
    assert_same_totals(merged, merge_events([cumulative]))


def test_duplicate_reports_keep_one() -> None:
    event = EventRecord(uid="e", category="fluoroscopy", plane="A", dap_gy_m2=1.0)
    a = ReportRecord("r1", (event,), {("dap_total_gy_m2", "A"): 1.0})
    b = ReportRecord("r2", (event,), {("dap_total_gy_m2", "A"): 1.0})
    merged = merge_events([b, a])
    assert merged.kept == ("r1",)
    assert merged.dropped == {"r2": "duplicate-of:r1"}
    assert merged.totals == {("dap_total_gy_m2", "A"): 1.0}


def test_overlap_with_unknown_event_value_is_unknown() -> None:
    shared = EventRecord(uid="s", category="fluoroscopy", plane="A", dap_gy_m2=None)
    one = EventRecord(uid="x", category="fluoroscopy", plane="A", dap_gy_m2=1.0)
    two = EventRecord(uid="y", category="fluoroscopy", plane="A", dap_gy_m2=1.0)
    merged = merge_events(
        [
            ReportRecord("r1", (shared, one), {("dap_total_gy_m2", "A"): 3.0}),
            ReportRecord("r2", (shared, two), {("dap_total_gy_m2", "A"): 3.0}),
        ]
    )
    assert merged.totals[("dap_total_gy_m2", "A")] is None
    assert "overlap-unresolved:dap_total_gy_m2:A" in merged.flags


def test_reports_without_events_used_only_alone() -> None:
    private = ReportRecord("p", (), {("fluoro_time_s", "unspecified"): 30.0}, has_events=False)
    rdsr = ReportRecord(
        "r", (EventRecord(uid="e"),), {("fluoro_time_s", "single"): 28.0}, has_events=True
    )
    merged = merge_events([private, rdsr])
    assert merged.kept == ("r",)
    assert merged.totals == {("fluoro_time_s", "single"): 28.0}
    alone = merge_events([private])
    assert alone.kept == ("p",)
    assert not alone.counts_events
