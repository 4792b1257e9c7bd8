"""Linking an entry to its procedure, and the rules that place it there.

:func:`resolve_procedure` finds the procedure a key names (record id, accession number, Study
Instance UID or patient ID plus date; a prefix ``id:``, ``accession:``, ``uid:``, ``patient:``
says which key is meant; ambiguity is refused with the candidates listed).
:func:`place_entry` applies the rules of an entry's date, time point and events to a procedure.
:func:`link_entry` is the one function that does both: ``add`` and ``correct`` call it, so a
baseline finds the next procedure of a patient and any other time point the last one, the same
way for both.

Dates: nothing in the future; only a baseline may predate the procedure, and a baseline may not
follow it; a new fracture or complication lies between the procedure and the assessment.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vp_log import levels
from vp_log.db import followup_tables as store
from vp_log.db.decided import decision_state
from vp_log.db.tables import Procedure, record_document
from vp_log.decisions import effective
from vp_log.followup.errors import AmbiguousProcedureError, FollowupError
from vp_log.followup.events import (
    ComplicationPublic,
    NewFractureCreate,
    NewFracturePublic,
    fracture_adjacency,
)
from vp_log.followup.instruments import ITEMS
from vp_log.followup.models import FollowupCreate
from vp_log.followup.schedule import Schedule, TimePoint

logger = logging.getLogger(__name__)


class ProcedureRef(BaseModel):
    """What follow-up needs to know of a procedure record."""

    model_config = ConfigDict(frozen=True)

    id: int
    study_instance_uid: str
    accession_number: str | None
    patient_id: str | None
    patient_name: str | None = None
    study_date: dt.date | None
    procedure_type: str
    status: str = "complete"
    levels: list[str] = Field(description="Treated levels, canonical (T12, L1)")
    excluded: str | None = Field(
        default=None, description="Why a manual decision left the record out (phantom, test...)"
    )

    @classmethod
    def from_row(cls, row: Procedure) -> ProcedureRef:
        """The effective record of ``row``: manual decisions over what was extracted."""
        state = decision_state(row)
        record = effective(record_document(row), state)
        name = record.get("patient_name")
        return cls(
            id=row.id,
            study_instance_uid=row.study_instance_uid,
            accession_number=row.accession_number,
            patient_id=row.patient_id,
            patient_name=name if isinstance(name, str) and name else None,
            study_date=parse_study_date(row.study_date),
            procedure_type=str(record.get("procedure_type") or row.procedure_type),
            status=row.status,
            levels=_treated_levels(record, row.id),
            excluded=str(state.exclude.value.value) if state and state.exclude else None,
        )

    def describe(self) -> str:
        return (
            f"record {self.id}: patient {self.patient_id or '?'}, "
            f"accession {self.accession_number or '?'}, "
            f"{self.study_date or 'no date'}, {self.procedure_type}"
            + (f", {'/'.join(self.levels)}" if self.levels else "")
        )


def _excluded(row: Procedure) -> str | None:
    state = decision_state(row)
    return str(state.exclude.value.value) if state is not None and state.exclude else None


def parse_study_date(value: str | None) -> dt.date | None:
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


def _by_date(patient: list[Procedure], on: dt.date, baseline: bool | None) -> list[Procedure]:
    """A patient's procedures for an entry dated ``on``: see :func:`resolve_procedure`."""
    dated = [(d, r) for r in patient if (d := parse_study_date(r.study_date)) is not None]
    before = [(d, r) for d, r in dated if d <= on]
    after = [(d, r) for d, r in dated if d >= on]
    pools = [after] if baseline else [before] if baseline is False else [before, after]
    for pool in pools:
        if pool:
            best = (max if pool is before else min)(d for d, _ in pool)
            return [r for d, r in pool if d == best]
    return []


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
    patient = [r for r in patient if _excluded(r) is None]  # a patient's: never an excluded one
    chosen = _by_date(patient, on, baseline) if patient else []
    candidates = {r.id: r for r in [*direct, *chosen]}
    if len(candidates) == 1:
        ref = ProcedureRef.from_row(next(iter(candidates.values())))
        if ref.excluded is not None:
            msg = (
                f"record {ref.id} is excluded ({ref.excluded}, by a manual decision): it takes no "
                f"follow-up; `vp-log procedures decide {ref.id} --revoke exclude --reason R` "
                "brings it back"
            )
            raise FollowupError(msg)
        return ref
    if len(candidates) > 1:
        refs = [ProcedureRef.from_row(r) for r in sorted(candidates.values(), key=lambda r: r.id)]
        listing = "; ".join(ref.describe() for ref in refs)
        msg = (
            f"{key!r} matches {len(refs)} procedures; name one by record id (id:N) "
            f"or accession number (accession:X): {listing}"
        )
        raise AmbiguousProcedureError(msg, refs)
    if patient:
        side = "on or after" if baseline else "on or before"
        listing = "; ".join(ProcedureRef.from_row(r).describe() for r in patient)
        msg = f"patient {key!r} has no procedure {side} {on.isoformat()}; theirs: {listing}"
        raise FollowupError(msg)
    msg = f"no procedure with record id, accession number, Study Instance UID or patient ID {key!r}"
    raise FollowupError(msg)


def procedures_for(session: Session, key: str) -> list[ProcedureRef]:
    """Every procedure ``key`` names (all of a patient's), for listings."""
    direct, patient = _matches(session, key)
    rows = {r.id: r for r in [*direct, *patient]}
    return [ProcedureRef.from_row(rows[i]) for i in sorted(rows)]


