"""The cohort a report is about: typed facts of procedures and follow-up, and the filters.

This module is the one adapter between what the store holds (procedure records, follow-up
versions) and what the report layer computes on. Everything below it works on
:class:`ProcedureFacts` and :class:`EntryFacts` only, so a change to the stored record touches
:func:`procedure_facts` and nothing else.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from vp_log import levels
from vp_log.alerts import DoseEntry, entry_of_record
from vp_log.clinical import ClinicalBaselineInput, Indication
from vp_log.db import report_queries as queries
from vp_log.db.report_queries import DECIDED_KEY
from vp_log.followup.instruments import ITEMS, Choice, Item, Number


class ReportError(ValueError):
    """A report refused: the message names the option and the values allowed."""


PROCEDURE_TYPES = ("vertebroplasty", "kyphoplasty", "sacroplasty")


@functools.lru_cache(maxsize=1024)
def spinal_level(name: str) -> levels.SpinalLevel | None:
    """The level a stored name stands for (canonical names are looked up, not parsed)."""
    try:
        return levels.SpinalLevel(name)
    except ValueError:
        return None


class Region(StrEnum):
    """Spinal region of a treated level, as typed after ``--region``."""

    CERVICAL = "cervical"
    THORACIC = "thoracic"
    LUMBAR = "lumbar"
    SACRAL = "sacral"


_REGION_OF = {
    levels.Region.CERVICAL: Region.CERVICAL,
    levels.Region.THORACIC: Region.THORACIC,
    levels.Region.LUMBAR: Region.LUMBAR,
    levels.Region.SACRAL: Region.SACRAL,
    levels.Region.COCCYGEAL: Region.SACRAL,
}


@dataclass(frozen=True)
class TreatedLevel:
    level: str
    cement_ml: float | None


@dataclass(slots=True)
class ProcedureFacts:
    """What reports use of one procedure record."""

    id: int
    study_instance_uid: str
    patient_id: str | None
    patient_name: str | None
    patient_birth_date: dt.date | None
    patient_sex: str | None
    stated_age_years: float | None
    """The age a header or dose report states (PatientAge), used where no birth date is known."""
    accession_number: str | None
    study_date: dt.date | None
    procedure_type: str
    status: str
    levels: tuple[TreatedLevel, ...]
    """Distinct treated levels in craniocaudal order; cement summed per level."""
    operator: str | None
    """Performing physician (the operator in dose audits), else the first Operators' Name."""
    device: str | None
    """Manufacturer and model of the X-ray system."""
    fluoro_time_s: float | None
    dap_gy_cm2: float | None
    ka_r_mgy: float | None
    total_cement_ml: float | None
    flags: tuple[str, ...]
    indication: str | None = None
    """Baseline clinical data (``procedures annotate``): why it was treated; None: not entered."""
    trial_arm: str | None = None
    """The trial arm, where a site runs a trial; None: not entered."""
    decided: tuple[str, ...] = ()
    """What a manual decision set (``procedures decide``): type, levels, cement, approach."""

    @property
    def level_count(self) -> int:
        return len(self.levels)

    @property
    def regions(self) -> frozenset[Region]:
        found = set()
        for treated in self.levels:
            level = spinal_level(treated.level)
            if level is not None:
                found.add(_REGION_OF[level.region])
        return frozenset(found)

    @property
    def age_years(self) -> int | None:
        """Age at the procedure in whole years, from the birth date, else the age the files
        state; None when neither is known."""
        if self.patient_birth_date is None or self.study_date is None:
            return None if self.stated_age_years is None else int(self.stated_age_years)
        born, on = self.patient_birth_date, self.study_date
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass(frozen=True)
class FractureFacts:
    level: str
    date: dt.date


@dataclass(frozen=True)
class ComplicationFacts:
    type: str
    severity: str
    date: dt.date


