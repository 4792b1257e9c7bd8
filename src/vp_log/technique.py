"""Typed technique of an irradiation event and the patient's characteristics.

What a dose registry keeps besides the dose itself: the X-ray source settings (kVp, tube
current, pulses, filters, field size) and the mechanical configuration (angles, distances,
table) of each irradiation event (DICOM TID 10003, 10003A, 10003B), and the patient's
height, weight and age (dose report or image header), which skin-dose tools need.

Every value is a :class:`Measurement` in one UCUM unit per quantity, whatever the file said
(``raw`` keeps what it said, ``path`` where it said it). A quantity the file does not give is
``None``; a quantity it gives without a usable value keeps ``value=None`` and a flag: unknown is
never zero. :func:`normalise_quantity` is the one unit table.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Coded",
    "EventTechnique",
    "Measurement",
    "PatientCharacteristics",
    "Quantity",
    "UnknownQuantityUnitError",
    "XRayFilter",
    "canonical_unit",
    "normalise_quantity",
]


class Quantity(StrEnum):
    """Physical quantities of the technique; the value is the UCUM unit shown for it."""

    VOLTAGE = "kV"
    CURRENT = "mA"
    CHARGE = "uA.s"
    SHORT_TIME = "ms"
    TIME = "s"
    RATE = "{pulse}/s"
    COUNT = "{pulses}"
    LENGTH = "mm"
    BODY_HEIGHT = "m"
    AREA = "m2"
    ANGLE = "deg"
    MASS = "kg"
    AGE = "a"


# Factor from each accepted unit (after :func:`canonical_unit`) to the quantity's unit.
_UNITS: dict[Quantity, dict[str, float]] = {
    Quantity.VOLTAGE: {"kV": 1.0, "V": 1e-3, "kVp": 1.0},
    Quantity.CURRENT: {"mA": 1.0, "A": 1e3, "uA": 1e-3},
    Quantity.CHARGE: {
        "uA.s": 1.0,
        "uAs": 1.0,
        "mA.s": 1e3,
        "mAs": 1e3,
        "A.s": 1e6,
        "As": 1e6,
        "C": 1e6,
        "mC": 1e3,
        "uC": 1.0,
    },
    Quantity.SHORT_TIME: {"ms": 1.0, "s": 1e3, "us": 1e-3},
    Quantity.TIME: {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0},
    Quantity.RATE: {
        "{pulse}/s": 1.0,
        "{pulses}/s": 1.0,
        "pulse/s": 1.0,
        "pulses/s": 1.0,
        "/s": 1.0,
        "1/s": 1.0,
        "s-1": 1.0,
        "Hz": 1.0,
        "{frame}/s": 1.0,
        "{frames}/s": 1.0,
    },
    Quantity.COUNT: {"{pulses}": 1.0, "{pulse}": 1.0, "1": 1.0, "{frames}": 1.0, "": 1.0},
    Quantity.LENGTH: {"mm": 1.0, "cm": 10.0, "m": 1e3, "um": 1e-3},
    Quantity.BODY_HEIGHT: {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "[in_i]": 0.0254},
    Quantity.AREA: {"m2": 1.0, "cm2": 1e-4, "mm2": 1e-6},
    Quantity.ANGLE: {"deg": 1.0, "rad": 57.29577951308232},
    Quantity.MASS: {"kg": 1.0, "g": 1e-3, "[lb_av]": 0.45359237},
    Quantity.AGE: {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25},
}


class UnknownQuantityUnitError(ValueError):
    """A unit that the quantity's table does not know: the value must not be used."""


def canonical_unit(unit: str) -> str:
    """Fold typographic variants: ``µAs`` → ``uAs``, ``cm²`` → ``cm2``, ``°`` → ``deg``."""
    text = unit.strip().replace("µ", "u").replace("μ", "u").replace("²", "2").replace("^", "")
    text = text.replace("·", ".").replace("*", ".")
    if text in {"°", "degrees", "degree"}:
        return "deg"
    return re.sub(r"\s+", "", text)


def normalise_quantity(value: float, unit: str, quantity: Quantity) -> float:
    """``value`` in ``unit`` expressed in the quantity's UCUM unit.

    Raises :class:`UnknownQuantityUnitError` for a unit the table does not know.
    """
    factor = _UNITS[quantity].get(canonical_unit(unit))
    if factor is None:
        known = ", ".join(sorted(u for u in _UNITS[quantity] if u))
        raise UnknownQuantityUnitError(
            f'Argument "unit" must be a {quantity.name.lower()} unit ({known}), not {unit!r}.'
        )
    return float(f"{value * factor:.12g}")


