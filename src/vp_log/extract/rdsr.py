"""Radiation dose structured reports → dose observations (pure, no I/O).

Reads the X-Ray Radiation Dose SR (TID 10001) and Enhanced/Comprehensive SRs that carry the
same template, matching concepts by (code value, scheme) only. A private Siemens ARCADIS
"Radiation Summary Report" is read by its own private codes in a named helper.

Units are normalised whatever the file says: dose-area product to Gy·m², reference point air
kerma (Ka,r) to mGy, times to seconds. An unknown unit makes that one value unknown (``None``)
with an ``unknown-unit:<unit>`` flag; the rest of the report is still read.

Plane encoding: per-plane values (accumulated data, TID 10002, one 113702 container per plane)
are separate observations; the plane is the observation's ``plane`` field (``A``, ``B``,
``single``; ``unknown`` when the container names none), and in the provenance path as the
container's index (``sr:(DCM,113702)[1]/(DCM,113722)``). Observations without a plane (private
summaries) cover the whole procedure.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import timezone

from vp_log import dicom
from vp_log.dicom import Code, parse_dicom_datetime, parse_timezone_offset, same_code
from vp_log.extract.sr import (
    ContentItem,
    code_meaning,
    concept_code_value,
    concept_name,
    find_content_items,
    numeric_value,
)
from vp_log.extract.technique import read_event_technique, report_patient, siemens_comment_values
from vp_log.models import IrradiationEvent, Kind, Observation, Provenance, payload_value
from vp_log.tree import DatasetLike, as_node

logger = logging.getLogger(__name__)

__all__ = [
    "RDSR_SOP_CLASS_UID",
    "UnknownUnitError",
    "dap_unit_factor",
    "extract_dose_report",
    "ka_r_unit_factor",
    "normalise_dap",
    "normalise_ka_r",
    "normalise_time",
    "parse_dicom_datetime",
    "parse_timezone_offset",
    "time_unit_factor",
]

RDSR_SOP_CLASS_UID = dicom.RDSR_SOP_CLASS

# --- concept codes (DCMR, PS3.16) ---------------------------------------------------------
DOC_XRAY_DOSE_REPORT: Code = dicom.DOC_XRAY_DOSE_REPORT
ACCUMULATED_DATA: Code = dicom.ACCUMULATED_DATA
IRRADIATION_EVENT: Code = dicom.IRRADIATION_EVENT
ACQUISITION_PLANE: Code = dicom.ACQUISITION_PLANE
PROCEDURE_REPORTED: Code = dicom.PROCEDURE_REPORTED
SCOPE_OF_ACCUMULATION: Code = dicom.SCOPE_OF_ACCUMULATION

TOTAL_FLUORO_TIME: Code = dicom.TOTAL_FLUORO_TIME
TOTAL_ACQUISITION_TIME: Code = dicom.TOTAL_ACQUISITION_TIME
TOTAL_RADIOGRAPHIC_FRAMES: Code = ("113731", "DCM")
DAP_TOTAL: Code = dicom.DAP_TOTAL
DAP_FLUORO: Code = dicom.DAP_FLUORO
DAP_ACQUISITION: Code = dicom.DAP_ACQUISITION
DOSE_RP_TOTAL: Code = dicom.DOSE_RP_TOTAL
DOSE_RP_FLUORO: Code = dicom.DOSE_RP_FLUORO
DOSE_RP_ACQUISITION: Code = dicom.DOSE_RP_ACQUISITION

DATETIME_STARTED: Code = dicom.DATETIME_STARTED
EVENT_TYPE: Code = dicom.EVENT_TYPE
ACQUISITION_PROTOCOL: Code = dicom.ACQUISITION_PROTOCOL
EVENT_UID: Code = dicom.EVENT_UID
EVENT_DAP: Code = dicom.EVENT_DAP
EVENT_DOSE_RP: Code = dicom.EVENT_DOSE_RP
IRRADIATION_DURATION: Code = dicom.IRRADIATION_DURATION

OBSERVER_UID: Code = dicom.OBSERVER_UID
OBSERVER_NAME: Code = dicom.OBSERVER_NAME
OBSERVER_MANUFACTURER: Code = dicom.OBSERVER_MANUFACTURER
OBSERVER_MODEL: Code = dicom.OBSERVER_MODEL
OBSERVER_SERIAL: Code = dicom.OBSERVER_SERIAL
DEVICE_ROLE: Code = dicom.DEVICE_ROLE
DEVICE_NAME: Code = dicom.DEVICE_NAME
DEVICE_MANUFACTURER: Code = dicom.DEVICE_MANUFACTURER
DEVICE_MODEL: Code = dicom.DEVICE_MODEL
DEVICE_SERIAL: Code = dicom.DEVICE_SERIAL

PLANE_CODES: dict[Code, str] = {
    ("113620", "DCM"): "A",
    ("113621", "DCM"): "B",
    ("113622", "DCM"): "single",
    ("113890", "DCM"): "all",
}

FLUOROSCOPY_CODES: tuple[Code, ...] = (("P5-06000", "SRT"), ("44491008", "SCT"))
ACQUISITION_TYPES: dict[Code, str] = {
    ("113611", "DCM"): "stationary-acquisition",
    ("113612", "DCM"): "stepping-acquisition",
    ("113613", "DCM"): "rotational-acquisition",
}

# --- units ---------------------------------------------------------------------------------

_SI_PREFIX = {"": 1.0, "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_LENGTH_PREFIX = {"": 1.0, "d": 1e-1, "c": 1e-2, "m": 1e-3}
_DAP_UNIT = re.compile(r"^(?P<gy>[dcmun]?)Gy\.?(?P<len>[dcm]?)m2$")
_GY_UNIT = re.compile(r"^(?P<gy>[dcmun]?)Gy$")
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0}


class UnknownUnitError(ValueError):
    """A unit that the quantity's table does not know: the value must not be used."""


