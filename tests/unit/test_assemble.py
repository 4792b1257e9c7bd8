"""Assembly is pure: observations in, record out; the same input gives the same record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom

from conftest import SAMPLES
from vp_log.assemble import AssemblyContext, InstanceSummary, assemble_record
from vp_log.config import load_settings
from vp_log.extract import ExtractionContext, extract_all
from vp_log.models import Kind, Observation, Provenance
from vp_log.pipeline import load_contexts
from vp_log.record import DeviceDifference, ProcedureRecord, Status
from vp_log.vocabulary import load_vocabulary

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VOCABULARY = load_vocabulary()


def context(quiet_period_s: float = 120) -> AssemblyContext:
    return AssemblyContext(vocabulary=VOCABULARY, quiet_period_s=quiet_period_s)


def obs(kind: Kind, value: object, uid: str, path: str, *flags: str) -> Observation:
    return Observation(
        kind=kind,
        value=value,
        flags=flags,
        provenance=Provenance(sop_instance_uid=uid, path=path, raw=str(value)),
    )


def instances(*uids: str, modality: str = "XA") -> list[InstanceSummary]:
    return [InstanceSummary(u, "1.2.840.10008.5.1.4.1.1.12.1", "s1", modality, T0) for u in uids]


def test_conflicting_patient_ids_are_kept_and_flagged() -> None:
    observations = [
        obs(Kind.PATIENT_ID, "0012", "a", "PatientID"),
        obs(Kind.PATIENT_ID, "0012", "b", "PatientID"),
        obs(Kind.PATIENT_ID, "9999", "c", "PatientID"),
    ]
    record = assemble_record(
        "1.2.3",
        instances("a", "b", "c"),
        observations,
        context=context(),
        last_received_at=T0,
        now=T0 + timedelta(hours=1),
    )
    assert record.patient_id == "0012"
    (conflict,) = record.conflicts
    assert conflict.field == "patient_id" and conflict.values == ["0012", "9999"]
    assert conflict.sources[1] == ["PatientID@c"]
    assert record.status is Status.NEEDS_REVIEW


def test_status_follows_the_quiet_period_and_unknown_stays_unknown() -> None:
    args = ("1.2.3", instances("a"), [obs(Kind.PATIENT_ID, "1", "a", "PatientID")])
    soon = T0 + timedelta(seconds=60)
    receiving = assemble_record(*args, context=context(), last_received_at=T0, now=soon)
    assert receiving.status is Status.RECEIVING
    # Read later, the stored record is complete without anything writing that down.
    assert receiving.status_at(T0 + timedelta(seconds=120), 120) is Status.COMPLETE
    assert receiving.status_at(soon, 120) is Status.RECEIVING
    final = assemble_record(*args, context=context(), last_received_at=T0, now=soon, final=True)
    assert final.status is Status.COMPLETE
    for field in ("fluoro_time_s", "dap_gy_cm2", "ka_r_mgy", "total_cement_ml", "start"):
        assert getattr(final, field) is None  # unknown, never 0
    assert final == assemble_record(
        *args, context=context(), last_received_at=T0, now=soon, final=True
    )


def test_device_difference_and_data_quality_flags() -> None:
    """The Philips dose report names its unit; an image header naming another is flagged."""
    report = pydicom.dcmread(SAMPLES / "openrem" / "RF-RDSR-Philips_Allura.dcm")
    from_report = extract_all(report, ExtractionContext(vocabulary=load_vocabulary()))
    observations = [
        *from_report,
        obs(Kind.MODEL, "Allura Clarity", "img", "ManufacturerModelName"),
        obs(
            Kind.ACQUISITION_DATETIME,
            "2016-03-15T08:44:00-04:00",
            "img",
            "AcquisitionDateTime",
            "lenient-timezone-offset:UTC-04:00",
        ),
    ]
    record = assemble_record(
        str(report.StudyInstanceUID),
        [*instances("img"), *instances(str(report.SOPInstanceUID), modality="SR")],
        observations,
        context=context(quiet_period_s=1),
        last_received_at=T0,
        now=T0,
        final=True,
    )
    assert record.device.model == "Allura Clarity"  # the imaging unit's own header
    assert record.device_differences == [
        DeviceDifference(field="model", images="Allura Clarity", dose_report="Allura Xper")
    ]
    assert "device-model-differs-in-dose-report" in record.flags
    assert "lenient-timezone-offset:UTC-04:00" in record.flags


def test_site_plausibility_limits_reach_assembly(tmp_path: Path) -> None:
    """Regression (issue 8): a site's [plausibility] limit in vocabulary.toml was never used."""
    site = tmp_path / "vocabulary.toml"
    site.write_text("[plausibility]\nvertebral_max_ml = 2.0\n")
    _, assembly = load_contexts(load_settings(vocabulary_path=site, data_dir=tmp_path))
    assert assembly.plausibility.vertebral_max_ml == 2.0
    volume = Observation(
        kind=Kind.CEMENT_VOLUME_ML,
        value=4.0,
        level="L1",
        provenance=Provenance(sop_instance_uid="a", path="ImageComments", raw="L1 4 ml"),
    )
    record = assemble_record(
        "1.2.3", instances("a"), [volume], context=assembly, last_received_at=T0, now=T0
    )
    (level,) = record.levels
    assert (level.level, level.cement_ml) == ("L1", 4.0)
    assert "implausible-cement-volume" in level.flags
    assert record.needs_review
    # The built-in limit (12 mL) leaves the same 4 mL alone.
    plain = assemble_record(
        "1.2.3", instances("a"), [volume], context=context(), last_received_at=T0, now=T0
    )
    assert "implausible-cement-volume" not in plain.levels[0].flags


def test_birth_date_and_sex_are_typed_fields_of_the_record() -> None:
    def record_of(birth: str) -> ProcedureRecord:
        return assemble_record(
            "1.2.3",
            instances("a"),
            [
                obs(Kind.PATIENT_BIRTH_DATE, birth, "a", "PatientBirthDate"),
                obs(Kind.PATIENT_SEX, "F", "a", "PatientSex"),
            ],
            context=context(),
            last_received_at=T0,
            now=T0 + timedelta(hours=1),
        )

    record = record_of("19340229")
    assert record.patient_birth_date is None  # 1934 is no leap year: not a date, unknown
    record = record_of("19320229")
    assert (record.patient_birth_date, record.patient_sex) == ("1932-02-29", "F")
    assert record_of("UNKNOWN").patient_birth_date is None  # a real file writes this


def test_report_age_comes_from_the_typed_record() -> None:
    from vp_log.report.cohort import procedure_facts

    base = {"study_instance_uid": "1.2.3", "procedure_type": "vertebroplasty"}
    born = procedure_facts(
        1, "complete", base | {"study_date": "2024-02-28", "patient_birth_date": "1934-02-29"}
    )
    assert born.age_years is None  # no valid birth date, no stated age
    born = procedure_facts(
        1, "complete", base | {"study_date": "2024-02-28", "patient_birth_date": "1932-02-29"}
    )
    assert born.age_years == 91  # the birthday (29 Feb) not reached on 28 Feb
    stated = {"age": {"value": 88.0, "unit": "a", "path": "PatientAge", "raw": "088Y"}}
    only_stated = procedure_facts(1, "complete", base | {"patient": stated})
    assert only_stated.age_years == 88
