"""The sample-case generator: deterministic, readable, consistent, faithful to the templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian

from vp_log.samples import (
    CaseManifest,
    CaseName,
    Role,
    case_manifest,
    write_bench_set,
    write_case,
    write_large_xa,
    write_xa_instances,
)
from vp_log.samples import _codes as c
from vp_log.samples.__main__ import main
from vp_log.samples._pixels import base_frame, iter_frames

SOP = {
    "XA": "1.2.840.10008.5.1.4.1.1.12.1",
    "RF": "1.2.840.10008.5.1.4.1.1.12.2",
    Role.PRESENTATION_STATE: "1.2.840.10008.5.1.4.1.1.11.1",
    Role.VOLUME_SR: "1.2.840.10008.5.1.4.1.1.88.33",
    Role.DOSE_SR: "1.2.840.10008.5.1.4.1.1.88.67",
}
CASES = [case.value for case in CaseName]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaseManifest]:
    root = tmp_path_factory.mktemp("cases")
    return {case: write_case(case, root / case, seed=3) for case in CASES}


def _read(path: Path) -> Dataset:
    return pydicom.dcmread(path)


def _code(item: Dataset, keyword: str = "ConceptNameCodeSequence") -> tuple[str, str]:
    seq = item[keyword].value[0]
    return (seq.CodeValue, seq.CodingSchemeDesignator)


def _children(item: Dataset, code: c.Code) -> list[Dataset]:
    return [
        child
        for child in item.get("ContentSequence", [])
        if "ConceptNameCodeSequence" in child and _code(child) == (code.value, code.scheme)
    ]


def _num(item: Dataset, code: c.Code) -> tuple[Decimal, str]:
    (found,) = _children(item, code)
    measured = found.MeasuredValueSequence[0]
    return Decimal(str(measured.NumericValue)), measured.MeasurementUnitsCodeSequence[0].CodeValue


def _dt(value: str, manifest: CaseManifest) -> datetime:
    fmt = "%Y%m%d%H%M%S.%f" if "." in value else "%Y%m%d%H%M%S"
    return datetime.strptime(value, fmt).replace(tzinfo=manifest.start.tzinfo)


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_same_seed_gives_identical_bytes(tmp_path: Path, case: str) -> None:
    first = write_case(case, tmp_path / "a", seed=11)
    second = write_case(case, tmp_path / "b", seed=11)
    assert [p.name for p in first.paths()] == [p.name for p in second.paths()]
    for a, b in zip(first.paths(), second.paths(), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = write_case(case, tmp_path / "c", seed=12)
    assert other.study_instance_uid != first.study_instance_uid
    assert other.levels == first.levels and other.dap_gy_cm2 == first.dap_gy_cm2


def test_cases_do_not_share_identities(written: dict[str, CaseManifest]) -> None:
    uids = [uid for m in written.values() for uid in (f.sop_instance_uid for f in m.files)]
    assert len(uids) == len(set(uids))
    assert len({m.study_instance_uid for m in written.values()}) == len(written)


@pytest.mark.parametrize("case", CASES)
def test_manifest_without_writing_matches(
    tmp_path: Path, case: str, written: dict[str, CaseManifest]
) -> None:
    real = written[case]
    planned = case_manifest(case, real.out_dir, seed=3)
    strip = {"files": {"__all__": {"size_bytes"}}}
    assert planned.model_dump(exclude=strip) == real.model_dump(exclude=strip)
    realistic = case_manifest(case, tmp_path, seed=3, size="realistic")
    cine = realistic.files_with_role(Role.CINE)
    assert cine and all(f.number_of_frames == 60 and f.rows == 512 for f in cine)


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='Argument "case" must be one of'):
        write_case("vertebroplasty", tmp_path)
    with pytest.raises(ValueError, match='Argument "size" must be one of'):
        write_case("kp-one-level", tmp_path, size="huge")
    with pytest.raises(ValueError, match='Argument "name" must be one of A, B, C'):
        write_bench_set("D", tmp_path)


# --- files read back ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_files_read_back_consistent(case: str, written: dict[str, CaseManifest]) -> None:
    manifest = written[case]
    assert manifest.instance_count == len(manifest.files) == len(list(manifest.out_dir.iterdir()))
    series: dict[str, int] = {}
    for entry in manifest.files:
        ds = _read(entry.path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID == entry.sop_class_uid
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        expected_class = SOP.get(entry.role) or SOP[entry.modality]
        assert ds.SOPClassUID == expected_class
        assert ds.StudyInstanceUID == manifest.study_instance_uid
        assert ds.SeriesInstanceUID == entry.series_instance_uid
        assert series.setdefault(ds.SeriesInstanceUID, ds.SeriesNumber) == ds.SeriesNumber
        assert ds.PatientID == manifest.patient_id and ds.PatientName == manifest.patient_name
        assert ds.AccessionNumber == manifest.accession_number
        assert ds.TimezoneOffsetFromUTC == "+0100"
        assert ds.Manufacturer == manifest.device.manufacturer
        assert ds.DeviceSerialNumber == manifest.device.serial
        assert [i.CodeValue for i in ds.ProcedureCodeSequence] == list(manifest.procedure_codes)
        assert {i.CodingSchemeDesignator for i in ds.ProcedureCodeSequence} == {"C4"}
        if entry.role in (Role.SPOT, Role.CINE):
            assert ds.Modality == entry.modality
            frames = int(ds.get("NumberOfFrames", 1))
            assert frames == entry.number_of_frames
            assert len(ds.PixelData) == ds.Rows * ds.Columns * frames
            assert ds.IrradiationEventUID in manifest.irradiation_event_uids
            acquired = _dt(ds.AcquisitionDateTime, manifest)
            assert acquired == entry.acquisition_datetime
            assert manifest.start <= acquired <= manifest.end
    assert len(series) == manifest.series_count


@pytest.mark.parametrize("case", CASES)
def test_presentation_state_carries_the_annotations(
    case: str, written: dict[str, CaseManifest]
) -> None:
    manifest = written[case]
    (entry,) = manifest.files_with_role(Role.PRESENTATION_STATE)
    ds = _read(entry.path)
    assert ds.Modality == "PR" and "ContentDate" not in ds
    images = {f.sop_instance_uid for f in manifest.files if f.role in (Role.SPOT, Role.CINE)}
    referenced = {
        ref.ReferencedSOPInstanceUID
        for series in ds.ReferencedSeriesSequence
        for ref in series.ReferencedImageSequence
    }
    assert referenced == images
    texts = []
    for annotation in ds.GraphicAnnotationSequence:
        assert annotation.GraphicLayer == ds.GraphicLayerSequence[0].GraphicLayer
        assert {r.ReferencedSOPInstanceUID for r in annotation.ReferencedImageSequence} <= images
        texts += [t.UnformattedTextValue for t in annotation.TextObjectSequence]
    assert tuple(texts) == manifest.annotations


@pytest.mark.parametrize("case", [c for c in CASES if c != "non-augmentation"])
def test_volume_sr_codes_each_level(case: str, written: dict[str, CaseManifest]) -> None:
    manifest = written[case]
    (entry,) = manifest.files_with_role(Role.VOLUME_SR)
    ds = _read(entry.path)
    assert _code(ds) == ("126000", "DCM")
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    (measurements,) = _children(ds, c.IMAGING_MEASUREMENTS)
    groups = _children(measurements, c.MEASUREMENT_GROUP)
    assert len(groups) == len(manifest.levels)
    for group, level in zip(groups, manifest.levels, strict=True):
        value, unit = _num(group, c.VOLUME)
        assert (float(value), unit) == (level.cement_ml, "ml")
        (site,) = _children(group, c.FINDING_SITE)
        assert site.RelationshipType == "HAS CONCEPT MOD"
        expected = c.SACRUM if level.level == "sacrum" else c.VERTEBRA_CODES[level.level]
        assert _code(site, "ConceptCodeSequence") == (expected.value, "SCT")
        sides = _children(site, c.LATERALITY)
        if level.side is None:
            assert sides == []
        else:
            assert _code(sides[0], "ConceptCodeSequence") == (c.SIDE_CODES[level.side].value, "SCT")
    assert manifest.total_cement_ml == pytest.approx(sum(lv.cement_ml for lv in manifest.levels))
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == manifest.study_instance_uid


@pytest.mark.parametrize("case", CASES)
def test_dose_report_follows_tid_10001(case: str, written: dict[str, CaseManifest]) -> None:
    manifest = written[case]
    (entry,) = manifest.files_with_role(Role.DOSE_SR)
    ds = _read(entry.path)
    assert _code(ds) == ("113701", "DCM")
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "10001"
    assert ds.CompletionFlag == "COMPLETE"
    (scope,) = _children(ds, c.SCOPE_OF_ACCUMULATION)
    (study_ref,) = _children(scope, c.STUDY_INSTANCE_UID)
    assert study_ref.get("UID") == manifest.study_instance_uid
    (serial,) = _children(ds, c.DEVICE_OBSERVER_SERIAL)
    assert serial.TextValue == manifest.device.serial
    (accumulated,) = _children(ds, c.ACCUMULATED_XRAY_DOSE)
    assert _num(accumulated, c.TOTAL_FLUORO_TIME) == (
        Decimal(str(manifest.fluoro_time_s)),
        "s",
    )
    dap, unit = _num(accumulated, c.DAP_TOTAL)
    assert unit == "Gy.m2" and float(dap * 10000) == pytest.approx(manifest.dap_gy_cm2)
    dose, unit = _num(accumulated, c.DOSE_RP_TOTAL)
    assert unit == "Gy" and float(dose * 1000) == pytest.approx(manifest.ka_r_mgy)
    fluoro_dap, _ = _num(accumulated, c.FLUORO_DAP_TOTAL)
    acq_dap, _ = _num(accumulated, c.ACQUISITION_DAP_TOTAL)
    assert fluoro_dap + acq_dap == dap
    fluoro_dose, _ = _num(accumulated, c.FLUORO_DOSE_RP_TOTAL)
    acq_dose, _ = _num(accumulated, c.ACQUISITION_DOSE_RP_TOTAL)
    assert fluoro_dose + acq_dose == dose
    events = _children(ds, c.IRRADIATION_EVENT)
    assert len(events) == manifest.irradiation_events
    uids, starts, total_dap, total_dose, fluoro_time = [], [], Decimal(0), Decimal(0), Decimal(0)
    for event in events:
        uids.append(_children(event, c.IRRADIATION_EVENT_UID)[0].UID)
        starts.append(_dt(_children(event, c.DATETIME_STARTED)[0].DateTime, manifest))
        total_dap += _num(event, c.DAP)[0]
        total_dose += _num(event, c.DOSE_RP)[0]
        (kind,) = _children(event, c.IRRADIATION_EVENT_TYPE)
        if _code(kind, "ConceptCodeSequence") == (c.FLUOROSCOPY.value, "SCT"):
            fluoro_time += _num(event, c.IRRADIATION_DURATION)[0]
        assert _children(event, c.ACQUISITION_PROTOCOL)[0].TextValue
        assert _children(event, c.ACQUISITION_PLANE)
    assert tuple(uids) == manifest.irradiation_event_uids
    assert (total_dap, total_dose) == (dap, dose)
    assert float(fluoro_time) == pytest.approx(manifest.fluoro_time_s)
    assert min(starts) == manifest.start
    assert all(manifest.start <= s <= manifest.end for s in starts)


def test_expected_values_of_the_vertebroplasty(written: dict[str, CaseManifest]) -> None:
    m = written["vp-two-level"]
    assert (m.procedure_type, m.procedure_codes) == ("vertebroplasty", ("22510", "22512"))
    assert [(lv.level, lv.cement_ml, lv.approach) for lv in m.levels] == [
        ("T12", 3.5, "bipedicular"),
        ("L1", 4.5, "bipedicular"),
    ]
    assert (m.total_cement_ml, m.fluoro_time_s, m.dap_gy_cm2, m.ka_r_mgy) == (
        8.0,
        249.6,
        18.32,
        97.6,
    )
    assert (m.irradiation_events, m.instance_count, m.modalities) == (10, 11, ("PR", "SR", "XA"))
    assert "T12 3,5 ml bipedicular" in m.annotations
    non_aug = written["non-augmentation"]
    assert (non_aug.procedure_type, non_aug.levels, non_aug.total_cement_ml) == (
        "other",
        (),
        None,
    )
    assert not non_aug.files_with_role(Role.VOLUME_SR)


def test_vertebra_codes_match_dicom_cid_7603() -> None:
    for level, code in c.VERTEBRA_CODES.items():
        known = getattr(codes.SCT, f"{level}Vertebra")
        assert (code.value, code.meaning) == (known.value, known.meaning)
    for ours, known in [
        (c.SACRUM, codes.SCT.Sacrum),
        (c.VOLUME, codes.SCT.Volume),
        (c.FINDING_SITE, codes.SCT.FindingSite),
        (c.LATERALITY, codes.SCT.Laterality),
        (c.LEFT, codes.SCT.Left),
        (c.RIGHT, codes.SCT.Right),
        (c.FLUOROSCOPY, codes.SCT.Fluoroscopy),
        (c.LUMBAR_SPINE, codes.SCT.LumbarSpine),
        (c.IRRADIATION_EVENT_UID, codes.DCM.IrradiationEventUID),
        (c.TOTAL_FLUORO_TIME, codes.DCM.TotalFluoroTime),
        (c.DAP_TOTAL, codes.DCM.DoseAreaProductTotal),
        (c.ACCUMULATED_XRAY_DOSE, codes.DCM.AccumulatedXRayDoseData),
        (c.SCOPE_OF_ACCUMULATION, codes.DCM.ScopeOfAccumulation),
    ]:
        assert ours.value == known.value
    assert all(len(meaning) <= 64 for meaning in c.CPT_MEANINGS.values())


@pytest.mark.skipif(shutil.which("dsrdump") is None, reason="dcmtk dsrdump not installed")
def test_dcmtk_reads_the_reports_without_errors(written: dict[str, CaseManifest]) -> None:
    for manifest in written.values():
        for entry in manifest.files:
            if entry.modality != "SR":
                continue
            result = subprocess.run(
                ["dsrdump", entry.path], capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, result.stderr
            assert "E:" not in result.stderr and "W:" not in result.stderr, result.stderr


# --- benchmark helpers -------------------------------------------------------------------------


def test_many_small_instances_fast(tmp_path: Path) -> None:
    began = time.perf_counter()
    paths = write_xa_instances(tmp_path, 300, seed=5)
    elapsed = time.perf_counter() - began
    assert len(paths) == 300 and elapsed < 5, elapsed
    datasets = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths[::50]]
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    again = write_xa_instances(tmp_path / "again", 3, seed=5, study_uid="1.2.3.4")
    assert pydicom.dcmread(again[0]).StudyInstanceUID == "1.2.3.4"


def test_streamed_large_instance_reads_back(tmp_path: Path) -> None:
    path = write_large_xa(tmp_path / "large.dcm", rows=32, cols=48, frames=7, seed=1)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns) == (7, 32, 48)
    assert len(ds.PixelData) == 32 * 48 * 7
    base = base_frame(32, 48, "large:1:32x48x7")
    assert ds.PixelData == b"".join(iter_frames(base, 32, 48, 7))
    odd = write_large_xa(tmp_path / "odd.dcm", rows=3, cols=3, frames=1)
    assert len(pydicom.dcmread(odd).PixelData) == 10  # 9 bytes, padded to even
    if shutil.which("dcmdump"):
        result = subprocess.run(
            ["dcmdump", "-q", "+M", path], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0 and "# 10752, 1 PixelData" in result.stdout


# --- command line ------------------------------------------------------------------------------


def test_cli_writes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kp-one-level", str(tmp_path / "kp"), "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "kp-one-level: 8 files" in out and "kyphoplasty" in out
    assert main(["all", str(tmp_path / "all"), "--json"]) == 0
    assert '"procedure_type": "sacroplasty"' in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted(CASES)
    help_text = subprocess.run(
        [sys.executable, "-m", "vp_log.samples", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "bench" in help_text and "vp-two-level" in help_text