_EXPONENT_CARET = re.compile(r"\^(?=\d)")


def _canonical_unit(unit: str) -> str:
    """Fold typographic variants: ``Gy·cm²``/``Gy.cm^2``/``Gy cm2`` → ``Gy.cm2``, µ → u."""
    text = unit.strip().replace("µ", "u").replace("μ", "u")
    text = text.replace("·", ".").replace("*", ".").replace("²", "2")
    text = _EXPONENT_CARET.sub("", text)  # cm^2 -> cm2; a caret elsewhere stays ("^h" is no unit)
    return re.sub(r"\s+", ".", text)


def dap_unit_factor(unit: str) -> float:
    """Gy·m² per one ``unit`` of dose-area product (``Gy.m2``, ``Gym2``, ``dGy.cm2``...)."""
    match = _DAP_UNIT.match(_canonical_unit(unit))
    if not match:
        raise UnknownUnitError(
            f'Argument "unit" must be a dose-area product unit such as "Gy.m2" or "dGy.cm2", '
            f"not {unit!r}."
        )
    return _SI_PREFIX[match["gy"]] * _LENGTH_PREFIX[match["len"]] ** 2


def ka_r_unit_factor(unit: str) -> float:
    """mGy per one ``unit`` of air kerma (``Gy``, ``mGy``, ``uGy``...)."""
    match = _GY_UNIT.match(_canonical_unit(unit))
    if not match:
        raise UnknownUnitError(
            f'Argument "unit" must be an air kerma unit such as "Gy" or "mGy", not {unit!r}.'
        )
    return _SI_PREFIX[match["gy"]] / _SI_PREFIX["m"]


