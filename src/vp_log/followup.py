"""Follow-up outcomes: instruments and scoring, the schedule, linking, the worklist, the timeline.

Staff enter what a patient reported at a time point (pain, Oswestry, Roland-Morris, analgesics,
new fractures, complications). An entry is validated here (pydantic) before anything is written:
a bad value is refused with a message naming the field, the value and what is allowed.

- **Schedule**: time points (``baseline``, ``1d``, ``1w``, ``1m``, ``3m``, ``6m``, ``12m`` by
  default) with windows in days after the procedure, read from TOML (:func:`load_schedule`).
  An entry's time point is inferred from its date when not given; an entry outside every window
  is kept and flagged ``out_of_window``.
- **Linking** (:func:`resolve_procedure`): by record id, accession number, Study Instance UID or
  patient ID plus date. Ambiguity is refused with the candidates listed
  (:class:`AmbiguousProcedureError`); a prefix (``id:``, ``accession:``, ``uid:``,
  ``patient:``) says which key is meant.
- **Dates**: nothing in the future; only a baseline may predate the procedure, and a baseline
  may not follow it.
- **Storage** (:func:`add_followup`, :func:`correct_followup`): append-only; a correction is a
  new version with its reason; every write is audited in the same transaction.
- **Reading**: :func:`list_followups`, :func:`entry_history`, :func:`due_worklist`,
  :func:`outcome_timeline` (with :func:`render_outcome_timeline` for people).
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from collections.abc import Callable, Iterable
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from vp_log import levels
from vp_log.db import Database
from vp_log.db import followup_tables as store
from vp_log.db.base import utcnow
from vp_log.db.tables import Procedure

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts for a write that lost a race (version number taken, database locked).
WRITE_ATTEMPTS = 8


# --- errors ----------------------------------------------------------------------------------


class FollowupError(ValueError):
    """A follow-up refused; the message says what was wrong and what is allowed."""


class AmbiguousProcedureError(FollowupError):
    """More than one procedure matches; ``candidates`` lists them."""

    def __init__(self, message: str, candidates: list[ProcedureRef]) -> None:
        super().__init__(message)
        self.candidates = candidates


class ScheduleError(ValueError):
    """A follow-up schedule file vp_log refuses; the message names the entry."""


# --- vocabularies ----------------------------------------------------------------------------


class Analgesic(StrEnum):
    """Analgesic use, as typed on the command line (the strongest class taken)."""

    NONE = "none"
    """No analgesics."""
    NON_OPIOID = "non-opioid"
    """Paracetamol, NSAIDs, metamizole and the like."""
    WEAK_OPIOID = "weak-opioid"
    """Codeine, tramadol, tapentadol (WHO step 2)."""
    STRONG_OPIOID = "strong-opioid"
    """Morphine, oxycodone, fentanyl, hydromorphone (WHO step 3)."""


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


# --- instruments -----------------------------------------------------------------------------

#: What each field allows, for refusal messages.
ALLOWED: dict[str, str] = {
    "date": "a date YYYY-MM-DD, not in the future",
    "timepoint": "a time point of the schedule",
    "pain": "0–10, at most one decimal",
    "pain_rest": "0–10, at most one decimal",
    "pain_activity": "0–10, at most one decimal",
    "odi_percent": "0–100 (%)",
    "odi_sections": "ten section scores 0–5, at most one unanswered",
    "rmdq": "a whole number 0–24",
    "analgesic": ", ".join(a.value for a in Analgesic),
    "level": "a spinal level such as T12, L1, S1",
    "type": ", ".join(c.value for c in ComplicationType),
    "severity": "SIR severity A, B, C, D, E or F",
    "entered_by": "1–128 characters",
}


def _one_decimal(value: float) -> float:
    if abs(value * 10 - round(value * 10)) > 1e-6:
        msg = "at most one decimal is allowed"
        raise ValueError(msg)
    return round(value, 1)


Pain = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False), AfterValidator(_one_decimal)]
OdiPercent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
OdiSection = Annotated[int, Field(ge=0, le=5)]
Rmdq = Annotated[int, Field(ge=0, le=24)]

ODI_SECTIONS = 10


def score_odi(sections: list[int | None]) -> float:
    """Oswestry Disability Index in %: total / (5 × sections answered) × 100, one decimal.

    ``None`` is an unanswered section; more than one makes the questionnaire unscorable.
    """
    shown = "[" + ", ".join("-" if s is None else str(s) for s in sections) + "]"
    if len(sections) != ODI_SECTIONS:
        msg = (
            f"odi_sections = {shown} refused: {len(sections)} scores given "
            f"(allowed: exactly {ODI_SECTIONS} section scores 0–5)"
        )
        raise ValueError(msg)
    answered = [s for s in sections if s is not None]
    if ODI_SECTIONS - len(answered) > 1:
        msg = (
            f"odi_sections = {shown} refused: {ODI_SECTIONS - len(answered)} sections "
            "unanswered, unscorable (allowed: at most one unanswered)"
        )
        raise ValueError(msg)
    return round(sum(answered) / (5 * len(answered)) * 100, 1)


def _canonical_level(value: str) -> str:
    try:
        return str(levels.parse_level(value))
    except ValueError as exc:
        msg = f"not a spinal level ({exc})"
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


class FollowupBase(BaseModel):
    """What staff enter at one assessment. ``None`` means not assessed (never 0)."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="Date of the assessment")
    timepoint: str | None = Field(None, description="Schedule time point; inferred when None")
    pain: Pain | None = Field(None, description="Pain NRS/VAS 0–10 (overall)")
    pain_rest: Pain | None = Field(None, description="Pain at rest 0–10")
    pain_activity: Pain | None = Field(None, description="Pain on activity 0–10")
    odi_percent: OdiPercent | None = Field(None, description="Oswestry Disability Index %")
    odi_sections: list[OdiSection | None] | None = Field(
        None, description="The ten ODI section scores (0–5, None unanswered)"
    )
    rmdq: Rmdq | None = Field(None, description="Roland-Morris Disability Questionnaire 0–24")
    analgesic: Analgesic | None = None
    notes: str | None = None

    @field_validator("analgesic", mode="before")
    @classmethod
    def _analgesic(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


#: Fields of which at least one must be given (or a fracture or complication).
ASSESSED = ("pain", "pain_rest", "pain_activity", "odi_percent", "rmdq", "analgesic", "notes")


class FollowupCreate(FollowupBase):
    """An entry as typed, before linking; ODI sections are scored here."""

    new_fractures: list[NewFractureCreate] = Field(default_factory=list)
    complications: list[ComplicationCreate] = Field(default_factory=list)
    entered_by: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _score_odi(self) -> FollowupCreate:
        if self.odi_sections is not None:
            scored = score_odi(self.odi_sections)
            if self.odi_percent is not None and abs(self.odi_percent - scored) > 0.05:
                msg = (
                    f"odi_percent = {self.odi_percent} disagrees with the sections "
                    f"(scored {scored}); give one or the other"
                )
                raise ValueError(msg)
            self.odi_percent = scored
        assessed = [getattr(self, f) for f in ASSESSED] + self.new_fractures + self.complications
        if all(v is None or v == "" for v in assessed):
            msg = (
                "an entry with nothing assessed refused: give at least one of pain, ODI, RMDQ, "
                "analgesic, a new fracture, a complication or notes"
            )
            raise ValueError(msg)
        return self


class FollowupPublic(FollowupBase):
    """One stored version of an entry."""

    entry_id: int
    version: int
    procedure_id: int
    days_after: int = Field(description="Days after the procedure (negative: before)")
    timepoint_inferred: bool
    out_of_window: bool
    new_fractures: list[NewFracturePublic]
    complications: list[ComplicationPublic]
    entered_by: str
    entered_at: dt.datetime
    reason: str | None = Field(None, description="Why this version corrects the previous one")
    supersedes_version: int | None = None

    @classmethod
    def from_row(cls, row: store.FollowupVersion) -> FollowupPublic:
        return cls(
            entry_id=row.entry_id,
            version=row.version,
            procedure_id=row.procedure_id,
            date=row.entry_date,
            timepoint=row.timepoint,
            days_after=row.days_after,
            timepoint_inferred=row.timepoint_inferred,
            out_of_window=row.out_of_window,
            pain=row.pain,
            pain_rest=row.pain_rest,
            pain_activity=row.pain_activity,
            odi_percent=row.odi_percent,
            odi_sections=row.odi_sections,
            rmdq=row.rmdq,
            analgesic=Analgesic(row.analgesic) if row.analgesic else None,
            new_fractures=[NewFracturePublic.model_validate(f) for f in row.new_fractures],
            complications=[ComplicationPublic.model_validate(c) for c in row.complications],
            notes=row.notes,
            entered_by=row.entered_by,
            entered_at=row.entered_at,
            reason=row.reason,
            supersedes_version=row.version - 1 if row.supersedes_id is not None else None,
        )


class AuditPublic(BaseModel):
    id: int
    at: dt.datetime
    who: str
    action: str
    entity: str
    entity_id: str
    details: dict[str, Any]


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: the field, the value given, why, and what is allowed."""
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not loc:
            lines.append(msg)
            continue
        parts: list[str] = []
        for part in loc:
            if isinstance(part, int):
                parts.append(f"[{part + 1}]")
            elif parts:
                parts.append(f".{part}")
            else:
                parts.append(str(part))
        field = "".join(parts)
        name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
        if name in {"odi_sections"} and isinstance(loc[-1], int):
            field = f"odi_sections section {loc[-1] + 1}"
        allowed = ALLOWED.get(name)
        shown = "" if err["type"] == "missing" else f" = {err['input']!r}"
        lines.append(
            f"{field}{shown} refused: {msg}" + (f" (allowed: {allowed})" if allowed else "")
        )
    return "\n".join(lines)


# --- schedule --------------------------------------------------------------------------------


class TimePoint(BaseModel):
    """A scheduled assessment: target day after the procedure and its window (inclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    label: str = ""
    target: int
    from_day: int = Field(alias="from")
    to_day: int = Field(alias="to")
    baseline: bool = False
    due: bool = True

    @model_validator(mode="after")
    def _window(self) -> TimePoint:
        if not self.from_day <= self.target <= self.to_day:
            msg = (
                f"time point {self.name!r}: from ({self.from_day}) <= target ({self.target}) "
                f"<= to ({self.to_day}) does not hold"
            )
            raise ValueError(msg)
        return self

    def contains(self, days: int) -> bool:
        return self.from_day <= days <= self.to_day


class Schedule(BaseModel):
    """The time points of a site, in the order of the file."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    timepoints: list[TimePoint] = Field(alias="timepoint", min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        names = [tp.name for tp in self.timepoints]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            msg = f"time point names must be unique; repeated: {', '.join(duplicates)}"
            raise ValueError(msg)
        if sum(tp.baseline for tp in self.timepoints) != 1:
            msg = "exactly one time point must have baseline = true"
            raise ValueError(msg)
        return self

    @property
    def names(self) -> list[str]:
        return [tp.name for tp in self.timepoints]

    @property
    def baseline(self) -> TimePoint:
        return next(tp for tp in self.timepoints if tp.baseline)

    def get(self, name: str) -> TimePoint:
        for tp in self.timepoints:
            if tp.name == name:
                return tp
        msg = f"timepoint = {name!r} refused (allowed: {', '.join(self.names)})"
        raise FollowupError(msg)

    def infer(self, days: int) -> TimePoint | None:
        """The time point whose window holds ``days`` (nearest target first), else None."""
        holding = [tp for tp in self.timepoints if tp.contains(days)]
        if not holding:
            return None
        return min(holding, key=lambda tp: (abs(tp.target - days), tp.target))


def load_schedule(path: Path | None = None) -> Schedule:
    """The schedule in ``path``, or the built-in one; :class:`ScheduleError` when it is bad."""
    where = str(path) if path else "the built-in follow-up schedule"
    try:
        if path is None:
            text = (
                resources.files("vp_log")
                .joinpath("defaults", "followup_schedule.toml")
                .read_text(encoding="utf-8")
            )
        else:
            text = path.read_text(encoding="utf-8")
        return Schedule.model_validate(tomllib.loads(text))
    except OSError as exc:
        msg = f"Follow-up schedule {where} cannot be read: {exc}"
        raise ScheduleError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"Follow-up schedule {where} is not valid TOML: {exc}"
        raise ScheduleError(msg) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        msg = f"Follow-up schedule {where} refused: {problems}"
        raise ScheduleError(msg) from None


# --- linking ---------------------------------------------------------------------------------


class ProcedureRef(BaseModel):
    """What follow-up needs to know of a procedure record."""

    model_config = ConfigDict(frozen=True)

    id: int
    study_instance_uid: str
    accession_number: str | None
    patient_id: str | None
    study_date: dt.date | None
    procedure_type: str
    levels: list[str] = Field(description="Treated levels, canonical (T12, L1)")

    @classmethod
    def from_row(cls, row: Procedure) -> ProcedureRef:
        return cls(
            id=row.id,
            study_instance_uid=row.study_instance_uid,
            accession_number=row.accession_number,
            patient_id=row.patient_id,
            study_date=_parse_date(row.study_date),
            procedure_type=row.procedure_type,
            levels=_treated_levels(row.record or {}, row.id),
        )

    def describe(self) -> str:
        return (
            f"record {self.id}: patient {self.patient_id or '?'}, "
            f"accession {self.accession_number or '?'}, "
            f"{self.study_date or 'no date'}, {self.procedure_type}"
            + (f", {'/'.join(self.levels)}" if self.levels else "")
        )


def _parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        logger.warning("procedure study date %r is not an ISO date; treated as unknown", value)
        return None


def _treated_levels(record: dict[str, Any], procedure_id: int) -> list[str]:
    found: list[str] = []
    for item in record.get("levels") or []:
        text = item.get("level") if isinstance(item, dict) else item
        if not isinstance(text, str):
            continue
        try:
            level = str(levels.parse_level(text))
        except ValueError:
            logger.warning("procedure %s: treated level %r not understood", procedure_id, text)
            continue
        if level not in found:
            found.append(level)
    return found


KEY_PREFIXES = ("id", "accession", "uid", "patient")


def _split_key(key: str) -> tuple[str | None, str]:
    kind, sep, rest = key.partition(":")
    if sep and kind.lower() in KEY_PREFIXES and rest:
        return kind.lower(), rest.strip()
    return None, key.strip()


def _matches(session: Session, key: str) -> tuple[list[Procedure], list[Procedure]]:
    """(direct matches by id/accession/UID, procedures of the patient with that ID)."""
    kind, value = _split_key(key)
    rows = store.find_procedures(session=session, key=value)
    direct = [
        r
        for r in rows
        if (kind in (None, "id") and value.isdigit() and r.id == int(value))
        or (kind in (None, "accession") and r.accession_number == value)
        or (kind in (None, "uid") and r.study_instance_uid == value)
    ]
    patient = [r for r in rows if kind in (None, "patient") and r.patient_id == value]
    return direct, patient


def resolve_procedure(
    session: Session, key: str, *, on: dt.date, baseline: bool | None = None
) -> ProcedureRef:
    """The one procedure ``key`` names for an entry dated ``on``.

    ``key`` is a record id, accession number, Study Instance UID or patient ID (optionally
    prefixed ``id:``, ``accession:``, ``uid:``, ``patient:``). A patient ID picks the most recent
    procedure on or before ``on``; for a baseline (``baseline=True``) the first one on or after
    it; when the time point is not known yet (``None``) the most recent on or before, else the
    next one after. Several matches raise :class:`AmbiguousProcedureError`.
    """
    direct, patient = _matches(session, key)
    chosen: list[Procedure] = []
    if patient:
        dated = [(d, r) for r in patient if (d := _parse_date(r.study_date)) is not None]
        before = [(d, r) for d, r in dated if d <= on]
        after = [(d, r) for d, r in dated if d >= on]
        pools = [after] if baseline else [before] if baseline is False else [before, after]
        for pool in pools:
            if pool:
                best = (max if pool is before else min)(d for d, _ in pool)
                chosen = [r for d, r in pool if d == best]
                break
    candidates = {r.id: r for r in [*direct, *chosen]}
    if len(candidates) == 1:
        return ProcedureRef.from_row(next(iter(candidates.values())))
    if len(candidates) > 1:
        refs = [ProcedureRef.from_row(r) for r in sorted(candidates.values(), key=lambda r: r.id)]
        listing = "\n  ".join(ref.describe() for ref in refs)
        msg = (
            f"{key!r} matches {len(refs)} procedures; name one by record id (id:N) "
            f"or accession number (accession:X):\n  {listing}"
        )
        raise AmbiguousProcedureError(msg, refs)
    if patient:
        side = "on or after" if baseline else "on or before"
        listing = "\n  ".join(ProcedureRef.from_row(r).describe() for r in patient)
        msg = f"patient {key!r} has no procedure {side} {on.isoformat()}; theirs:\n  {listing}"
        raise FollowupError(msg)
    msg = f"no procedure with record id, accession number, Study Instance UID or patient ID {key!r}"
    raise FollowupError(msg)


def procedures_for(session: Session, key: str) -> list[ProcedureRef]:
    """Every procedure ``key`` names (all of a patient's), for listings."""
    direct, patient = _matches(session, key)
    rows = {r.id: r for r in [*direct, *patient]}
    return [ProcedureRef.from_row(rows[i]) for i in sorted(rows)]


# --- placing an entry: dates, time point, adjacency -----------------------------------------


def fracture_adjacency(level: str, treated: Iterable[str]) -> tuple[bool | None, bool | None]:
    """(adjacent to a treated level, at a treated level); ``None`` when none is known."""
    treated = list(treated)
    if not treated:
        return None, None
    adjacent = any(levels.is_adjacent(level, t) for t in treated)
    return adjacent, level in treated


def build_values(
    *, procedure: ProcedureRef, data: FollowupCreate, schedule: Schedule, today: dt.date
) -> dict[str, Any]:
    """The stored content of an entry (see ``store.CONTENT_COLUMNS``), or FollowupError."""
    if data.date > today:
        msg = f"date = {data.date.isoformat()} refused: in the future (today is {today})"
        raise FollowupError(msg)
    if procedure.study_date is None:
        msg = f"procedure {procedure.id} has no study date; a follow-up cannot be placed"
        raise FollowupError(msg)
    days = (data.date - procedure.study_date).days
    if data.timepoint is not None:
        tp: TimePoint | None = schedule.get(data.timepoint)
        inferred = False
    else:
        tp = schedule.infer(days)
        inferred = True
    is_baseline = tp is not None and tp.baseline
    if days < 0 and not is_baseline:
        msg = (
            f"date = {data.date.isoformat()} refused: before procedure {procedure.id} "
            f"({procedure.study_date}); only a baseline entry may predate the procedure "
            "(--timepoint baseline)"
        )
        raise FollowupError(msg)
    if is_baseline and days > 0:
        msg = (
            f"date = {data.date.isoformat()} refused: a baseline must be on or before the "
            f"procedure ({procedure.study_date})"
        )
        raise FollowupError(msg)

    def event_date(what: str, value: dt.date | None) -> dt.date:
        when = value or data.date
        if when > today:
            msg = f"{what} date = {when.isoformat()} refused: in the future (today is {today})"
            raise FollowupError(msg)
        if when < procedure.study_date:  # type: ignore[operator]  # checked above
            msg = (
                f"{what} date = {when.isoformat()} refused: before the procedure "
                f"({procedure.study_date})"
            )
            raise FollowupError(msg)
        if when > data.date:
            msg = (
                f"{what} date = {when.isoformat()} refused: after the assessment date ({data.date})"
            )
            raise FollowupError(msg)
        return when

    fractures = []
    for fracture in data.new_fractures:
        adjacent, at_treated = fracture_adjacency(fracture.level, procedure.levels)
        fractures.append(
            NewFracturePublic(
                level=fracture.level,
                date=event_date("new_fractures", fracture.date),
                adjacent=adjacent,
                at_treated_level=at_treated,
            ).model_dump(mode="json")
        )
    complications = [
        ComplicationPublic(
            type=c.type, severity=c.severity, date=event_date("complications", c.date)
        ).model_dump(mode="json")
        for c in data.complications
    ]
    return {
        "procedure_id": procedure.id,
        "entry_date": data.date,
        "timepoint": tp.name if tp else None,
        "timepoint_inferred": inferred,
        "out_of_window": tp is None or not tp.contains(days),
        "days_after": days,
        "pain": data.pain,
        "pain_rest": data.pain_rest,
        "pain_activity": data.pain_activity,
        "odi_percent": data.odi_percent,
        "odi_sections": data.odi_sections,
        "rmdq": data.rmdq,
        "analgesic": data.analgesic.value if data.analgesic else None,
        "new_fractures": fractures,
        "complications": complications,
        "notes": data.notes or None,
    }


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}


# --- writing ---------------------------------------------------------------------------------


def _retrying(action: str, attempt: Callable[[], T], *, on: tuple[type[Exception], ...]) -> T:
    """Run ``attempt`` (one whole transaction) again when it lost a race to another writer."""
    for n in range(1, WRITE_ATTEMPTS + 1):
        try:
            return attempt()
        except on as exc:
            if n == WRITE_ATTEMPTS:
                raise
            logger.warning("%s lost a race with another writer (%s); retrying", action, exc)
    msg = "unreachable"
    raise RuntimeError(msg)


def add_followup(
    *,
    database: Database,
    procedure_id: int,
    data: FollowupCreate,
    schedule: Schedule,
    today: dt.date | None = None,
) -> FollowupPublic:
    """Store a new entry (version 1) and its audit record in one short transaction."""
    today = today or dt.date.today()

    def attempt() -> FollowupPublic:
        with database.session() as session:
            row = store.get_procedure(session=session, procedure_id=procedure_id)
            if row is None:
                msg = f"no procedure with record id {procedure_id}"
                raise FollowupError(msg)
            values = build_values(
                procedure=ProcedureRef.from_row(row), data=data, schedule=schedule, today=today
            )
            now = utcnow()
            version = store.insert_entry(
                session=session, values=values, entered_by=data.entered_by, now=now
            )
            store.record_audit(
                session=session,
                who=data.entered_by,
                action="followup.add",
                entity="followup_entry",
                entity_id=str(version.entry_id),
                details={"version": 1, "values": _jsonable(values)},
                now=now,
            )
            return FollowupPublic.from_row(version)

    return _retrying("followup add", attempt, on=(OperationalError,))


#: Fields a correction may change (``procedure_id`` re-links the entry).
CORRECTABLE = (
    "procedure_id",
    "date",
    "timepoint",
    "pain",
    "pain_rest",
    "pain_activity",
    "odi_percent",
    "odi_sections",
    "rmdq",
    "analgesic",
    "new_fractures",
    "complications",
    "notes",
)


def _as_input(previous: FollowupPublic) -> dict[str, Any]:
    return {
        "date": previous.date,
        "timepoint": None if previous.timepoint_inferred else previous.timepoint,
        "pain": previous.pain,
        "pain_rest": previous.pain_rest,
        "pain_activity": previous.pain_activity,
        "odi_percent": previous.odi_percent,
        "odi_sections": previous.odi_sections,
        "rmdq": previous.rmdq,
        "analgesic": previous.analgesic,
        "new_fractures": [{"level": f.level, "date": f.date} for f in previous.new_fractures],
        "complications": [
            {"type": c.type, "severity": c.severity, "date": c.date} for c in previous.complications
        ],
        "notes": previous.notes,
    }


def merge_correction(previous: FollowupPublic, changes: dict[str, Any]) -> dict[str, Any]:
    """The input of the corrected entry: ``previous`` with ``changes`` (None clears a field)."""
    unknown = set(changes) - set(CORRECTABLE)
    if unknown:
        msg = f"cannot correct {', '.join(sorted(unknown))}; allowed: {', '.join(CORRECTABLE)}"
        raise FollowupError(msg)
    merged = _as_input(previous)
    merged.update({k: v for k, v in changes.items() if k != "procedure_id"})
    # ODI percent and sections belong together: a new one replaces the other.
    if "odi_sections" in changes and "odi_percent" not in changes:
        merged["odi_percent"] = None
    if "odi_percent" in changes and "odi_sections" not in changes:
        merged["odi_sections"] = None
    for listed in ("new_fractures", "complications"):
        if merged[listed] is None:
            merged[listed] = []
    return merged


def _corrected(
    session: Session,
    *,
    entry_id: int,
    changes: dict[str, Any],
    entered_by: str,
    schedule: Schedule,
    today: dt.date,
) -> tuple[Any, dict[str, Any], dict[str, dict[str, Any]]]:
    """The latest row of ``entry_id``, the corrected values and the diff; refuses bad ones."""
    previous_row = store.latest_version(session=session, entry_id=entry_id)
    if previous_row is None:
        msg = f"no follow-up entry {entry_id}"
        raise FollowupError(msg)
    previous = FollowupPublic.from_row(previous_row)
    data = FollowupCreate.model_validate(
        {**merge_correction(previous, changes), "entered_by": entered_by}
    )
    procedure_id = int(changes.get("procedure_id") or previous.procedure_id)
    row = store.get_procedure(session=session, procedure_id=procedure_id)
    if row is None:
        msg = f"no procedure with record id {procedure_id}"
        raise FollowupError(msg)
    values = build_values(
        procedure=ProcedureRef.from_row(row), data=data, schedule=schedule, today=today
    )
    old = {c: getattr(previous_row, c) for c in store.CONTENT_COLUMNS}
    diff = {c: {"from": old[c], "to": values[c]} for c in values if values[c] != old[c]}
    if not diff:
        msg = f"entry {entry_id}: the correction changes nothing"
        raise FollowupError(msg)
    return previous_row, values, diff


def check_correction(
    *,
    database: Database,
    entry_id: int,
    changes: dict[str, Any],
    entered_by: str,
    schedule: Schedule,
    today: dt.date | None = None,
) -> dict[str, dict[str, Any]]:
    """Validate a correction without writing it; return what it changes (``from``/``to``).

    Raises what :func:`correct_followup` would raise, so a refusal comes before the
    confirmation prompt, not after.
    """
    with database.session() as session:
        _, _, diff = _corrected(
            session,
            entry_id=entry_id,
            changes=changes,
            entered_by=entered_by,
            schedule=schedule,
            today=today or dt.date.today(),
        )
        session.rollback()
    return diff


def correct_followup(
    *,
    database: Database,
    entry_id: int,
    changes: dict[str, Any],
    reason: str,
    entered_by: str,
    schedule: Schedule,
    today: dt.date | None = None,
) -> FollowupPublic:
    """Store a new version of ``entry_id`` with ``changes`` applied; the old version stays.

    Raises FollowupError (nothing changed, no such entry, refused value) or ValidationError.
    Two writers correcting one entry at once both succeed, one after the other.
    """
    today = today or dt.date.today()
    if not reason.strip():
        msg = "reason refused: a correction needs a reason"
        raise FollowupError(msg)

    def attempt() -> FollowupPublic:
        with database.session() as session:
            previous_row, values, diff = _corrected(
                session,
                entry_id=entry_id,
                changes=changes,
                entered_by=entered_by,
                schedule=schedule,
                today=today,
            )
            now = utcnow()
            version = store.insert_version(
                session=session,
                previous=previous_row,
                values=values,
                reason=reason.strip(),
                entered_by=entered_by,
                now=now,
            )
            store.record_audit(
                session=session,
                who=entered_by,
                action="followup.correct",
                entity="followup_entry",
                entity_id=str(entry_id),
                details={
                    "version": version.version,
                    "reason": reason.strip(),
                    "changes": {
                        c: {k: _jsonable({"v": v})["v"] for k, v in d.items()}
                        for c, d in diff.items()
                    },
                },
                now=now,
            )
            return FollowupPublic.from_row(version)

    return _retrying("followup correct", attempt, on=(IntegrityError, OperationalError))


# --- reading ---------------------------------------------------------------------------------


def list_followups(session: Session, *, key: str | None = None) -> list[FollowupPublic]:
    """The current version of every entry, or of the entries of the procedures ``key`` names."""
    procedure_ids = None
    if key is not None:
        refs = procedures_for(session, key)
        if not refs:
            msg = (
                "no procedure with record id, accession number, Study Instance UID "
                f"or patient ID {key!r}"
            )
            raise FollowupError(msg)
        procedure_ids = [r.id for r in refs]
    rows = store.current_versions(session=session, procedure_ids=procedure_ids)
    return [FollowupPublic.from_row(r) for r in rows]


def entry_history(session: Session, entry_id: int) -> list[FollowupPublic]:
    """Every version of an entry, oldest first."""
    rows = store.entry_versions(session=session, entry_id=entry_id)
    if not rows:
        msg = f"no follow-up entry {entry_id}"
        raise FollowupError(msg)
    return [FollowupPublic.from_row(r) for r in rows]


def audit_log(session: Session, *, since: dt.datetime | None = None) -> list[AuditPublic]:
    return [
        AuditPublic(
            id=e.id,
            at=e.at,
            who=e.who,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            details=e.details,
        )
        for e in store.audit_events(session=session, since=since)
    ]


class DueItem(BaseModel):
    """A time point a patient is due or overdue for."""

    procedure_id: int
    patient_id: str | None
    accession_number: str | None
    study_date: dt.date
    timepoint: str
    label: str
    status: Literal["due", "overdue"]
    days_after: int = Field(description="Days since the procedure on the as-of date")
    window_from: dt.date
    window_to: dt.date
    days_left: int | None = Field(None, description="Days until the window closes (due)")
    days_overdue: int | None = Field(None, description="Days since the window closed (overdue)")


def due_worklist(session: Session, *, as_of: dt.date, schedule: Schedule) -> list[DueItem]:
    """Who is due (inside the window) or overdue (window closed) for which time point.

    A time point counts as done when an entry holds it. An overdue time point drops off once a
    later one has an entry (it was missed); a patient with a recorded death is not listed.
    Overdue first (longest first), then due (window closing soonest first).
    """
    entries: dict[int, list[store.FollowupVersion]] = {}
    for version in store.current_versions(session=session):
        entries.setdefault(version.procedure_id, []).append(version)
    order = {tp.name: tp.target for tp in schedule.timepoints}
    items: list[DueItem] = []
    for row in store.all_procedures(session=session):
        procedure = ProcedureRef.from_row(row)
        if procedure.study_date is None or procedure.study_date > as_of:
            continue
        mine = entries.get(procedure.id, [])
        if any(
            c.get("type") == ComplicationType.DEATH.value
            and dt.date.fromisoformat(c["date"]) <= as_of
            for e in mine
            for c in e.complications
        ):
            continue
        done = {e.timepoint for e in mine if e.timepoint is not None}
        latest_done = max((order[n] for n in done if n in order), default=None)
        days = (as_of - procedure.study_date).days
        for tp in schedule.timepoints:
            if tp.baseline or not tp.due or tp.name in done or days < tp.from_day:
                continue
            overdue = days > tp.to_day
            if overdue and latest_done is not None and latest_done > tp.target:
                continue
            items.append(
                DueItem(
                    procedure_id=procedure.id,
                    patient_id=procedure.patient_id,
                    accession_number=procedure.accession_number,
                    study_date=procedure.study_date,
                    timepoint=tp.name,
                    label=tp.label or tp.name,
                    status="overdue" if overdue else "due",
                    days_after=days,
                    window_from=procedure.study_date + dt.timedelta(days=tp.from_day),
                    window_to=procedure.study_date + dt.timedelta(days=tp.to_day),
                    days_left=None if overdue else tp.to_day - days,
                    days_overdue=days - tp.to_day if overdue else None,
                )
            )
    items.sort(
        key=lambda i: (i.status != "overdue", -(i.days_overdue or 0), i.days_left or 0, i.window_to)
    )
    return items


OUTCOMES = ("pain", "pain_rest", "pain_activity", "odi_percent", "rmdq")


def outcome_timeline(
    session: Session, procedure_id: int, *, schedule: Schedule | None = None
) -> dict[str, Any]:
    """The outcomes of one procedure, JSON-able, for ``vp-log procedures show``.

    ``{"procedure_id", "study_date", "treated_levels", "baseline_entry_id", "timepoints": [{
    "timepoint", "label", "target_day", "entry_id", "version", "date", "days_after",
    "out_of_window", "pain", "pain_rest", "pain_activity", "odi_percent", "odi_sections",
    "rmdq", "analgesic", "change_from_baseline": {"pain", "pain_rest", "pain_activity",
    "odi_percent", "rmdq"} | None}], "new_fractures": [{"level", "date", "adjacent",
    "at_treated_level", "entry_id"}], "complications": [{"type", "severity", "date",
    "entry_id"}]}`` — one row per entry, by date; a change is the value minus the baseline's,
    None where either is unknown; the baseline row itself has no change.
    """
    schedule = schedule or load_schedule()
    row = store.get_procedure(session=session, procedure_id=procedure_id)
    if row is None:
        msg = f"no procedure with record id {procedure_id}"
        raise FollowupError(msg)
    procedure = ProcedureRef.from_row(row)
    entries = [
        FollowupPublic.from_row(r)
        for r in store.current_versions(session=session, procedure_ids=[procedure_id])
    ]
    names = {tp.name: tp for tp in schedule.timepoints}
    baselines = [e for e in entries if e.timepoint == schedule.baseline.name]
    baseline = max(baselines, key=lambda e: (e.date, e.entry_id)) if baselines else None
    rows = []
    for e in entries:
        tp = names.get(e.timepoint or "")
        change = None
        if baseline is not None and e is not baseline:
            change = {}
            for field in OUTCOMES:
                now, then = getattr(e, field), getattr(baseline, field)
                change[field] = None if now is None or then is None else round(now - then, 1)
        rows.append(
            {
                "timepoint": e.timepoint,
                "label": (tp.label or tp.name) if tp else "unscheduled",
                "target_day": tp.target if tp else None,
                "entry_id": e.entry_id,
                "version": e.version,
                "date": e.date.isoformat(),
                "days_after": e.days_after,
                "out_of_window": e.out_of_window,
                "pain": e.pain,
                "pain_rest": e.pain_rest,
                "pain_activity": e.pain_activity,
                "odi_percent": e.odi_percent,
                "odi_sections": e.odi_sections,
                "rmdq": e.rmdq,
                "analgesic": e.analgesic.value if e.analgesic else None,
                "change_from_baseline": change,
            }
        )
    return {
        "procedure_id": procedure.id,
        "study_date": procedure.study_date.isoformat() if procedure.study_date else None,
        "treated_levels": procedure.levels,
        "baseline_entry_id": baseline.entry_id if baseline else None,
        "timepoints": rows,
        "new_fractures": [
            {**f.model_dump(mode="json"), "entry_id": e.entry_id}
            for e in entries
            for f in e.new_fractures
        ],
        "complications": [
            {**c.model_dump(mode="json"), "entry_id": e.entry_id}
            for e in entries
            for c in e.complications
        ],
    }


# --- rendering -------------------------------------------------------------------------------


def _show(value: Any, change: Any = None) -> str:
    if value is None:
        return "[dim]–[/]"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if change is not None:
        text += f" ({change:+g})"
    return text


def render_outcome_timeline(timeline: dict[str, Any]) -> RenderableType:
    """A rich renderable of :func:`outcome_timeline` (changes from baseline in brackets)."""
    table = Table(title="Outcomes", title_justify="left")
    for column in ("Time point", "Date", "Day", "Pain", "Rest", "Activity", "ODI %", "RMDQ"):
        table.add_column(column, justify="left" if column in ("Time point", "Date") else "right")
    table.add_column("Analgesic")
    table.add_column("Entry", justify="right", style="dim")
    for row in timeline["timepoints"]:
        change = row["change_from_baseline"] or {}
        label = row["timepoint"] or "unscheduled"
        if row["out_of_window"]:
            label += " [yellow](out of window)[/]"
        table.add_row(
            label,
            row["date"],
            str(row["days_after"]),
            *(_show(row[f], change.get(f)) for f in OUTCOMES),
            _show(row["analgesic"]),
            f"{row['entry_id']}v{row['version']}",
        )
    parts: list[RenderableType] = [table]
    if not timeline["timepoints"]:
        parts = [Text("No follow-up entered yet.", style="dim")]
    for f in timeline["new_fractures"]:
        where = {
            True: "adjacent to a treated level",
            False: "not adjacent",
            None: "adjacency unknown",
        }
        extra = ", at a treated level" if f.get("at_treated_level") else ""
        parts.append(
            Text(f"New fracture {f['level']} on {f['date']}: {where[f['adjacent']]}{extra}")
        )
    for c in timeline["complications"]:
        parts.append(Text(f"Complication {c['type']} (SIR {c['severity']}) on {c['date']}"))
    return Group(*parts)
