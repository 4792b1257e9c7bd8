"""Header observations: patient, study, series, device, people, dates and times (pure)."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import DA, DT, TM

from vp_log.extract.technique import header_patient
from vp_log.models import Kind, Observation, Provenance

logger = logging.getLogger(__name__)

# (Kind, keyword) pairs copied as text; empty and absent are the same (nothing emitted).
_TEXT_ATTRIBUTES: tuple[tuple[Kind, str], ...] = (
    (Kind.PATIENT_ID, "PatientID"),
    (Kind.PATIENT_NAME, "PatientName"),
    (Kind.PATIENT_SEX, "PatientSex"),
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


_TZ_STRICT = re.compile(r"^([+-])(\d{2})(\d{2})$")
_TZ_LENIENT = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?$", re.IGNORECASE)


def parse_timezone_offset(text: str | None) -> tuple[timezone | None, tuple[str, ...]]:
    """A Timezone Offset From UTC (``-0400``); lenient with ``UTC-04:00`` (flagged)."""
    if not text or not str(text).strip():
        return None, ()
    raw = str(text).strip()
    flags: tuple[str, ...] = ()
    match = _TZ_STRICT.match(raw)
    if not match:
        # RF-RDSR-GE.dcm writes "UTC-04:00": not a valid SH offset, but unambiguous.
        match = _TZ_LENIENT.match(raw)
        if not match:
            return None, (f"invalid-timezone-offset:{raw}",)
        flags = (f"lenient-timezone-offset:{raw}",)
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None, (f"invalid-timezone-offset:{raw}",)
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if sign == "-" else delta), flags


def dicom_datetime(
    dt_text: str = "",
    date_text: str = "",
    time_text: str = "",
    tz: timezone | None = None,
) -> datetime | None:
    """A datetime from a DT value, or from a DA and a TM value; ``None`` when unknown.

    An offset inside the DT value wins over ``tz`` (Timezone Offset From UTC).
    """
    if dt_text.strip():
        try:
            value = DT(dt_text.strip())
        except ValueError:
            value = None
        if isinstance(value, datetime):
            return value if value.tzinfo is not None or tz is None else value.replace(tzinfo=tz)
    if not date_text.strip() or not time_text.strip():
        return None  # a date without a time says nothing about when in the day
    try:
        day = DA(date_text.strip())
    except ValueError:
        return None
    if not isinstance(day, date):
        return None
    try:
        moment = TM(time_text.strip())
    except ValueError:
        return None
    if not isinstance(moment, time):
        return None
    return datetime.combine(day, moment, tzinfo=tz)


def _values(ds: Dataset, keyword: str) -> list[str]:
    """The non-empty values of an attribute as text (a multi-valued one gives several)."""
    value = ds.get(keyword)
    if value is None:
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [text for v in items if (text := str(v).strip())]


def _text(ds: Dataset, keyword: str) -> str:
    return "\\".join(_values(ds, keyword))


def extract_header(ds: Dataset) -> list[Observation]:
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

    frames = ds.get("NumberOfFrames")
    if frames not in (None, ""):
        try:
            add(Kind.NUMBER_OF_FRAMES, int(frames), "NumberOfFrames", str(frames))
        except (TypeError, ValueError):
            logger.warning("NumberOfFrames %r in %s is not a number", frames, uid)
    frame_time = ds.get("FrameTime")
    if frame_time not in (None, ""):
        try:
            add(Kind.FRAME_TIME_MS, float(frame_time), "FrameTime", str(frame_time))
        except (TypeError, ValueError):
            logger.warning("FrameTime %r in %s is not a number", frame_time, uid)
    return out
