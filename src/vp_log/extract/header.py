"""Header observations: patient, study, series, device, people, dates and times (pure)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from pydicom.multival import MultiValue
from pydicom.valuerep import DA

from vp_log.dicom import dicom_datetime, parse_timezone_offset
from vp_log.extract.technique import header_patient
from vp_log.models import Kind, Observation, Provenance
from vp_log.tree import DatasetLike

logger = logging.getLogger(__name__)

# (Kind, keyword) pairs copied as text; empty and absent are the same (nothing emitted).
_TEXT_ATTRIBUTES: tuple[tuple[Kind, str], ...] = (
    (Kind.PATIENT_ID, "PatientID"),
    (Kind.PATIENT_NAME, "PatientName"),
    (Kind.PATIENT_SEX, "PatientSex"),
    (Kind.PATIENT_BIRTH_DATE, "PatientBirthDate"),  # DA text as sent (ages in reports)
    (Kind.ACCESSION_NUMBER, "AccessionNumber"),
    (Kind.STUDY_DESCRIPTION, "StudyDescription"),
    (Kind.SERIES_DESCRIPTION, "SeriesDescription"),
    (Kind.MODALITY, "Modality"),
    (Kind.MANUFACTURER, "Manufacturer"),
    (Kind.MODEL, "ManufacturerModelName"),
    (Kind.DEVICE_SERIAL, "DeviceSerialNumber"),
    (Kind.STATION_NAME, "StationName"),
    (Kind.INSTITUTION, "InstitutionName"),
)
_PEOPLE: tuple[tuple[Kind, str], ...] = (
    (Kind.OPERATOR, "OperatorsName"),
    (Kind.PERFORMING_PHYSICIAN, "PerformingPhysicianName"),
)
# (Kind, DT keyword, date keyword, time keyword)
_DATETIMES: tuple[tuple[Kind, str | None, str, str], ...] = (
    (Kind.ACQUISITION_DATETIME, "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime"),
    (Kind.CONTENT_DATETIME, None, "ContentDate", "ContentTime"),
    (Kind.SERIES_DATETIME, None, "SeriesDate", "SeriesTime"),
    (Kind.STUDY_DATETIME, None, "StudyDate", "StudyTime"),
)


def _values(ds: DatasetLike, keyword: str) -> list[str]:
    """The non-empty values of an attribute as text (a multi-valued one gives several)."""
    value = ds.get(keyword)
    if value is None:
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [text for v in items if (text := str(v).strip())]


def _text(ds: DatasetLike, keyword: str) -> str:
    return "\\".join(_values(ds, keyword))


_Add = Callable[..., None]


def _add_dates(ds: DatasetLike, add: _Add) -> None:
    """The study date, and each date-time the header gives (its offset where it has one)."""
    study_date = _text(ds, "StudyDate")
    try:
        day = DA(study_date) if study_date else None
    except ValueError:
        day = None
    if isinstance(day, date):
        add(Kind.STUDY_DATE, day.isoformat(), "StudyDate", study_date)
    tz, tz_flags = parse_timezone_offset(_text(ds, "TimezoneOffsetFromUTC"))
    for kind, dt_kw, date_kw, time_kw in _DATETIMES:
        dt_text = _text(ds, dt_kw) if dt_kw else ""
        date_text, time_text = _text(ds, date_kw), _text(ds, time_kw)
        moment = dicom_datetime(dt_text, date_text, time_text, tz)
        if moment is None:
            continue
        path = dt_kw if dt_kw and dt_text else f"{date_kw}+{time_kw}"
        raw = dt_text or f"{date_text} {time_text}".strip()
        add(kind, moment.isoformat(), path, raw, *tz_flags)


def _add_numbers(ds: DatasetLike, add: _Add, uid: str) -> None:
    """Number of frames and frame time, where they read as numbers."""
    for kind, keyword, convert in (
        (Kind.NUMBER_OF_FRAMES, "NumberOfFrames", int),
        (Kind.FRAME_TIME_MS, "FrameTime", float),
    ):
        value = ds.get(keyword)
        if value in (None, ""):
            continue
        try:
            add(kind, convert(value), keyword, str(value))
        except (TypeError, ValueError):
            logger.warning("%s %r in %s is not a number", keyword, value, uid)


def extract_header(ds: DatasetLike) -> list[Observation]:
    """Observations from the image/document header of ``ds``."""
    uid = str(ds.get("SOPInstanceUID", ""))
    out: list[Observation] = []

    def add(
        kind: Kind,
        value: str | int | float | list[str] | dict[str, Any],
        path: str,
        raw: str,
        *flags: str,
    ) -> None:
        out.append(
            Observation(
                kind=kind,
                value=value,
                provenance=Provenance(sop_instance_uid=uid, path=path, raw=raw),
                flags=flags,
            )
        )

    for kind, keyword in _TEXT_ATTRIBUTES:
        text = _text(ds, keyword)
        if text:
            add(kind, text, keyword, text)
    for kind, keyword in _PEOPLE:
        for name in _values(ds, keyword):
            add(kind, name, keyword, name)
    _add_dates(ds, add)
    versions = _values(ds, "SoftwareVersions")
    if versions:
        add(Kind.SOFTWARE_VERSIONS, versions, "SoftwareVersions", "\\".join(versions))
    patient = header_patient(ds)
    if patient is not None:
        add(
            Kind.PATIENT_CHARACTERISTICS,
            patient.model_dump(mode="json", exclude_none=True),
            "PatientSize+PatientWeight+PatientAge",
            "",
        )
    _add_numbers(ds, add, uid)
    return out
