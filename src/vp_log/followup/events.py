"""Events reported at a follow-up: new vertebral fractures and complications (SIR A–F)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from vp_log import levels


class ComplicationType(StrEnum):
    """Complications of vertebral augmentation, as typed on the command line."""

    CEMENT_LEAKAGE_DISC = "cement-leakage-disc"
    """Cement leakage into the intervertebral disc."""
    CEMENT_LEAKAGE_PARAVERTEBRAL = "cement-leakage-paravertebral"
    """Cement leakage into the paravertebral soft tissue."""
    CEMENT_LEAKAGE_EPIDURAL = "cement-leakage-epidural"
    """Cement leakage into the epidural space or a neural foramen."""
    CEMENT_LEAKAGE_VENOUS = "cement-leakage-venous"
    """Cement leakage into the (paravertebral or epidural) veins."""
    PULMONARY_CEMENT_EMBOLISM = "pulmonary-cement-embolism"
    """Cement in the pulmonary arteries."""
    NEUROLOGICAL_DEFICIT = "neurological-deficit"
    """New radiculopathy, myelopathy or cauda equina syndrome."""
    INFECTION = "infection"
    """Spondylitis, discitis, wound infection."""
    BLEEDING = "bleeding"
    """Bleeding or haematoma."""
    FRACTURE = "fracture"
    """Rib or other (non-vertebral) fracture, e.g. from positioning."""
    DEATH = "death"
    """Death (severity F)."""
    OTHER = "other"
    """Anything else; describe it in the notes."""


#: Other spellings accepted on input (lower case).
COMPLICATION_ALIASES: dict[str, ComplicationType] = {
    "leakage-disc": ComplicationType.CEMENT_LEAKAGE_DISC,
    "disc": ComplicationType.CEMENT_LEAKAGE_DISC,
    "leakage-paravertebral": ComplicationType.CEMENT_LEAKAGE_PARAVERTEBRAL,
    "paravertebral": ComplicationType.CEMENT_LEAKAGE_PARAVERTEBRAL,
    "leakage-epidural": ComplicationType.CEMENT_LEAKAGE_EPIDURAL,
    "cement-leakage-foraminal": ComplicationType.CEMENT_LEAKAGE_EPIDURAL,
    "epidural": ComplicationType.CEMENT_LEAKAGE_EPIDURAL,
    "foraminal": ComplicationType.CEMENT_LEAKAGE_EPIDURAL,
    "leakage-venous": ComplicationType.CEMENT_LEAKAGE_VENOUS,
    "venous": ComplicationType.CEMENT_LEAKAGE_VENOUS,
    "pulmonary-embolism": ComplicationType.PULMONARY_CEMENT_EMBOLISM,
    "pce": ComplicationType.PULMONARY_CEMENT_EMBOLISM,
    "neurological": ComplicationType.NEUROLOGICAL_DEFICIT,
    "haematoma": ComplicationType.BLEEDING,
    "hematoma": ComplicationType.BLEEDING,
    "rib-fracture": ComplicationType.FRACTURE,
}


class SirSeverity(StrEnum):
    """Society of Interventional Radiology complication severity (A–F)."""

    A = "A"
    """No therapy, no consequence."""
    B = "B"
    """Nominal therapy, no consequence (includes overnight admission for observation)."""
    C = "C"
    """Requires therapy, minor hospitalisation (< 48 h)."""
    D = "D"
    """Requires major therapy, unplanned increase in level of care, prolonged stay (> 48 h)."""
    E = "E"
    """Permanent adverse sequelae."""
    F = "F"
    """Death."""


def _canonical_level(value: str) -> str:
    try:
        return str(levels.parse_level(value))
    except ValueError:
        msg = "not a spinal level"
        raise ValueError(msg) from None


class NewFractureBase(BaseModel):
    """A new vertebral fracture: the level and the date it was found."""

    model_config = ConfigDict(extra="forbid")

    level: Annotated[str, AfterValidator(_canonical_level)]
    date: dt.date | None = Field(None, description="When found; defaults to the entry's date")


class NewFractureCreate(NewFractureBase):
    pass


class NewFracturePublic(NewFractureBase):
    date: dt.date
    adjacent: bool | None = Field(
        description="Next to a treated level; None when the procedure's levels are unknown"
    )
    at_treated_level: bool | None = Field(None, description="At a treated level itself")


class ComplicationBase(BaseModel):
    """A complication: type, SIR severity and date."""

    model_config = ConfigDict(extra="forbid")

    type: ComplicationType
    severity: SirSeverity
    date: dt.date | None = Field(None, description="When it happened; defaults to the entry's")

    @field_validator("type", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower().replace(" ", "-").replace("_", "-")
            return COMPLICATION_ALIASES.get(key, key)
        return value

    @field_validator("severity", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _death_is_f(self) -> ComplicationBase:
        if self.type is ComplicationType.DEATH and self.severity is not SirSeverity.F:
            msg = f"severity {self.severity.value!r} for death refused; allowed: F"
            raise ValueError(msg)
        return self


class ComplicationCreate(ComplicationBase):
    pass


class ComplicationPublic(ComplicationBase):
    date: dt.date


def fracture_adjacency(level: str, treated: list[str]) -> tuple[bool | None, bool | None]:
    """(adjacent to a treated level, at a treated level); ``None`` when none is known."""
    if not treated:
        return None, None
    adjacent = any(levels.is_adjacent(level, t) for t in treated)
    return adjacent, level in treated