@dataclass(slots=True)  # not frozen: 50 000 of them are made per report, frozen is slower
class EntryFacts:
    """The current version of one follow-up entry."""

    entry_id: int
    procedure_id: int
    date: dt.date
    timepoint: str | None
    days_after: int
    out_of_window: bool
    scores: dict[str, float | None]
    """Instrument column → value (None: not assessed)."""
    analgesic: str | None
    new_fractures: tuple[FractureFacts, ...]
    complications: tuple[ComplicationFacts, ...]
    closed_reason: str | None = None
    """The time point was closed (lost, declined, unreachable, died, other), not assessed."""


@dataclass(frozen=True)
class Instrument:
    """An outcome scale as reports show it."""

    column: str
    """Column in follow-up entries and in exports (``pain``, ``odi_percent``)."""
    label: str
    unit: str
    low: float
    high: float
    description: str


#: What the outcome tables call the main scales (the instrument table's own title otherwise).
_LABELS = {"pain": "Pain NRS", "odi_percent": "ODI", "rmdq": "RMDQ"}


def _instrument(item: Item) -> Instrument:
    kind = item.kind
    if not isinstance(kind, Number):
        msg = f"instrument item {item.name!r} is not a number"
        raise TypeError(msg)
    return Instrument(
        column=item.name,
        label=_LABELS.get(item.name, item.title),
        unit="%" if kind.percent else "points",
        low=kind.minimum,
        high=kind.maximum,
        description=item.help,
    )


#: The scored outcome scales reported per time point, in display order: the numbers the
#: follow-up instrument table marks as outcomes.
INSTRUMENTS: tuple[Instrument, ...] = tuple(
    _instrument(item) for item in ITEMS if item.outcome and isinstance(item.kind, Number)
)
#: Every number of the instrument table (outcomes and the rest, e.g. EQ-5D-5L dimensions).
NUMBERS: tuple[Item, ...] = tuple(item for item in ITEMS if isinstance(item.kind, Number))
#: Every choice (the analgesic class).
CHOICES: tuple[Item, ...] = tuple(item for item in ITEMS if isinstance(item.kind, Choice))

_SCORE_COLUMNS = tuple(item.name for item in NUMBERS)

#: Analgesic classes, weakest first (a lower index is a step down).
ANALGESIC_ORDER: tuple[str, ...] = ("none", "non-opioid", "weak-opioid", "strong-opioid")


@dataclass(frozen=True)
class Filters:
    """The filters every report takes; None means 'any'."""

    since: dt.date | None = None
    until: dt.date | None = None
    procedure_type: str | None = None
    region: Region | None = None
    level_count: int | None = None
    operator: str | None = None
    device: str | None = None
    indication: Indication | None = None
    arm: str | None = None

    def describe(self) -> list[tuple[str, str]]:
        """(option, value) of the filters in force, for the report's header."""
        shown = [
            ("--since", self.since.isoformat() if self.since else None),
            ("--until", self.until.isoformat() if self.until else None),
            ("--type", self.procedure_type),
            ("--region", self.region.value if self.region else None),
            ("--levels", str(self.level_count) if self.level_count is not None else None),
            ("--operator", self.operator),
            ("--device", self.device),
            ("--indication", self.indication.value if self.indication else None),
            ("--arm", self.arm),
        ]
        return [(name, value) for name, value in shown if value is not None]


