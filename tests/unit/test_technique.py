"""Technique of irradiation events and patient characteristics (pure extraction)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from vp_log.extract.header import extract_header
from vp_log.extract.rdsr import extract_dose_report
from vp_log.extract.technique import (
    header_patient,
    read_event_technique,
    report_patient,
    siemens_patient_position,
)
from vp_log.models import Kind
from vp_log.technique import (
    EventTechnique,
    Quantity,
    UnknownQuantityUnitError,
    normalise_quantity,
)

OPENREM = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "openrem"


def events_of(name: str) -> list[dict[str, Any]]:
    ds = pydicom.dcmread(OPENREM / name, stop_before_pixels=True)
    return [o.value for o in extract_dose_report(ds) if o.kind is Kind.IRRADIATION_EVENT]  # type: ignore[misc]


def technique_of(name: str, index: int) -> EventTechnique:
    return EventTechnique.model_validate(events_of(name)[index]["technique"])


def code_item(concept: tuple[str, str], value: tuple[str, str, str]) -> Dataset:
    item = Dataset()
    item.ValueType = "CODE"
    item.ConceptNameCodeSequence = Sequence([_code(*concept, "")])
    item.ConceptCodeSequence = Sequence([_code(*value)])
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code


def num_item(concept: str, value: str | None, unit: str | None, scheme: str = "DCM") -> Dataset:
    item = Dataset()
    item.ValueType = "NUM"
    item.ConceptNameCodeSequence = Sequence([_code(concept, scheme, "")])
    measured = Dataset()
    if value is not None:
        measured.NumericValue = value
    if unit is not None:
        measured.MeasurementUnitsCodeSequence = Sequence([_code(unit, "UCUM", unit)])
    item.MeasuredValueSequence = Sequence([measured])
    return item


def event(*items: Dataset) -> Dataset:
    container = Dataset()
    container.ValueType = "CONTAINER"
    container.ConceptNameCodeSequence = Sequence([_code("113706", "DCM", "")])
    container.ContentSequence = Sequence(list(items))
    return container


@pytest.mark.parametrize(
    ("value", "unit", "quantity", "expected"),
    [
        (9586, "uAs", Quantity.CHARGE, 9586),
        (9.586, "mAs", Quantity.CHARGE, 9586),
        (1.2, "m", Quantity.LENGTH, 1200),
        (120, "cm", Quantity.BODY_HEIGHT, 1.2),
        (7.5, "{pulse}/s", Quantity.RATE, 7.5),
        (7.5, "pulse/s", Quantity.RATE, 7.5),
        (0.1, "s", Quantity.SHORT_TIME, 100),
        (1500, "cm2", Quantity.AREA, 0.15),
        (80000, "g", Quantity.MASS, 80),
        (77, "kV", Quantity.VOLTAGE, 77),
        (0.5, "A", Quantity.CURRENT, 500),
        (12, "mo", Quantity.AGE, 1),
    ],
)
def test_units_are_normalised(value: float, unit: str, quantity: Quantity, expected: float) -> None:
    assert math.isclose(normalise_quantity(value, unit, quantity), expected)


def test_unknown_unit_is_refused_by_name() -> None:
    with pytest.raises(UnknownQuantityUnitError, match='"unit" must be a voltage unit'):
        normalise_quantity(70, "furlong", Quantity.VOLTAGE)


def test_siemens_zee_source_and_mechanical_rows() -> None:
    t = technique_of("RF-RDSR-Siemens-Zee.dcm", 0)
    assert t.kvp is not None and t.kvp.value == 77 and t.kvp.unit == "kV"
    assert t.tube_current is not None and t.tube_current.value == 95.1
    assert t.pulse_width is not None and t.pulse_width.value == 4.2
    assert t.pulse_rate is not None and t.pulse_rate.value == 7.5
    assert t.number_of_pulses is not None and t.number_of_pulses.value == 24
    assert t.exposure is not None and t.exposure.value == 9586 and t.exposure.unit == "uA.s"
    # the retired Exposure Time code 113735, still written by Siemens
    assert t.exposure_time is not None and t.exposure_time.value == 100.8
    assert t.exposure_time.path.endswith("(DCM,113735)")
    assert t.distance_source_to_detector is not None
    assert t.distance_source_to_detector.value == 1200
    assert t.positioner_primary_angle is not None and t.positioner_primary_angle.value == 0.1
    assert t.positioner_secondary_angle is not None
    assert t.positioner_secondary_angle.value == -0.1
    assert t.table_longitudinal_position is not None
    assert t.table_longitudinal_position.value == -25.9
    assert t.table_height_position is not None and t.table_height_position.value == 151.8
    assert [f.material_symbol() for f in t.filters] == ["Cu"]
    assert t.filters[0].mean_thickness_mm() == 0.6
    assert t.irradiation_duration is None  # not given: unknown, not zero


def test_siemens_xml_comments_give_ii_size_and_patient_position() -> None:
    t = technique_of("RF-RDSR-Siemens-Zee.dcm", 0)
    assert t.ii_field_size is not None and t.ii_field_size.value == 220
    assert "from:siemens-comment-xml" in t.ii_field_size.flags
    assert t.patient_table_relationship is not None
    assert t.patient_table_relationship.code == "F-10470"
    assert t.patient_orientation is not None and t.patient_orientation.code == "F-10450"
    assert t.patient_orientation_modifier is not None
    assert t.patient_orientation_modifier.meaning == "supine"
    assert "patient-position-from:siemens-comment-xml" in t.flags


@pytest.mark.parametrize(
    ("position", "relationship", "modifier"),
    [("HFS", "headfirst", "supine"), ("FFP", "feet-first", "prone"), ("HFDL", "headfirst", None)],
)
def test_patient_position_strings(position: str, relationship: str, modifier: str | None) -> None:
    found = siemens_patient_position(position)
    if modifier is None:
        assert found["patient_orientation_modifier"].meaning == "left lateral decubitus"
        return
    assert found["patient_table_relationship"].meaning == relationship
    assert found["patient_orientation_modifier"].meaning == modifier


def test_unknown_patient_position_gives_nothing() -> None:
    assert siemens_patient_position("XYZ") == {}


def test_philips_private_shutters_give_the_field_at_the_detector() -> None:
    t = technique_of("RF-RDSR-Philips_Allura.dcm", 0)
    assert t.collimated_field_height is not None
    assert math.isclose(t.collimated_field_height.value or 0, (164.5 + 164.5) * 1.194)
    assert t.collimated_field_width is not None
    assert math.isclose(t.collimated_field_width.value or 0, (131 + 131) * 1.194)
    assert t.collimated_field_area is not None
    assert math.isclose(
        t.collimated_field_area.value or 0, (164.5 + 164.5) * 1.194 * (131 + 131) * 1.194 / 1e6
    )
    assert "derived-from:philips-private-shutters" in t.collimated_field_area.flags
    assert t.irradiation_duration is not None and t.irradiation_duration.value == 13.066
    assert [f.material_symbol() for f in t.filters] == ["Cu", "Al"]


def test_ge_event_four() -> None:
    t = technique_of("RF-RDSR-GE.dcm", 3)
    assert t.average_tube_current is not None
    assert t.average_tube_current.value == 18.90340042
    assert t.collimated_field_area is not None and t.collimated_field_area.value == 0.041968
    assert t.grid is not None and (t.grid.code, t.grid.meaning) == ("111641", "Fixed Grid")
    assert t.reference_point_definition is not None
    assert t.reference_point_definition.code == "113861"
    # GE writes the positioner angles as NUM items without a value: unknown, kept as such
    assert t.positioner_primary_angle is not None
    assert t.positioner_primary_angle.value is None
    assert "empty-value" in t.positioner_primary_angle.flags
    assert [(f.material_symbol(), f.mean_thickness_mm()) for f in t.filters] == [("Al", 6.6)]


def test_canon_ultimax_event_one() -> None:
    t = technique_of("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm", 0)
    assert t.kvp is not None and t.kvp.value == 85
    assert t.pulse_width is not None and t.pulse_width.value == 5.8
    assert t.number_of_pulses is not None and t.number_of_pulses.value == 100
    assert t.grid is not None and t.grid.meaning == "No grid"
    assert t.irradiation_duration is not None and t.irradiation_duration.value == 13
    assert t.reference_point_definition is not None
    assert t.reference_point_definition.code is None  # written as TEXT
    assert t.reference_point_definition.meaning == "26.0 cm Chamber Patient Distance"


def test_pulse_level_values_are_averaged_and_bad_units_unknown() -> None:
    t = read_event_technique(
        event(
            num_item("113733", "50", "kV"),
            num_item("113733", "60", "kV"),
            num_item("113733", "60", "kV"),
            num_item("113734", "12", "furlong"),
            num_item("113793", None, "ms"),
            num_item("113742", "3", None),
        ),
        "sr:(DCM,113706)[0]",
    )
    assert t.kvp is not None and math.isclose(t.kvp.value or 0, 56.6666666667)
    assert t.kvp.count == 3
    assert t.tube_current is not None and t.tube_current.value is None
    assert "unknown-unit:furlong" in t.tube_current.flags
    assert t.pulse_width is not None and t.pulse_width.value is None
    assert t.irradiation_duration is not None and t.irradiation_duration.value == 3
    assert "missing-unit:assumed-s" in t.irradiation_duration.flags
    assert t.fluoro_mode is None and t.filters == ()


def test_coded_rows_and_orientation_modifier() -> None:
    orientation = code_item(("113743", "DCM"), ("F-10450", "SRT", "recumbent"))
    orientation.ContentSequence = Sequence(
        [code_item(("113744", "DCM"), ("F-10310", "SRT", "prone"))]
    )
    t = read_event_technique(
        event(code_item(("113732", "DCM"), ("113631", "DCM", "Pulsed")), orientation), "sr:"
    )
    assert t.fluoro_mode is not None and t.fluoro_mode.code == "113631"
    assert t.patient_orientation_modifier is not None
    assert t.patient_orientation_modifier.meaning == "prone"


def test_header_patient_characteristics() -> None:
    ds = Dataset()
    ds.PatientSize = "1.72"
    ds.PatientWeight = "0"
    ds.PatientAge = "071Y"
    ds.PatientSex = "F"
    patient = header_patient(ds)
    assert patient is not None
    assert patient.height is not None and patient.height.value == 1.72
    assert patient.height.unit == "m" and patient.height.path == "PatientSize"
    # 0 kg is what an empty field looks like on many units: unknown, not zero
    assert patient.weight is not None and patient.weight.value is None
    assert patient.weight.flags == ("not-entered:0",)
    assert patient.age is not None and patient.age.value == 71
    assert patient.sex == "F"
    assert header_patient(Dataset()) is None


def test_philips_header_weight_and_software_versions() -> None:
    ds = pydicom.dcmread(OPENREM / "RF-RDSR-Philips_Allura.dcm", stop_before_pixels=True)
    found = {o.kind: o.value for o in extract_header(ds)}
    patient: Any = found[Kind.PATIENT_CHARACTERISTICS]
    assert patient["weight"]["value"] == 86.2 and patient["weight"]["unit"] == "kg"
    zee = pydicom.dcmread(OPENREM / "RF-RDSR-Siemens-Zee.dcm", stop_before_pixels=True)
    versions = [o.value for o in extract_header(zee) if o.kind is Kind.SOFTWARE_VERSIONS]
    assert versions == [["VC14J 150507"]]


def test_report_patient_characteristics() -> None:
    ds = Dataset()
    ds.ContentSequence = Sequence(
        [
            num_item("8302-2", "172", "cm", scheme="LN"),
            num_item("29463-7", "80", "kg", scheme="LN"),
            num_item("121033", "71", "a"),
        ]
    )
    patient = report_patient(ds)
    assert patient is not None
    assert patient.height is not None and patient.height.value == 1.72
    assert patient.weight is not None and patient.weight.value == 80
    assert patient.age is not None and patient.age.value == 71
    assert report_patient(Dataset()) is None
