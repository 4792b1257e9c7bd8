"""Technique of irradiation events and patient characteristics from dose reports (pure).

Reads the X-ray source (TID 10003A) and mechanical (TID 10003B) rows of an Irradiation Event
X-Ray Data container (TID 10003), which the template includes inline, by concept code only
(codes from ``pydicom.sr.codedict``). Patient height, weight and age come from the dose report
(LOINC 8302-2, 29463-7; DCM 121033) and from image headers (PatientSize, PatientWeight,
PatientAge).

Vendor quirks, each in a named helper:

- Philips Allura Xper writes the collimation as private shutter positions
  (``99PHI-IXR-XPER`` 006-009, mm at 1 m from the focus); the field at the detector is their
  sum scaled by the source-to-detector distance (as OpenREM's Philips import does).
- Siemens AXIOM-Artis writes the image intensifier diameter and the patient position only in
  XML comments (``<iiDiameter SRData="220"/>``, ``<Position SRData="HFS"/>``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Sequence

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code as PydicomCode

from vp_log.dicom import Code, fold_code
from vp_log.extract.sr import (
    code_meaning,
    concept_code_value,
    numeric_value,
)
from vp_log.technique import (
    Coded,
    EventTechnique,
    Measurement,
    PatientCharacteristics,
    Quantity,
    UnknownQuantityUnitError,
    XRayFilter,
    normalise_quantity,
)
from vp_log.tree import DatasetLike, Node, as_node

logger = logging.getLogger(__name__)

__all__ = [
    "header_patient",
    "read_event_technique",
    "report_patient",
    "siemens_patient_position",
]


def _code(code: PydicomCode) -> Code:
    return (code.value, code.scheme_designator)


# (field, concept, quantity) of the NUM rows of TID 10003A/10003B.
_NUMBERS: tuple[tuple[str, Code, Quantity], ...] = (
    ("kvp", _code(codes.DCM.KVP), Quantity.VOLTAGE),
    ("tube_current", _code(codes.DCM.XRayTubeCurrent), Quantity.CURRENT),
    ("average_tube_current", _code(codes.DCM.AverageXRayTubeCurrent), Quantity.CURRENT),
    ("pulse_width", _code(codes.DCM.PulseWidth), Quantity.SHORT_TIME),
    ("pulse_rate", _code(codes.DCM.PulseRate), Quantity.RATE),
    ("number_of_pulses", _code(codes.DCM.NumberOfPulses), Quantity.COUNT),
    ("exposure", _code(codes.DCM.Exposure), Quantity.CHARGE),
    ("exposure_time", _code(codes.DCM.ExposureTime), Quantity.SHORT_TIME),
    # 113735 is the retired code for Exposure Time, still written by Siemens units.
    ("exposure_time", ("113735", "DCM"), Quantity.SHORT_TIME),
    ("irradiation_duration", _code(codes.DCM.IrradiationDuration), Quantity.TIME),
    ("focal_spot_size", _code(codes.DCM.FocalSpotSize), Quantity.LENGTH),
    ("collimated_field_area", _code(codes.DCM.CollimatedFieldArea), Quantity.AREA),
    ("collimated_field_height", _code(codes.DCM.CollimatedFieldHeight), Quantity.LENGTH),
    ("collimated_field_width", _code(codes.DCM.CollimatedFieldWidth), Quantity.LENGTH),
    ("positioner_primary_angle", _code(codes.DCM.PositionerPrimaryAngle), Quantity.ANGLE),
    ("positioner_secondary_angle", _code(codes.DCM.PositionerSecondaryAngle), Quantity.ANGLE),
    (
        "positioner_primary_end_angle",
        _code(codes.DCM.PositionerPrimaryEndAngle),
        Quantity.ANGLE,
    ),
    (
        "positioner_secondary_end_angle",
        _code(codes.DCM.PositionerSecondaryEndAngle),
        Quantity.ANGLE,
    ),
    ("column_angulation", _code(codes.DCM.ColumnAngulation), Quantity.ANGLE),
    ("table_head_tilt_angle", _code(codes.DCM.TableHeadTiltAngle), Quantity.ANGLE),
    (
        "table_horizontal_rotation_angle",
        _code(codes.DCM.TableHorizontalRotationAngle),
        Quantity.ANGLE,
    ),
    ("table_cradle_tilt_angle", _code(codes.DCM.TableCradleTiltAngle), Quantity.ANGLE),
    (
        "distance_source_to_detector",
        _code(codes.DCM.DistanceSourceToDetector),
        Quantity.LENGTH,
    ),
    (
        "distance_source_to_isocenter",
        _code(codes.DCM.DistanceSourceToIsocenter),
        Quantity.LENGTH,
    ),
    (
        "distance_source_to_reference_point",
        _code(codes.DCM.DistanceSourceToReferencePoint),
        Quantity.LENGTH,
    ),
    (
        "distance_source_to_table_plane",
        _code(codes.DCM.DistanceSourceToTablePlane),
        Quantity.LENGTH,
    ),
    (
        "table_longitudinal_position",
        _code(codes.DCM.TableLongitudinalPosition),
        Quantity.LENGTH,
    ),
    ("table_lateral_position", _code(codes.DCM.TableLateralPosition), Quantity.LENGTH),
    ("table_height_position", _code(codes.DCM.TableHeightPosition), Quantity.LENGTH),
    (
        "table_longitudinal_end_position",
        _code(codes.DCM.TableLongitudinalEndPosition),
        Quantity.LENGTH,
    ),
    ("table_lateral_end_position", _code(codes.DCM.TableLateralEndPosition), Quantity.LENGTH),
    ("table_height_end_position", _code(codes.DCM.TableHeightEndPosition), Quantity.LENGTH),
)

# (field, concept) of the CODE (or TEXT) rows.
_CODED: tuple[tuple[str, Code], ...] = (
    ("fluoro_mode", _code(codes.DCM.FluoroMode)),
    ("anode_target_material", _code(codes.DCM.AnodeTargetMaterial)),
    ("grid", _code(codes.DCM.XRayGrid)),
    ("reference_point_definition", _code(codes.DCM.ReferencePointDefinition)),
    ("patient_table_relationship", _code(codes.DCM.PatientTableRelationship)),
    ("patient_orientation", _code(codes.DCM.PatientOrientation)),
    ("target_region", _code(codes.DCM.TargetRegion)),
)
_ORIENTATION_MODIFIER = _code(codes.DCM.PatientOrientationModifier)
_FILTERS = _code(codes.DCM.XRayFilters)
_FILTER_TYPE = _code(codes.DCM.XRayFilterType)
_FILTER_MATERIAL = _code(codes.DCM.XRayFilterMaterial)
_FILTER_MIN = _code(codes.DCM.XRayFilterThicknessMinimum)
_FILTER_MAX = _code(codes.DCM.XRayFilterThicknessMaximum)
_COMMENT = _code(codes.DCM.Comment)

PATIENT_HEIGHT: Code = ("8302-2", "LN")
PATIENT_WEIGHT: Code = ("29463-7", "LN")
SUBJECT_AGE: Code = _code(codes.DCM.SubjectAge)
SUBJECT_SEX: Code = ("121032", "DCM")


def _path(prefix: str, concept: Code, index: int | None = None) -> str:
    suffix = f"[{index}]" if index is not None else ""
    return f"{prefix}/({concept[1]},{concept[0]}){suffix}"


def read_measurement(
    items: Sequence[DatasetLike], quantity: Quantity, path: str
) -> Measurement | None:
    """One measurement from the NUM items of one concept (several: their mean)."""
    if not items:
        return None
    values: list[float] = []
    raws: list[str] = []
    flags: list[str] = []
    unit_seen = ""
    for item in items:
        value, unit_code, raw_value = numeric_value(item)
        unit = unit_code[0] if unit_code else ""
        unit_seen = unit_seen or unit
        raws.append(f"{raw_value} {unit}".strip())
        if value is None or not math.isfinite(value):
            flags.append("empty-value" if not raw_value else f"unreadable-value:{raw_value}")
            continue
        if not unit and quantity is not Quantity.COUNT:
            # TID 10003A/B fix the unit of every row: a file that omits it means it.
            unit = quantity.value
            flags.append(f"missing-unit:assumed-{unit}")
        try:
            values.append(normalise_quantity(value, unit, quantity))
        except UnknownQuantityUnitError:
            logger.warning("unknown %s unit %r at %s", quantity.name, unit, path)
            flags.append(f"unknown-unit:{unit}")
    raw = "; ".join(r for r in raws if r) or None
    if len(values) != len(items):
        return Measurement(
            value=None,
            unit=quantity.value,
            path=path,
            raw=raw,
            count=len(items),
            flags=tuple(flags),
        )
    mean = float(f"{sum(values) / len(values):.12g}")
    return Measurement(
        value=mean, unit=quantity.value, path=path, raw=raw, count=len(items), flags=tuple(flags)
    )


def _coded(item: DatasetLike, path: str) -> Coded | None:
    value_type = str(item.get("ValueType", ""))
    if value_type == "CODE":
        code = concept_code_value(item)
        meaning = code_meaning(item, "ConceptCodeSequence") or None
        if code is None and meaning is None:
            return None
        return Coded(
            code=code[0] if code else None,
            scheme=code[1] if code else None,
            meaning=meaning,
            path=path,
        )
    if value_type == "TEXT":
        text = str(item.get("TextValue", "") or "").strip()
        return Coded(meaning=text, path=path) if text else None
    return None


class _Children:
    """The content items directly below an item, looked up by concept (scheme aliases folded)."""

    __slots__ = ("_by_key", "_items")

    def __init__(self, item: DatasetLike) -> None:
        self._items = [child.item for child in as_node(item).children()]
        self._by_key: dict[Code, list[Node]] | None = None

    def __iter__(self) -> Iterator[tuple[Code | None, Node]]:
        return ((child.concept, child) for child in self._items)

    def of(self, concept: Code) -> list[Node]:
        if self._by_key is None:
            index: dict[Code, list[Node]] = {}
            for child in self._items:
                if child.key is not None:
                    index.setdefault(child.key, []).append(child)
            self._by_key = index
        return self._by_key.get(fold_code(concept), [])


def _children(item: DatasetLike) -> _Children:
    return _Children(item)


def _of(children: _Children, concept: Code) -> list[Node]:
    return children.of(concept)


def _read_filters(children: _Children, prefix: str) -> list[XRayFilter]:
    filters: list[XRayFilter] = []
    for index, container in enumerate(_of(children, _FILTERS)):
        here = _path(prefix, _FILTERS, index)
        inner = _children(container)
        type_item = _of(inner, _FILTER_TYPE)
        material_item = _of(inner, _FILTER_MATERIAL)
        filters.append(
            XRayFilter(
                type=_coded(type_item[0], _path(here, _FILTER_TYPE)) if type_item else None,
                material=(
                    _coded(material_item[0], _path(here, _FILTER_MATERIAL))
                    if material_item
                    else None
                ),
                thickness_min=read_measurement(
                    _of(inner, _FILTER_MIN), Quantity.LENGTH, _path(here, _FILTER_MIN)
                ),
                thickness_max=read_measurement(
                    _of(inner, _FILTER_MAX), Quantity.LENGTH, _path(here, _FILTER_MAX)
                ),
            )
        )
    return filters


def read_event_technique(
    event: DatasetLike, prefix: str, *, report_position: str | None = None
) -> EventTechnique:
    """The technique rows of one Irradiation Event X-Ray Data container.

    ``prefix`` is the container's provenance path (``sr:(DCM,113706)[3]``);
    ``report_position`` a patient position the report gives for all events (Siemens XML).
    """
    children = _children(event)
    fields: dict[str, object] = {}
    flags: list[str] = []
    for name, concept, quantity in _NUMBERS:
        if name in fields:
            continue
        measurement = read_measurement(_of(children, concept), quantity, _path(prefix, concept))
        if measurement is not None:
            fields[name] = measurement
    for name, concept in _CODED:
        found = _of(children, concept)
        if found:
            coded = _coded(found[0], _path(prefix, concept))
            if coded is not None:
                fields[name] = coded
            if name == "patient_orientation":
                modifier = _of(_children(found[0]), _ORIENTATION_MODIFIER)
                here = _path(_path(prefix, concept), _ORIENTATION_MODIFIER)
                if modifier and (coded_modifier := _coded(modifier[0], here)) is not None:
                    fields["patient_orientation_modifier"] = coded_modifier
    fields["filters"] = tuple(_read_filters(children, prefix))
    _philips_shutters(children, prefix, fields, flags)
    _siemens_fluoro_xml(children, prefix, fields, flags)
    if report_position and "patient_table_relationship" not in fields:
        for key, value in siemens_patient_position(report_position).items():
            fields.setdefault(key, value)
        flags.append("patient-position-from:siemens-comment-xml")
    return EventTechnique.model_validate({**fields, "flags": tuple(flags)})


# --- vendor quirk: Philips Allura Xper private shutters ---------------------------------------

_PHILIPS = "99PHI-IXR-XPER"
_PHILIPS_SHUTTERS: Code = ("005", _PHILIPS)
_PHILIPS_SIDES = {"bottom": "006", "left": "007", "right": "008", "top": "009"}


def _philips_shutters(
    children: _Children,
    prefix: str,
    fields: dict[str, object],
    flags: list[str],
) -> None:
    """Collimated field height/width at the detector from Philips private shutter rows.

    The shutters are positions in mm at 1 m from the focus; left+right spans the height and
    top+bottom the width, scaled by the source-to-detector distance (mm / 1000).
    """
    containers = _of(children, _PHILIPS_SHUTTERS)
    sid = fields.get("distance_source_to_detector")
    if not containers or not isinstance(sid, Measurement) or sid.value is None:
        return
    inner = _children(containers[0])
    here = _path(prefix, _PHILIPS_SHUTTERS)
    sides: dict[str, float] = {}
    for side, code in _PHILIPS_SIDES.items():
        measurement = read_measurement(
            _of(inner, (code, _PHILIPS)), Quantity.LENGTH, _path(here, (code, _PHILIPS))
        )
        if measurement is None or measurement.value is None:
            return
        sides[side] = measurement.value
    scale = sid.value / 1000.0
    height = (sides["left"] + sides["right"]) * scale
    width = (sides["top"] + sides["bottom"]) * scale
    raw = ", ".join(f"{side} {value:g} mm" for side, value in sides.items())
    derived = ("derived-from:philips-private-shutters",)
    fields.setdefault(
        "collimated_field_height",
        Measurement(value=_tidy(height), unit="mm", path=here, raw=raw, flags=derived),
    )
    fields.setdefault(
        "collimated_field_width",
        Measurement(value=_tidy(width), unit="mm", path=here, raw=raw, flags=derived),
    )
    fields.setdefault(
        "collimated_field_area",
        Measurement(
            value=_tidy(height * width / 1e6), unit="m2", path=here, raw=raw, flags=derived
        ),
    )
    flags.append("field-from:philips-private-shutters")


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


# --- vendor quirk: Siemens XML comments -------------------------------------------------------

_XML_VALUE = re.compile(r"<(?P<name>\w+)\s+SRData=\"(?P<value>[^\"]*)\"\s*/>")


def _xml_values(text: str) -> dict[str, str]:
    """``<Name SRData="value"/>`` pairs of a Siemens comment (first of each name)."""
    found: dict[str, str] = {}
    for match in _XML_VALUE.finditer(text[:20000]):
        found.setdefault(match["name"], match["value"].strip())
    return found


def siemens_comment_values(ds_or_event: DatasetLike) -> dict[str, str]:
    """XML values of the Comment rows directly below ``ds_or_event``."""
    found: dict[str, str] = {}
    for item in _of(_children(ds_or_event), _COMMENT):
        text = str(item.get("TextValue", "") or "")
        if "SRData=" in text:
            for key, value in _xml_values(text).items():
                found.setdefault(key, value)
    return found


def _siemens_fluoro_xml(
    children: _Children,
    prefix: str,
    fields: dict[str, object],
    flags: list[str],
) -> None:
    for item in _of(children, _COMMENT):
        text = str(item.get("TextValue", "") or "")
        values = _xml_values(text) if "SRData=" in text else {}
        diameter = values.get("iiDiameter")
        if not diameter:
            continue
        try:
            value = float(diameter)
        except ValueError:
            continue
        fields.setdefault(
            "ii_field_size",
            Measurement(
                value=value,
                unit="mm",
                path=f"{_path(prefix, _COMMENT)}:iiDiameter",
                raw=diameter,
                flags=("from:siemens-comment-xml",),
            ),
        )
        flags.append("ii-field-size-from:siemens-comment-xml")
        return


_TABLE_RELATIONSHIP = {
    "HF": Coded(code="F-10470", scheme="SRT", meaning="headfirst"),
    "FF": Coded(code="F-10480", scheme="SRT", meaning="feet-first"),
}
_RECUMBENT = Coded(code="F-10450", scheme="SRT", meaning="recumbent")
_MODIFIERS = {
    "S": Coded(code="F-10340", scheme="SRT", meaning="supine"),
    "P": Coded(code="F-10310", scheme="SRT", meaning="prone"),
    "DL": Coded(code="F-10317", scheme="SRT", meaning="left lateral decubitus"),
    "DR": Coded(code="F-10319", scheme="SRT", meaning="right lateral decubitus"),
}


def siemens_patient_position(position: str) -> dict[str, Coded]:
    """``HFS``/``FFP``/``HFDL``... (DICOM Patient Position) as the TID 10003 coded rows."""
    text = position.strip().upper()
    found: dict[str, Coded] = {}
    path = "sr:(DCM,121106):PatientPosition"
    relationship = _TABLE_RELATIONSHIP.get(text[:2])
    modifier = _MODIFIERS.get(text[2:])
    if relationship is None or modifier is None:
        return found
    found["patient_table_relationship"] = relationship.model_copy(update={"path": path})
    found["patient_orientation"] = _RECUMBENT.model_copy(update={"path": path})
    found["patient_orientation_modifier"] = modifier.model_copy(update={"path": path})
    return found


# --- patient characteristics ------------------------------------------------------------------


def report_patient(ds: DatasetLike) -> PatientCharacteristics | None:
    """Height, weight, age and sex a dose report states (root or one container deep)."""
    fields: dict[str, object] = {}
    scopes: list[tuple[str, DatasetLike]] = [("sr:", ds)]
    for name, child in _children(ds):
        if str(child.get("ValueType", "")) == "CONTAINER" and name is not None:
            scopes.append((f"sr:({name[1]},{name[0]})", child))
    for prefix, scope in scopes:
        children = _children(scope)
        base = prefix.rstrip(":") if prefix != "sr:" else "sr:"
        for key, concept, quantity in (
            ("height", PATIENT_HEIGHT, Quantity.BODY_HEIGHT),
            ("weight", PATIENT_WEIGHT, Quantity.MASS),
            ("age", SUBJECT_AGE, Quantity.AGE),
        ):
            if key in fields:
                continue
            path = f"{base}({concept[1]},{concept[0]})" if base == "sr:" else _path(base, concept)
            measurement = read_measurement(_of(children, concept), quantity, path)
            if measurement is not None:
                fields[key] = measurement
        sex_items = _of(children, SUBJECT_SEX)
        if sex_items and "sex" not in fields:
            coded = _coded(sex_items[0], "")
            if coded is not None and coded.meaning:
                fields["sex"] = coded.meaning
    if not fields:
        return None
    return PatientCharacteristics.model_validate(fields)


_AGE = re.compile(r"^(?P<n>\d{1,3})(?P<unit>[DWMY])$")
_AGE_UNITS = {"D": "d", "W": "wk", "M": "mo", "Y": "a"}


def header_patient(ds: DatasetLike) -> PatientCharacteristics | None:
    """PatientSize (m), PatientWeight (kg), PatientAge (AS) and PatientSex of a header."""
    fields: dict[str, object] = {}
    for key, keyword, quantity, unit in (
        ("height", "PatientSize", Quantity.BODY_HEIGHT, "m"),
        ("weight", "PatientWeight", Quantity.MASS, "kg"),
    ):
        element = ds.get(keyword)
        raw = "" if element is None else str(element).strip()
        if not raw:
            continue
        try:
            value: float | None = float(raw)
        except ValueError:
            value = None
        flags: tuple[str, ...] = ()
        if value is None or not math.isfinite(value):
            value, flags = None, (f"unreadable-value:{raw}",)
        elif value <= 0:
            # 0 is what many units write when nobody entered it: unknown, not zero.
            value, flags = None, (f"not-entered:{raw}",)
        fields[key] = Measurement(
            value=normalise_quantity(value, unit, quantity) if value is not None else None,
            unit=quantity.value,
            path=keyword,
            raw=raw,
            flags=flags,
        )
    age_text = str(ds.get("PatientAge", "") or "").strip().upper()
    if age_text:
        match = _AGE.match(age_text)
        fields["age"] = Measurement(
            value=(
                normalise_quantity(int(match["n"]), _AGE_UNITS[match["unit"]], Quantity.AGE)
                if match
                else None
            ),
            unit=Quantity.AGE.value,
            path="PatientAge",
            raw=age_text,
            flags=(
                (f"unreadable-value:{age_text}",)
                if not match
                else (() if len(match["n"]) == 3 else (f"lenient-age:{age_text}",))
            ),
        )
    sex = str(ds.get("PatientSex", "") or "").strip().upper()
    if sex:
        fields["sex"] = sex
    if not any(k in fields for k in ("height", "weight", "age")):
        return None
    return PatientCharacteristics.model_validate(fields)