def get_procedure(session: Session, procedure_id: int) -> ProcedureRef:
    row = store.get_procedure(session=session, procedure_id=procedure_id)
    if row is None:
        msg = f"no procedure with record id {procedure_id}"
        raise FollowupError(msg)
    return ProcedureRef.from_row(row)


# --- placing an entry: dates, time point, adjacency -----------------------------------------


def is_baseline(schedule: Schedule, timepoint: str | None) -> bool | None:
    """Whether ``timepoint`` is the baseline (None: not known yet, inferred from the date)."""
    if timepoint is None:
        return None
    return schedule.get(timepoint).baseline


def place_date(
    procedure: ProcedureRef,
    date: dt.date,
    timepoint: str | None,
    schedule: Schedule,
    today: dt.date,
) -> tuple[dt.date, int, TimePoint | None]:
    """(procedure date, days after it, time point) of an assessment on ``date``.

    FollowupError for a date the rules refuse: in the future, before the procedure unless a
    baseline, a baseline after the procedure. Prompts call it as soon as date and time point
    are known, so a refusal comes before the rest of the form is typed.
    """
    if date > today:
        msg = f"assessment date {date.isoformat()} refused: in the future (today is {today})"
        raise FollowupError(msg, field="date")
    if procedure.study_date is None:
        msg = f"procedure {procedure.id} has no study date; a follow-up cannot be placed"
        raise FollowupError(msg)
    days = (date - procedure.study_date).days
    tp = schedule.get(timepoint) if timepoint is not None else schedule.infer(days)
    baseline = tp is not None and tp.baseline
    if days < 0 and not baseline:
        msg = (
            f"assessment date {date.isoformat()} refused: before procedure {procedure.id} "
            f"({procedure.study_date}); only a baseline entry may predate the procedure "
            "(--timepoint baseline)"
        )
        raise FollowupError(msg, field="date")
    if baseline and days > 0:
        msg = (
            f"assessment date {date.isoformat()} refused: a baseline must be on or before the "
            f"procedure ({procedure.study_date})"
        )
        raise FollowupError(msg, field="date")
    return procedure.study_date, days, tp


def event_date(
    what: str,
    value: dt.date | None,
    *,
    procedure_date: dt.date,
    assessed: dt.date,
    today: dt.date,
) -> dt.date:
    """An event's date (the assessment's when not given), or FollowupError outside its range."""
    when = value or assessed
    field = {"new fracture": "new_fractures", "complication": "complications"}.get(what)
    if when > today:
        msg = f"{what} date {when.isoformat()} refused: in the future (today is {today})"
        raise FollowupError(msg, field=field)
    if when < procedure_date:
        msg = f"{what} date {when.isoformat()} refused: before the procedure ({procedure_date})"
        raise FollowupError(msg, field=field)
    if when > assessed:
        msg = f"{what} date {when.isoformat()} refused: after the assessment date ({assessed})"
        raise FollowupError(msg, field=field)
    return when


def _fracture(
    fracture: NewFractureCreate, procedure: ProcedureRef, when: dt.date
) -> dict[str, Any]:
    adjacent, at_treated = fracture_adjacency(fracture.level, procedure.levels)
    return NewFracturePublic(
        level=fracture.level, date=when, adjacent=adjacent, at_treated_level=at_treated
    ).model_dump(mode="json")


def place_entry(
    *, procedure: ProcedureRef, data: FollowupCreate, schedule: Schedule, today: dt.date
) -> dict[str, Any]:
    """The stored content of an entry (see ``store.CONTENT_COLUMNS``), or FollowupError."""
    procedure_date, days, tp = place_date(procedure, data.date, data.timepoint, schedule, today)
    inferred = data.timepoint is None
    dates = {"procedure_date": procedure_date, "assessed": data.date, "today": today}
    fractures = (
        None
        if data.new_fractures is None
        else [
            _fracture(f, procedure, event_date("new fracture", f.date, **dates))
            for f in data.new_fractures
        ]
    )
    complications = (
        None
        if data.complications is None
        else [
            ComplicationPublic(
                type=c.type, severity=c.severity, date=event_date("complication", c.date, **dates)
            ).model_dump(mode="json")
            for c in data.complications
        ]
    )
    items = {item.name: getattr(data, item.name) for item in ITEMS}
    return {
        "procedure_id": procedure.id,
        "entry_date": data.date,
        "timepoint": tp.name if tp else None,
        "timepoint_inferred": inferred,
        "out_of_window": tp is None or not tp.contains(days),
        "days_after": days,
        **{k: v.value if hasattr(v, "value") else v for k, v in items.items()},
        "new_fractures": fractures,
        "complications": complications,
        "notes": data.notes or None,
        "closed_reason": data.closed.value if data.closed else None,
    }


def link_entry(
    session: Session,
    *,
    data: FollowupCreate,
    schedule: Schedule,
    today: dt.date,
    key: str | None = None,
    procedure_id: int | None = None,
    timepoint_hint: str | None = None,
) -> tuple[ProcedureRef, dict[str, Any]]:
    """The procedure of an entry and the entry's stored content: the one place for the rules.

    The procedure is the one ``key`` names for the entry's date and time point (a baseline
    links to a patient's next procedure, any other time point to the last one; a correction
    that does not name the time point gives the one stored as ``timepoint_hint``), or
    ``procedure_id`` when the entry is already linked.
    """
    if key is not None:
        baseline = is_baseline(schedule, data.timepoint or timepoint_hint)
        procedure = resolve_procedure(session, key, on=data.date, baseline=baseline)
    elif procedure_id is not None:
        procedure = get_procedure(session, procedure_id)
    else:
        msg = "link_entry needs a key or a procedure id"
        raise TypeError(msg)
    return procedure, place_entry(procedure=procedure, data=data, schedule=schedule, today=today)