def time_unit_factor(unit: str) -> float:
    """Seconds per one ``unit`` of time (``s``, ``ms``, ``min``, ``h``)."""
    factor = _TIME_UNITS.get(_canonical_unit(unit))
    if factor is None:
        raise UnknownUnitError(
            f'Argument "unit" must be one of {sorted(_TIME_UNITS)}, not {unit!r}.'
        )
    return factor


def normalise_dap(value: float, unit: str) -> float:
    """Dose-area product in Gy·m²; raises :class:`UnknownUnitError` for an unknown unit."""
    return value * dap_unit_factor(unit)


def normalise_ka_r(value: float, unit: str) -> float:
    """Air kerma in mGy; raises :class:`UnknownUnitError` for an unknown unit."""
    return value * ka_r_unit_factor(unit)


def normalise_time(value: float, unit: str) -> float:
    """Time in seconds; raises :class:`UnknownUnitError` for an unknown unit."""
    return value * time_unit_factor(unit)


# Units that TID 10001/10003 fix for each quantity (used when a file gives no unit at all).
_TEMPLATE_UNITS = {"dap": "Gy.m2", "ka_r": "Gy", "time": "s"}
_NORMALISERS = {"dap": normalise_dap, "ka_r": normalise_ka_r, "time": normalise_time}


# --- date-times ------------------------------------------------------------------------------

# --- reading helpers -------------------------------------------------------------------------


@dataclass
class _Context:
    """What every observation from one report shares."""

    sop_instance_uid: str
    tz: timezone | None
    tz_flags: tuple[str, ...] = ()
    observations: list[Observation] = field(default_factory=list)

    def provenance(self, path: str, raw: str | None) -> Provenance:
        return Provenance(sop_instance_uid=self.sop_instance_uid, path=path, raw=raw)


@dataclass(frozen=True)
class _Num:
    """A normalised number read from a NUM item, with its flags and provenance text."""

    value: float | None
    flags: tuple[str, ...]
    raw: str | None


def _read_num(item: DatasetLike, quantity: str, *, template_unit: bool = True) -> _Num:
    """Read a NUM item and normalise it as ``quantity`` (``dap``, ``ka_r`` or ``time``)."""
    value, unit_code, raw_value = numeric_value(item)
    unit = unit_code[0] if unit_code else ""
    raw = f"{raw_value} {unit}".strip() or None
    if value is None:
        if not raw_value:
            flag = "empty-value"
        elif "\\" in raw_value:
            flag = "multi-valued"
        else:
            flag = f"unreadable-value:{raw_value}"
        return _Num(None, (flag,), raw)
    if not math.isfinite(value):
        return _Num(None, (f"non-finite-value:{raw_value}",), raw)
    flags: tuple[str, ...] = ()
    if not unit:
        if not template_unit:
            return _Num(None, ("missing-unit",), raw)
        # TID 10001 fixes the unit of each of these concepts; a file that omits it means it.
        unit = _TEMPLATE_UNITS[quantity]
        flags = (f"missing-unit:assumed-{unit}",)
    try:
        normalised = _NORMALISERS[quantity](value, unit)
    except UnknownUnitError:
        logger.warning("unknown %s unit %r in %s", quantity, unit, concept_name(item))
        return _Num(None, (f"unknown-unit:{unit}",), raw)
    if normalised < 0:
        return _Num(None, (*flags, f"negative-value:{raw_value}"), raw)
    return _Num(normalised, flags, raw)


