"""Assembly is pure: observations in, record out; the same input gives the same record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydicom

from conftest import SAMPLES
from vp_log.assemble import InstanceSummary, assemble_record
from vp_log.extract import ExtractionContext, extract_all
from vp_log.models import Kind, Observation, Provenance
from vp_log.vocabulary import load_vocabulary

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def obs(kind: Kind, value: object, uid: str, path: str, *flags: str) -> Observation:
    return Observation(
        kind=kind,
        value=value,
        flags=flags,  # type: ignore[arg-type]
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
        last_received_at=T0,
        now=T0 + timedelta(hours=1),
        quiet_period_s=120,
    )
    assert record["patient_id"] == "0012"
    (conflict,) = record["conflicts"]
    assert conflict["field"] == "patient_id" and conflict["values"] == ["0012", "9999"]
    assert conflict["sources"][1] == ["PatientID@c"]
    assert record["status"] == "needs_review"


def test_status_follows_the_quiet_period_and_unknown_stays_unknown() -> None:
    args = ("1.2.3", instances("a"), [obs(Kind.PATIENT_ID, "1", "a", "PatientID")])
    receiving = assemble_record(
        *args, last_received_at=T0, now=T0 + timedelta(seconds=60), quiet_period_s=120
    )
    assert receiving["status"] == "receiving"
    final = assemble_record(
        *args, last_received_at=T0, now=T0 + timedelta(seconds=60), quiet_period_s=120, final=True
    )
    assert final["status"] == "complete"
    for field in ("fluoro_time_s", "dap_gy_cm2", "ka_r_mgy", "total_cement_ml", "start"):
        assert final[field] is None  # unknown, never 0
    assert final == assemble_record(
        *args, last_received_at=T0, now=T0 + timedelta(seconds=60), quiet_period_s=120, final=True
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
        last_received_at=T0,
        now=T0,
        quiet_period_s=1,
        final=True,
    )
    assert record["device"]["model"] == "Allura Clarity"  # the imaging unit's own header
    assert record["device_differences"] == [
        {"field": "model", "images": "Allura Clarity", "dose_report": "Allura Xper"}
    ]
    assert "device-model-differs-in-dose-report" in record["flags"]
    assert "lenient-timezone-offset:UTC-04:00" in record["flags"]