class Measurement(BaseModel):
    """One number in its quantity's unit, with where it came from."""

    model_config = ConfigDict(frozen=True)

    value: float | None = Field(
        default=None, description="None: the file gives the item but no usable value"
    )
    unit: str
    path: str = Field(description="SR content path or attribute keyword")
    raw: str | None = Field(default=None, description="value and unit as the file wrote them")
    count: int = Field(default=1, description="items averaged (pulse-level values)")
    flags: tuple[str, ...] = ()


class Coded(BaseModel):
    """A coded (or, where the file gives text, a textual) value."""

    model_config = ConfigDict(frozen=True)

    code: str | None = None
    scheme: str | None = None
    meaning: str | None = None
    path: str = ""


class XRayFilter(BaseModel):
    """One X-ray filter (TID 10003A row X-Ray Filters)."""

    model_config = ConfigDict(frozen=True)

    type: Coded | None = None
    material: Coded | None = None
    thickness_min: Measurement | None = None
    thickness_max: Measurement | None = None

    def material_symbol(self) -> str | None:
        """``Cu``, ``Al``... from the material's meaning; the meaning itself otherwise."""
        if self.material is None or not self.material.meaning:
            return None
        meaning = self.material.meaning.casefold()
        for word, symbol in _MATERIAL_SYMBOLS:
            if word in meaning:
                return symbol
        return self.material.meaning

    def mean_thickness_mm(self) -> float | None:
        values = [m.value for m in (self.thickness_min, self.thickness_max) if m is not None]
        if not values or any(v is None for v in values):
            return None
        return float(f"{sum(v for v in values if v is not None) / len(values):.12g}")


_MATERIAL_SYMBOLS = (
    ("copper", "Cu"),
    ("alumin", "Al"),
    ("molybdenum", "Mo"),
    ("rhodium", "Rh"),
    ("silver", "Ag"),
    ("tin", "Sn"),
    ("lead", "Pb"),
    ("tungsten", "W"),
    ("niobium", "Nb"),
    ("europium", "Eu"),
)


class EventTechnique(BaseModel):
    """Source and mechanical settings of one irradiation event; ``None``: not given."""

    model_config = ConfigDict(frozen=True)

    # X-ray source (TID 10003A)
    fluoro_mode: Coded | None = None
    kvp: Measurement | None = None
    tube_current: Measurement | None = None
    average_tube_current: Measurement | None = None
    pulse_width: Measurement | None = None
    pulse_rate: Measurement | None = None
    number_of_pulses: Measurement | None = None
    exposure: Measurement | None = None
    exposure_time: Measurement | None = None
    irradiation_duration: Measurement | None = None
    focal_spot_size: Measurement | None = None
    anode_target_material: Coded | None = None
    grid: Coded | None = None
    filters: tuple[XRayFilter, ...] = ()
    collimated_field_area: Measurement | None = None
    collimated_field_height: Measurement | None = None
    collimated_field_width: Measurement | None = None
    ii_field_size: Measurement | None = Field(
        default=None, description="image intensifier / detector field diameter (vendor data)"
    )
    # Mechanical configuration (TID 10003B)
    positioner_primary_angle: Measurement | None = None
    positioner_secondary_angle: Measurement | None = None
    positioner_primary_end_angle: Measurement | None = None
    positioner_secondary_end_angle: Measurement | None = None
    column_angulation: Measurement | None = None
    table_head_tilt_angle: Measurement | None = None
    table_horizontal_rotation_angle: Measurement | None = None
    table_cradle_tilt_angle: Measurement | None = None
    distance_source_to_detector: Measurement | None = None
    distance_source_to_isocenter: Measurement | None = None
    distance_source_to_reference_point: Measurement | None = None
    distance_source_to_table_plane: Measurement | None = None
    table_longitudinal_position: Measurement | None = None
    table_lateral_position: Measurement | None = None
    table_height_position: Measurement | None = None
    table_longitudinal_end_position: Measurement | None = None
    table_lateral_end_position: Measurement | None = None
    table_height_end_position: Measurement | None = None
    # Geometry of the patient and the beam (TID 10003)
    reference_point_definition: Coded | None = None
    patient_table_relationship: Coded | None = None
    patient_orientation: Coded | None = None
    patient_orientation_modifier: Coded | None = None
    target_region: Coded | None = None
    flags: tuple[str, ...] = ()


class PatientCharacteristics(BaseModel):
    """Height, weight, age and sex, each from the dose report or an image header."""

    model_config = ConfigDict(frozen=True)

    height: Measurement | None = None
    weight: Measurement | None = None
    age: Measurement | None = None
    sex: str | None = None
    sources: dict[str, str] = Field(default_factory=dict, description="field → provenance")