def _text_value(item: DatasetLike) -> str | None:
    """The value of a TEXT, UIDREF, CODE, DATETIME or PNAME item as text."""
    value_type = str(item.get("ValueType", ""))
    if value_type == "CODE":
        return code_meaning(item, "ConceptCodeSequence") or None
    keyword = {
        "TEXT": "TextValue",
        "UIDREF": "UID",
        "DATETIME": "DateTime",
        "PNAME": "PersonName",
        "DATE": "Date",
        "TIME": "Time",
    }.get(value_type)
    if keyword is None:
        return None
    value = item.get(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None


def _child(item: DatasetLike, name: Code) -> ContentItem | None:
    found = find_content_items(item, name=name, recursive=False)
    return found[0] if found else None


def _indexed(prefix: str, name: Code, index: int) -> str:
    return f"{prefix}({name[1]},{name[0]})[{index}]"


def _child_path(container_path: str, child: ContentItem) -> str:
    value, scheme = child.path[-1]
    return f"{container_path}/({scheme},{value})"


def _plane_of(container: DatasetLike) -> str:
    plane_item = _child(container, ACQUISITION_PLANE)
    if plane_item is None:
        return "unknown"
    code = concept_code_value(plane_item.item)
    for known, label in PLANE_CODES.items():
        if same_code(code, known):
            return label
    return "unknown"


def _is_dose_report(ds: DatasetLike) -> bool:
    if str(ds.get("SOPClassUID", "")) == RDSR_SOP_CLASS_UID:
        return True
    if same_code(concept_name(ds), DOC_XRAY_DOSE_REPORT):
        return True
    # Enhanced/Comprehensive SRs carrying TID 10001 content under another title.
    return bool(
        find_content_items(ds, name=ACCUMULATED_DATA, recursive=False)
        or find_content_items(ds, name=IRRADIATION_EVENT, recursive=False)
    )


# --- TID 10001 -------------------------------------------------------------------------------

_ACCUMULATED_FIELDS: tuple[tuple[Code, Kind, str], ...] = (
    (TOTAL_FLUORO_TIME, Kind.FLUORO_TIME_S, "time"),
    (TOTAL_ACQUISITION_TIME, Kind.ACQUISITION_TIME_S, "time"),
    (DAP_TOTAL, Kind.DAP_TOTAL_GY_M2, "dap"),
    (DAP_FLUORO, Kind.DAP_FLUORO_GY_M2, "dap"),
    (DAP_ACQUISITION, Kind.DAP_ACQUISITION_GY_M2, "dap"),
    (DOSE_RP_TOTAL, Kind.KAR_TOTAL_MGY, "ka_r"),
    (DOSE_RP_FLUORO, Kind.KAR_FLUORO_MGY, "ka_r"),
    (DOSE_RP_ACQUISITION, Kind.KAR_ACQUISITION_MGY, "ka_r"),
)


def _read_accumulated(
    ctx: _Context, ds: DatasetLike, frames: dict[str, float]
) -> tuple[list[str], dict[str, float]]:
    """Per-plane accumulated totals; returns the planes and the fluoro indicators seen.

    ``frames`` gets each plane's Total Number of Radiographic Frames, where stated.
    """
    planes: list[str] = []
    fluoro_seen: dict[str, float] = {}
    for index, container in enumerate(find_content_items(ds, name=ACCUMULATED_DATA)):
        plane = _plane_of(container.item)
        planes.append(plane)
        container_path = _indexed("sr:", ACCUMULATED_DATA, index)
        for child in find_content_items(container.item, name=TOTAL_RADIOGRAPHIC_FRAMES)[:1]:
            value, _, _ = numeric_value(child.item)
            if value is not None and math.isfinite(value) and value >= 0:
                frames[plane] = value
        for code, kind, quantity in _ACCUMULATED_FIELDS:
            # The totals sit in TID 10002 (fluoroscopy) or 10003 sub-templates: search below.
            for child in find_content_items(container.item, name=code):
                num = _read_num(child.item, quantity)
                ctx.observations.append(
                    Observation(
                        kind=kind,
                        value=num.value,
                        provenance=ctx.provenance(_child_path(container_path, child), num.raw),
                        plane=plane,
                        flags=num.flags,
                    )
                )
                if num.value and kind in (
                    Kind.FLUORO_TIME_S,
                    Kind.DAP_FLUORO_GY_M2,
                    Kind.KAR_FLUORO_MGY,
                ):
                    fluoro_seen[kind.value] = num.value
    return planes, fluoro_seen


def _event_type(item: DatasetLike) -> tuple[str | None, str | None]:
    """(category, label) of a 113721 CODE: ``fluoroscopy``/``acquisition`` and its name."""
    code = concept_code_value(item)
    if code is None:
        return None, None
    if any(same_code(code, known) for known in FLUOROSCOPY_CODES):
        return "fluoroscopy", "fluoroscopy"
    for known, label in ACQUISITION_TYPES.items():
        if same_code(code, known):
            return "acquisition", label
    return None, code_meaning(item, "ConceptCodeSequence") or f"{code[1]}:{code[0]}"


def _read_events(ctx: _Context, ds: DatasetLike) -> tuple[int, bool]:
    """One IRRADIATION_EVENT per 113706 container; returns (count, any fluoroscopy event)."""
    events = find_content_items(ds, name=IRRADIATION_EVENT)
    any_fluoro = False
    # Siemens AXIOM-Artis gives the patient position for the whole report in an XML comment.
    report_position = siemens_comment_values(ds).get("Position")
    for index, container in enumerate(events):
        item = container.item
        path = _indexed("sr:", IRRADIATION_EVENT, index)
        flags: list[str] = []
        plane = _plane_of(item)

        uid_item = _child(item, EVENT_UID)
        uid = _text_value(uid_item.item) if uid_item else None
        if uid is None:
            flags.append("event-without-uid")

        start: str | None = None
        start_item = _child(item, DATETIME_STARTED)
        if start_item is not None:
            parsed, dt_flags = parse_dicom_datetime(_text_value(start_item.item), ctx.tz)
            flags.extend(dt_flags)
            if parsed is not None:
                start = parsed.isoformat()
                if parsed.tzinfo is not None and ctx.tz_flags:
                    flags.extend(ctx.tz_flags)

        category: str | None = None
        label: str | None = None
        type_item = _child(item, EVENT_TYPE)
        if type_item is not None:
            category, label = _event_type(type_item.item)
        any_fluoro = any_fluoro or category == "fluoroscopy"

        protocol_item = _child(item, ACQUISITION_PROTOCOL)
        protocol = _text_value(protocol_item.item) if protocol_item else None

        numbers: dict[str, float | None] = {}
        for key, code, quantity in (
            ("dap_gy_m2", EVENT_DAP, "dap"),
            ("ka_r_mgy", EVENT_DOSE_RP, "ka_r"),
            ("duration_s", IRRADIATION_DURATION, "time"),
        ):
            child = _child(item, code)
            if child is None:
                numbers[key] = None
                continue
            num = _read_num(child.item, quantity)
            numbers[key] = num.value
            flags.extend(f"{key}:{flag}" for flag in num.flags)

        technique = read_event_technique(item, path, report_position=report_position)
        reference_point = technique.reference_point_definition
        # The value is the JSON of a validated payload, the rest typed here: built without
        # validating the event's few hundred values a second time (~20 us an event).
        ctx.observations.append(
            Observation.model_construct(
                kind=Kind.IRRADIATION_EVENT,
                value=payload_value(
                    IrradiationEvent(
                        uid=uid,
                        start=start,
                        type=label,
                        category=category,
                        protocol=protocol,
                        plane=plane,
                        **numbers,
                        reference_point=reference_point.meaning if reference_point else None,
                        technique=technique,
                    )
                ),
                provenance=ctx.provenance(path, uid),
                plane=plane,
                event_uid=uid,
                flags=tuple(flags),
            )
        )
    return len(events), any_fluoro


_DEVICE_FIELDS: tuple[tuple[str, Code, Code | None, str | None], ...] = (
    # (field, observer context code, irradiating device code, header keyword)
    ("manufacturer", OBSERVER_MANUFACTURER, DEVICE_MANUFACTURER, "Manufacturer"),
    ("model", OBSERVER_MODEL, DEVICE_MODEL, "ManufacturerModelName"),
    ("serial", OBSERVER_SERIAL, DEVICE_SERIAL, "DeviceSerialNumber"),
    ("uid", OBSERVER_UID, None, "DeviceUID"),
    ("name", OBSERVER_NAME, DEVICE_NAME, "StationName"),
)


def _device(ctx: _Context, ds: DatasetLike) -> None:
    """DOSE_DEVICE from the observer context, else the irradiating device, else the header."""
    device: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    roles = find_content_items(ds, name=DEVICE_ROLE)
    for key, observer_code, role_code, keyword in _DEVICE_FIELDS:
        value: str | None = None
        # GE writes Device Observer UID as TEXT, not UIDREF: _text_value reads both.
        observer = _child(ds, observer_code)
        if observer is not None:
            value = _text_value(observer.item)
            sources[key] = observer.path_text()
        if value is None and role_code is not None:
            for role in roles:
                found = find_content_items(role.item, name=role_code)
                if found and (value := _text_value(found[0].item)):
                    sources[key] = f"{role.path_text()}/({role_code[1]},{role_code[0]})"
                    break
        if value is None and keyword and (header := str(ds.get(keyword, "") or "").strip()):
            value = header
            sources[key] = keyword
        device[key] = value
    if not any(device.values()):
        return
    ctx.observations.append(
        Observation(
            kind=Kind.DOSE_DEVICE,
            value={**device, "sources": dict(sources)},
            provenance=ctx.provenance(sources.get("uid") or "sr:device", device.get("uid")),
        )
    )


def _patient(ctx: _Context, ds: DatasetLike) -> None:
    """PATIENT_CHARACTERISTICS the report states (height, weight, age in its content)."""
    patient = report_patient(ds)
    if patient is None:
        return
    ctx.observations.append(
        Observation(
            kind=Kind.PATIENT_CHARACTERISTICS,
            value=patient.model_dump(mode="json", exclude_none=True),
            provenance=ctx.provenance("sr:patient-characteristics", None),
        )
    )


def _code_dict(item: ContentItem | None) -> dict[str, str] | None:
    if item is None:
        return None
    code = concept_code_value(item.item)
    if code is None:
        return None
    return {
        "code": code[0],
        "scheme": code[1],
        "meaning": code_meaning(item.item, "ConceptCodeSequence"),
    }


def _template_id(ds: DatasetLike) -> str:
    templates = ds.get("ContentTemplateSequence")
    if templates:
        identifier = str(templates[0].get("TemplateIdentifier", "")).strip()
        if identifier:
            return f"TID{identifier}"
    return "TID10001"


def _read_tid10001(ctx: _Context, ds: DatasetLike) -> None:
    frames: dict[str, float] = {}
    planes, fluoro_seen = _read_accumulated(ctx, ds, frames)
    event_count, any_fluoro_event = _read_events(ctx, ds)
    _device(ctx, ds)
    _patient(ctx, ds)
    is_fluoroscopy = any_fluoro_event or bool(fluoro_seen)
    ctx.observations.append(
        Observation(
            kind=Kind.DOSE_REPORT,
            value={
                "template": _template_id(ds),
                "report_uid": ctx.sop_instance_uid,
                "sop_class_uid": str(ds.get("SOPClassUID", "")) or None,
                "study_instance_uid": str(ds.get("StudyInstanceUID", "")) or None,
                "is_fluoroscopy": is_fluoroscopy,
                "planes": sorted(set(planes)),
                "event_count": event_count,
                "radiographic_frames": frames,
                "procedure_reported": _code_dict(_child(ds, PROCEDURE_REPORTED)),
                "scope": _code_dict(_child(ds, SCOPE_OF_ACCUMULATION)),
            },
            provenance=ctx.provenance("sr:(DCM,113701)", None),
            flags=ctx.tz_flags,
        )
    )


# --- vendor quirk: Siemens ARCADIS private "Radiation Summary Report" ------------------------

SIEMENS_RADSUM_SCHEME = "99SMS_RADSUM"
_SIEMENS_RADSUM_TITLE: Code = ("C-10", SIEMENS_RADSUM_SCHEME)
# Codes as written by RF-ESR-Siemens-Varic.dcm (Enhanced SR, private template):
#   C-200 "Total number of exposures" (1), C-202 "Cumulative fluoro time" (s),
#   C-204 "Cumulative dose area product" (Gy.cm^2), C-206/C-208 "Start/End of the
#   examination" (DATETIME), C-210 "Cumulative air kerma" (empty in the sample).
_SIEMENS_RADSUM_FIELDS: tuple[tuple[Code, Kind, str], ...] = (
    (("C-202", SIEMENS_RADSUM_SCHEME), Kind.FLUORO_TIME_S, "time"),
    (("C-204", SIEMENS_RADSUM_SCHEME), Kind.DAP_TOTAL_GY_M2, "dap"),
    (("C-210", SIEMENS_RADSUM_SCHEME), Kind.KAR_TOTAL_MGY, "ka_r"),
)


def _is_siemens_radiation_summary(ds: DatasetLike) -> bool:
    return same_code(concept_name(ds), _SIEMENS_RADSUM_TITLE)


def _read_siemens_radiation_summary(ctx: _Context, ds: DatasetLike) -> None:
    """Siemens ARCADIS private summary: cumulative fluoro time, DAP, air kerma by private code.

    No irradiation events; units are taken from the file, never assumed (private template).
    """
    fluoro = False
    for code, kind, quantity in _SIEMENS_RADSUM_FIELDS:
        for child in find_content_items(ds, name=code, recursive=False):
            num = _read_num(child.item, quantity, template_unit=False)
            ctx.observations.append(
                Observation(
                    kind=kind,
                    value=num.value,
                    provenance=ctx.provenance(child.path_text(), num.raw),
                    flags=("private-template", *num.flags),
                )
            )
            fluoro = fluoro or (kind is Kind.FLUORO_TIME_S and bool(num.value))
    exam: dict[str, str | None] = {}
    for key, private_code in (("exam_start", "C-206"), ("exam_end", "C-208")):
        item = _child(ds, (private_code, SIEMENS_RADSUM_SCHEME))
        parsed, _ = parse_dicom_datetime(_text_value(item.item) if item else None, ctx.tz)
        exam[key] = parsed.isoformat() if parsed else None
    _device(ctx, ds)
    ctx.observations.append(
        Observation(
            kind=Kind.DOSE_REPORT,
            value={
                "template": "private-siemens-radiation-summary",
                "report_uid": ctx.sop_instance_uid,
                "sop_class_uid": str(ds.get("SOPClassUID", "")) or None,
                "study_instance_uid": str(ds.get("StudyInstanceUID", "")) or None,
                "is_fluoroscopy": fluoro,
                "planes": [],
                "event_count": None,
                **exam,
            },
            provenance=ctx.provenance(f"sr:({SIEMENS_RADSUM_SCHEME},C-10)", None),
            flags=("private-template", *ctx.tz_flags),
        )
    )


# --- entry point -----------------------------------------------------------------------------


def extract_dose_report(ds: DatasetLike) -> list[Observation]:
    """Dose observations of one dose report; ``[]`` for anything that is not one."""
    ds = as_node(ds)
    is_private = _is_siemens_radiation_summary(ds)
    if not is_private and not _is_dose_report(ds):
        return []
    tz, tz_flags = parse_timezone_offset(ds.get("TimezoneOffsetFromUTC"))
    ctx = _Context(
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        tz=tz,
        tz_flags=tz_flags,
    )
    if is_private:
        _read_siemens_radiation_summary(ctx, ds)
    else:
        _read_tid10001(ctx, ds)
    return ctx.observations
