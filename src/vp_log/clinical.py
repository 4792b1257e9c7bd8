"""Baseline clinical data of a procedure: what trials and registries condition on.

Entered by staff (``vp-log procedures annotate``), never extracted: the indication, when the
fracture began (with how precisely that is known), MRI oedema, and the trial arm and blinding
where a site runs a trial. Each entry is a new version (append-only, who and when kept); the
newest one is shown. The fracture's age at the procedure is computed from the onset date and
the study date, with the onset's precision.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Blinding",
    "ClinicalBaseline",
    "ClinicalBaselineInput",
    "FractureAge",
    "Indication",
    "Oedema",
    "OnsetPrecision",
    "fracture_age",
]


class Indication(StrEnum):
    """Why the vertebra was augmented."""

    OSTEOPOROTIC = "osteoporotic"
    MYELOMA = "myeloma"  # neoplastic
    METASTASIS = "metastasis"  # neoplastic
    TRAUMATIC = "traumatic"
    HAEMANGIOMA = "haemangioma"
    OTHER = "other"


class OnsetPrecision(StrEnum):
    """How precisely the fracture onset date is known."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Oedema(StrEnum):
    """Bone marrow oedema on MRI; ``unknown`` when no MRI says."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class Blinding(StrEnum):
    """Who knows the trial arm."""

    OPEN = "open"
    SINGLE = "single-blind"
    DOUBLE = "double-blind"


_UNCERTAINTY_DAYS = {OnsetPrecision.DAY: 0, OnsetPrecision.WEEK: 3, OnsetPrecision.MONTH: 15}


class FractureAge(BaseModel):
    """The fracture's age at the procedure: days (and weeks), give or take the precision."""

    # built at first use, not at import: ``procedures show`` imports this module and most
    # records have no clinical data (issue 15: start-up)
    model_config = ConfigDict(frozen=True, defer_build=True)

    days: int
    weeks: float
    plus_minus_days: int = Field(description="Half the onset precision: 0, 3 or 15 days")


def fracture_age(
    onset: dt.date | None, precision: OnsetPrecision | None, procedure_date: dt.date | None
) -> FractureAge | None:
    """The age at the procedure; ``None`` when either date is unknown."""
    if onset is None or procedure_date is None:
        return None
    days = (procedure_date - onset).days
    return FractureAge(
        days=days,
        weeks=round(days / 7, 1),
        plus_minus_days=_UNCERTAINTY_DAYS[precision or OnsetPrecision.DAY],
    )


class ClinicalBaselineInput(BaseModel):
    """What staff enter; a field left out keeps its earlier value."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    indication: Indication | None = None
    fracture_onset: dt.date | None = None
    onset_precision: OnsetPrecision | None = None
    mri_oedema: Oedema | None = None
    trial_arm: str | None = Field(default=None, max_length=64)
    blinding: Blinding | None = None


class ClinicalBaseline(ClinicalBaselineInput):
    """The newest version, as ``procedures show`` prints it."""

    version: int
    entered_by: str
    entered_at: dt.datetime
    fracture_age: FractureAge | None = None


def merged_values(
    previous: dict[str, object] | None, change: ClinicalBaselineInput
) -> dict[str, object]:
    """The values of a new version: the previous ones with what was given now."""
    values = dict(previous or {})
    values.update(change.model_dump(mode="json", exclude_unset=True))
    return values


def baseline(
    values: dict[str, object],
    *,
    version: int,
    entered_by: str,
    entered_at: dt.datetime,
    procedure_date: dt.date | None,
) -> ClinicalBaseline:
    """A stored version as shown, with the fracture's age at the procedure."""
    entered = ClinicalBaselineInput.model_validate(values)
    return ClinicalBaseline(
        **entered.model_dump(),
        version=version,
        entered_by=entered_by,
        entered_at=entered_at,
        fracture_age=fracture_age(entered.fracture_onset, entered.onset_precision, procedure_date),
    )