def parse_filters(
    *,
    since: str | None = None,
    until: str | None = None,
    procedure_type: str | None = None,
    region: str | None = None,
    level_count: int | None = None,
    operator: str | None = None,
    device: str | None = None,
    indication: str | None = None,
    arm: str | None = None,
) -> Filters:
    """Filters from the command line; a bad value names the option and what is allowed."""
    if procedure_type is not None and procedure_type.lower() not in PROCEDURE_TYPES:
        msg = f"--type {procedure_type!r} is not known (allowed: {', '.join(PROCEDURE_TYPES)})"
        raise ReportError(msg)
    allowed_regions = [r.value for r in Region]
    if region is not None and region.lower() not in allowed_regions:
        msg = f"--region {region!r} is not known (allowed: {', '.join(allowed_regions)})"
        raise ReportError(msg)
    allowed_indications = [i.value for i in Indication]
    if indication is not None and indication.lower() not in allowed_indications:
        msg = (
            f"--indication {indication!r} is not known (allowed: {', '.join(allowed_indications)})"
        )
        raise ReportError(msg)
    if level_count is not None and level_count < 1:
        msg = f"--levels {level_count} refused (allowed: a whole number of levels, 1 or more)"
        raise ReportError(msg)
    first, last = _date("--since", since), _date("--until", until)
    if first and last and first > last:
        msg = f"--since {first} is after --until {last}"
        raise ReportError(msg)
    return Filters(
        since=first,
        until=last,
        procedure_type=procedure_type.lower() if procedure_type else None,
        region=Region(region.lower()) if region else None,
        level_count=level_count,
        operator=operator,
        device=device,
        indication=Indication(indication.lower()) if indication else None,
        arm=arm,
    )


