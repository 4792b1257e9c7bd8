"""The DICOM vocabulary the code shares: SOP classes, transfer syntaxes, concept codes,
date-times and modality sets, in one place.

SOP classes and transfer syntaxes are pydicom's and pynetdicom's named UIDs; concept codes come
from ``pydicom.sr.codedict.codes`` (as ``(code value, coding scheme)`` pairs, the form the SR
readers match on). One parser reads DT values and Timezone Offset From UTC; one fold makes the
SNOMED scheme designators (``SRT``, ``SNM3``, ``99SDM``, ``SCT``) equal.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from pydicom import uid
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code as _PydicomCode
from pydicom.uid import AllTransferSyntaxes
from pydicom.valuerep import DA, TM
from pynetdicom import sop_class

__all__ = [
    "ALL_TRANSFER_SYNTAXES",
    "IMAGE_MODALITIES",
    "MEDIA_STORAGE_DIRECTORY",
    "NOT_IMAGE_MODALITIES",
    "RDSR_SOP_CLASS",
    "STORAGE_SOP_CLASSES",
    "VERIFICATION_SOP_CLASS",
    "Code",
    "concept",
    "dicom_datetime",
    "fold_code",
    "parse_dicom_datetime",
    "parse_timezone_offset",
    "same_code",
]

# --- SOP classes and transfer syntaxes ----------------------------------------------------------

VERIFICATION_SOP_CLASS = str(sop_class.Verification)  # type: ignore[attr-defined]  # made at import
RDSR_SOP_CLASS = str(uid.XRayRadiationDoseSRStorage)
MEDIA_STORAGE_DIRECTORY = str(uid.MediaStorageDirectoryStorage)  # a DICOMDIR

_STORAGE = (
    uid.XRayAngiographicImageStorage,
    uid.EnhancedXAImageStorage,
    uid.XRayRadiofluoroscopicImageStorage,
    uid.EnhancedXRFImageStorage,
    uid.XRayRadiationDoseSRStorage,
    uid.BasicTextSRStorage,
    uid.EnhancedSRStorage,
    uid.ComprehensiveSRStorage,
    uid.Comprehensive3DSRStorage,
    uid.ExtensibleSRStorage,
    uid.KeyObjectSelectionDocumentStorage,
    uid.GrayscaleSoftcopyPresentationStateStorage,
    uid.SecondaryCaptureImageStorage,
    uid.MultiFrameSingleBitSecondaryCaptureImageStorage,
    uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
)
STORAGE_SOP_CLASSES: dict[str, str] = {str(u): u.name.removesuffix(" Storage") for u in _STORAGE}
"""The fluoroscopy family a vertebroplasty suite forwards (UID -> name), as the listener
accepts it."""

ALL_TRANSFER_SYNTAXES: tuple[str, ...] = tuple(str(ts) for ts in AllTransferSyntaxes)
"""Every transfer syntax pydicom knows: accepted as they come, pixel data is never decoded."""

# --- modalities -------------------------------------------------------------------------------

NOT_IMAGE_MODALITIES = frozenset({"SR", "PR", "KO", "DOC", "REG", "SEG"})
"""Documents and other non-image instances: no image dose, no image time."""

IMAGE_MODALITIES = ("XA", "RF", "DX", "CR", "OT")
"""Imaging units (their headers name the device that made the study)."""

# --- concept codes ---------------------------------------------------------------------------

Code = tuple[str, str]
"""A concept as ``(code value, coding scheme designator)``."""

_SCHEME_ALIASES = {"SRT": "SCT", "SNM3": "SCT", "99SDM": "SCT"}


def concept(code: _PydicomCode) -> Code:
    """A ``pydicom.sr.codedict.codes`` entry as the ``(value, scheme)`` pair matched on."""
    return (str(code.value), str(code.scheme_designator))


def fold_code(code: Code) -> Code:
    """The code with its scheme upper-cased and the SNOMED designators folded to ``SCT``."""
    value, scheme = code
    scheme = scheme.upper()
    return (value, _SCHEME_ALIASES.get(scheme, scheme))


def same_code(a: Code | None, b: Code) -> bool:
    """True when two codes name the same concept (scheme aliases folded)."""
    return a is not None and fold_code(a) == fold_code(b)


# TID 10001 / 10002 / 10003 concepts (DCMR, PS3.16)
DOC_XRAY_DOSE_REPORT = concept(codes.DCM.XRayRadiationDoseReport)
ACCUMULATED_DATA = concept(codes.DCM.AccumulatedXRayDoseData)
IRRADIATION_EVENT = concept(codes.DCM.IrradiationEventXRayData)
ACQUISITION_PLANE = concept(codes.DCM.AcquisitionPlane)
PROCEDURE_REPORTED = concept(codes.DCM.ProcedureReported)
SCOPE_OF_ACCUMULATION = concept(codes.DCM.ScopeOfAccumulation)
TOTAL_FLUORO_TIME = concept(codes.DCM.TotalFluoroTime)
TOTAL_ACQUISITION_TIME = concept(codes.DCM.TotalAcquisitionTime)
DAP_TOTAL = concept(codes.DCM.DoseAreaProductTotal)
DAP_FLUORO = concept(codes.DCM.FluoroDoseAreaProductTotal)
DAP_ACQUISITION = concept(codes.DCM.AcquisitionDoseAreaProductTotal)
DOSE_RP_TOTAL = concept(codes.DCM.DoseRPTotal)
DOSE_RP_FLUORO = concept(codes.DCM.FluoroDoseRPTotal)
DOSE_RP_ACQUISITION = concept(codes.DCM.AcquisitionDoseRPTotal)
DATETIME_STARTED = concept(codes.DCM.DatetimeStarted)
EVENT_TYPE = concept(codes.DCM.IrradiationEventType)
ACQUISITION_PROTOCOL = concept(codes.DCM.AcquisitionProtocol)
EVENT_UID = concept(codes.DCM.IrradiationEventUID)
EVENT_DAP = concept(codes.DCM.DoseAreaProduct)
EVENT_DOSE_RP = concept(codes.DCM.DoseRP)
IRRADIATION_DURATION = concept(codes.DCM.IrradiationDuration)
OBSERVER_UID = concept(codes.DCM.DeviceObserverUID)
OBSERVER_NAME = concept(codes.DCM.DeviceObserverName)
OBSERVER_MANUFACTURER = concept(codes.DCM.DeviceObserverManufacturer)
OBSERVER_MODEL = concept(codes.DCM.DeviceObserverModelName)
OBSERVER_SERIAL = concept(codes.DCM.DeviceObserverSerialNumber)
DEVICE_ROLE = concept(codes.DCM.DeviceRoleInProcedure)
DEVICE_NAME = concept(codes.DCM.DeviceName)
DEVICE_MANUFACTURER = concept(codes.DCM.DeviceManufacturer)
DEVICE_MODEL = concept(codes.DCM.DeviceModelName)
DEVICE_SERIAL = concept(codes.DCM.DeviceSerialNumber)

# --- date-times ------------------------------------------------------------------------------

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


_DT = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<f>\d{1,6}))?(?P<tz>[+-]\d{4})?$"
)


def parse_dicom_datetime(
    text: str | None, default_tz: timezone | None = None
) -> tuple[datetime | None, tuple[str, ...]]:
    """A DICOM DT value; its own offset wins, else ``default_tz``; naive when neither."""
    if not text or not str(text).strip():
        return None, ()
    raw = str(text).strip()
    match = _DT.match(raw)
    if not match:
        return None, (f"invalid-datetime:{raw}",)
    parts = match.groupdict()
    tz = default_tz
    if parts["tz"]:
        tz, _ = parse_timezone_offset(parts["tz"])
    try:
        value = datetime(
            int(parts["y"]),
            int(parts["mo"] or 1),
            int(parts["d"] or 1),
            int(parts["h"] or 0),
            int(parts["mi"] or 0),
            int(parts["s"] or 0),
            int((parts["f"] or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None, (f"invalid-datetime:{raw}",)
    return value, ()


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
        value, _ = parse_dicom_datetime(dt_text, tz)
        if value is not None:
            return value
    return _combine(date_text.strip(), time_text.strip(), tz)


def _combine(date_text: str, time_text: str, tz: timezone | None) -> datetime | None:
    if not date_text or not time_text:
        return None  # a date without a time says nothing about when in the day
    try:
        day, moment = DA(date_text), TM(time_text)
    except ValueError:
        return None
    if not isinstance(day, date) or not isinstance(moment, time):
        return None
    return datetime.combine(day, moment, tzinfo=tz)