def _date(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        msg = f"{option} {value!r} is not a date (allowed: YYYY-MM-DD)"
        raise ReportError(msg) from None


@dataclass
class Cohort:
    """The procedures a report is about and their follow-up entries."""

    procedures: list[ProcedureFacts]
    entries: dict[int, list[EntryFacts]] = field(default_factory=dict)
    """Procedure id → its entries by date."""
    total_procedures: int = 0
    """Augmentation procedures in the store before the filters."""
    data_as_of: dt.datetime | None = None
    dose_history: list[DoseEntry] | None = None
    """Dose of every procedure in the store (for alerts added up per patient); loaded only
    for the reports that use it."""
    _by_timepoint: dict[tuple[int, str], list[EntryFacts]] | None = None

    def entries_of(self, procedure_id: int) -> list[EntryFacts]:
        return self.entries.get(procedure_id, [])

    def entries_at(self, procedure_id: int, timepoint: str) -> list[EntryFacts]:
        """The procedure's entries that hold ``timepoint``."""
        if self._by_timepoint is None:
            index: dict[tuple[int, str], list[EntryFacts]] = {}
            for pid, mine in self.entries.items():
                for entry in mine:
                    if entry.timepoint is not None:
                        index.setdefault((pid, entry.timepoint), []).append(entry)
            self._by_timepoint = index
        return self._by_timepoint.get((procedure_id, timepoint), [])


# --- the adapter -----------------------------------------------------------------------------


def _as_date(value: Any) -> dt.date | None:
    """An ISO date, or a DICOM DA (``YYYYMMDD``); None when it is neither."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if len(text) == 8 and text.isdigit():
            text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


def _as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _treated_levels(items: Iterable[Any]) -> tuple[TreatedLevel, ...]:
    """Distinct levels in craniocaudal order, cement summed per level (a bilateral
    sacroplasty names the sacrum twice); ``items``: the record's treated levels (their
    ``level`` and ``cement_ml``)."""
    cement: dict[str, float | None] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(name := item.get("level"), str):
            continue
        ml = _as_float(item.get("cement_ml"))
        if name not in cement:
            cement[name] = ml
        elif ml is not None:
            cement[name] = (cement[name] or 0.0) + ml

    def order(name: str) -> tuple[int, str]:
        level = spinal_level(name)
        return (level.ordinal if level is not None else 10_000, name)

    return tuple(TreatedLevel(name, cement[name]) for name in sorted(cement, key=order))


def _first(values: Any) -> str | None:
    if not isinstance(values, list):
        return None
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _stated_age(patient: Any) -> float | None:
    """The age in years the files state (``patient.age`` with unit ``a``), else None."""
    age = patient.get("age") if isinstance(patient, Mapping) else None
    if not isinstance(age, Mapping) or age.get("unit") != "a":
        return None
    return _as_float(age.get("value"))


def _device_name(device: Any) -> str | None:
    if not isinstance(device, Mapping):
        return None
    parts = (device.get("manufacturer"), device.get("model"))
    return " ".join(str(v).strip() for v in parts if v and str(v).strip()) or None


def _clinical(values: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """Indication and trial arm of the newest baseline clinical data (None: not entered)."""
    if not values:
        return None, None
    baseline = ClinicalBaselineInput.model_validate(values)
    return (baseline.indication.value if baseline.indication else None), baseline.trial_arm


def procedure_facts(
    procedure_id: int,
    status: str,
    fields: Mapping[str, Any],
    clinical: dict[str, Any] | None = None,
) -> ProcedureFacts:
    """The one place that reads a stored procedure record: ``fields`` are the record's
    fields reports use (``report_queries.REPORT_FIELDS`` and ``levels``) in the stored form
    of :class:`~vp_log.record.ProcedureRecord` (its ``model_dump``), read field by field
    (validating 10 000 records with pydantic cost more than the rest of a report: the unit
    tests hold these facts equal to those of the validated record); indication and trial
    arm from the newest version of the baseline clinical data (``clinical``, its stored
    values)."""
    indication, arm = _clinical(clinical)
    get = fields.get
    return ProcedureFacts(
        id=procedure_id,
        study_instance_uid=str(get("study_instance_uid") or ""),
        patient_id=_text(get("patient_id")),
        patient_name=_text(get("patient_name")),
        patient_birth_date=_as_date(get("patient_birth_date")),
        patient_sex=_text(get("patient_sex")),
        stated_age_years=_stated_age(get("patient")),
        accession_number=_text(get("accession_number")),
        study_date=_as_date(get("study_date")),
        procedure_type=str(get("procedure_type") or "unclassified"),
        status="needs_review" if get("needs_review") is True else status,
        levels=_treated_levels(get("levels") or ()),
        operator=_first(get("performing_physicians")) or _first(get("operators")),
        device=_device_name(get("device")),
        fluoro_time_s=_as_float(get("fluoro_time_s")),
        dap_gy_cm2=_as_float(get("dap_gy_cm2")),
        ka_r_mgy=_as_float(get("ka_r_mgy")),
        total_cement_ml=_as_float(get("total_cement_ml")),
        flags=tuple(f for f in get("flags") or () if isinstance(f, str)),
        indication=indication,
        trial_arm=arm,
        decided=tuple(str(f) for f in get(DECIDED_KEY) or ()),
    )


def _json_list(text: str | None) -> list[Any]:
    if not text or text == "[]":
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else []


_COLUMN_AT = {name: i for i, name in enumerate(queries.FOLLOWUP_COLUMNS)}
_SCORES_AT = tuple((column, _COLUMN_AT[column]) for column in _SCORE_COLUMNS)
(
    _ENTRY_ID,
    _PROCEDURE_ID,
    _DATE,
    _TIMEPOINT,
    _DAYS_AFTER,
    _OUT_OF_WINDOW,
    _ANALGESIC,
    _FRACTURES,
    _COMPLICATIONS,
    _CLOSED,
) = (
    _COLUMN_AT[name]
    for name in (
        "entry_id",
        "procedure_id",
        "entry_date",
        "timepoint",
        "days_after",
        "out_of_window",
        "analgesic",
        "new_fractures",
        "complications",
        "closed_reason",
    )
)


def entry_facts(row: Sequence[Any]) -> EntryFacts:
    """The one place that reads a stored follow-up version (a row of
    ``report_queries.FOLLOWUP_COLUMNS``, its JSON lists as text)."""
    day = row[_DATE]
    day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
    fractures = _json_list(row[_FRACTURES])
    complications = _json_list(row[_COMPLICATIONS])
    return EntryFacts(
        entry_id=row[_ENTRY_ID],
        procedure_id=row[_PROCEDURE_ID],
        date=day,
        timepoint=row[_TIMEPOINT],
        days_after=row[_DAYS_AFTER],
        out_of_window=bool(row[_OUT_OF_WINDOW]),
        scores={c: None if (v := row[i]) is None else float(v) for c, i in _SCORES_AT},
        analgesic=row[_ANALGESIC],
        closed_reason=row[_CLOSED],
        new_fractures=tuple(
            FractureFacts(str(f["level"]), _as_date(f.get("date")) or day) for f in fractures
        )
        if fractures
        else (),
        complications=tuple(
            ComplicationFacts(str(c["type"]), str(c["severity"]), _as_date(c.get("date")) or day)
            for c in complications
        )
        if complications
        else (),
    )


def _matches(text: str | None, wanted: str) -> bool:
    return text is not None and text.casefold() == wanted.casefold()


def _check_known(option: str, wanted: str | None, known: Iterable[str | None]) -> None:
    if wanted is None:
        return
    names = sorted({k for k in known if k})
    if not any(_matches(name, wanted) for name in names):
        allowed = ", ".join(names) if names else "none recorded yet"
        msg = f"{option} {wanted!r} is not in the data (allowed: {allowed})"
        raise ReportError(msg)


def select_procedures(
    procedures: Sequence[ProcedureFacts], filters: Filters
) -> list[ProcedureFacts]:
    """The procedures that pass the region, level, operator, device, indication and arm
    filters (a procedure without baseline clinical data matches no indication or arm)."""
    chosen = []
    for p in procedures:
        if filters.region is not None and filters.region not in p.regions:
            continue
        if filters.level_count is not None and p.level_count != filters.level_count:
            continue
        if filters.operator is not None and not _matches(p.operator, filters.operator):
            continue
        if filters.device is not None and not _matches(p.device, filters.device):
            continue
        if filters.indication is not None and p.indication != filters.indication.value:
            continue
        if filters.arm is not None and not _matches(p.trial_arm, filters.arm):
            continue
        chosen.append(p)
    return chosen


def load_cohort(
    session: Session, filters: Filters, *, followup: bool = True, dose_history: bool = False
) -> Cohort:
    """Read the cohort through ``db.report_queries`` (no writes): its procedures, their
    follow-up entries unless ``followup`` is False (a report that uses none), and with
    ``dose_history`` the dose of every procedure in the store (``Cohort.dose_history``)."""
    clinical = queries.report_clinical(session=session)
    stored = queries.report_procedures(session=session, every_type=dose_history)
    every = [
        procedure_facts(pid, status, fields, clinical.get(pid))
        for pid, status, procedure_type, fields in stored
        if procedure_type in queries.AUGMENTATION_TYPES
    ]
    in_range = [
        p
        for p in every
        if (filters.since is None or (p.study_date is not None and p.study_date >= filters.since))
        and (filters.until is None or (p.study_date is not None and p.study_date <= filters.until))
        and (filters.procedure_type is None or p.procedure_type == filters.procedure_type)
    ]
    # Operators and devices are checked against the whole store, so that a name that exists
    # but does not fall in the date range gives an empty cohort rather than a refusal.
    _check_known("--operator", filters.operator, (p.operator for p in every))
    _check_known("--device", filters.device, (p.device for p in every))
    _check_known("--arm", filters.arm, (p.trial_arm for p in every))
    chosen = select_procedures(in_range, filters)
    ids = {p.id for p in chosen}
    entries: dict[int, list[EntryFacts]] = {}
    for row in queries.report_followups(session=session) if followup else ():
        if (pid := row[_PROCEDURE_ID]) in ids:
            entries.setdefault(pid, []).append(entry_facts(row))
    for mine in entries.values():
        mine.sort(key=lambda e: (e.date, e.entry_id))
    history = (
        sorted(
            (entry_of_record(pid, fields) for pid, _, _, fields in stored),
            key=lambda e: e.record_id,
        )
        if dose_history
        else None
    )
    return Cohort(
        procedures=chosen,
        entries=entries,
        total_procedures=len(every),
        data_as_of=queries.data_as_of(session=session),
        dose_history=history,
    )
