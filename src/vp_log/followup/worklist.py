"""The worklist: who is due or overdue for which time point."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vp_log.db import followup_tables as store
from vp_log.followup.events import ComplicationType
from vp_log.followup.linking import ProcedureRef
from vp_log.followup.models import CloseReason
from vp_log.followup.schedule import Schedule, TimePoint


class DueItem(BaseModel):
    """A time point a patient is due or overdue for."""

    procedure_id: int
    patient_id: str | None
    patient_name: str | None
    accession_number: str | None
    procedure_type: str
    study_date: dt.date
    timepoint: str
    label: str
    status: Literal["due", "overdue"]
    days_after: int = Field(description="Days since the procedure on the as-of date")
    window_from: dt.date
    window_to: dt.date
    days_left: int | None = Field(None, description="Days until the window closes (due)")
    days_overdue: int | None = Field(None, description="Days since the window closed (overdue)")


def _died_by(entries: list[store.FollowupVersion], as_of: dt.date) -> bool:
    """A death recorded as a complication, or a time point closed because the patient died."""
    closed = any(
        e.closed_reason == CloseReason.DIED.value and e.entry_date <= as_of for e in entries
    )
    return closed or any(
        c.get("type") == ComplicationType.DEATH.value and dt.date.fromisoformat(c["date"]) <= as_of
        for e in entries
        for c in e.complications or []
    )


def _item(procedure: ProcedureRef, tp: TimePoint, days: int, study_date: dt.date) -> DueItem:
    overdue = days > tp.to_day
    return DueItem(
        procedure_id=procedure.id,
        patient_id=procedure.patient_id,
        patient_name=procedure.patient_name,
        accession_number=procedure.accession_number,
        procedure_type=procedure.procedure_type,
        study_date=study_date,
        timepoint=tp.name,
        label=tp.label or tp.name,
        status="overdue" if overdue else "due",
        days_after=days,
        window_from=study_date + dt.timedelta(days=tp.from_day),
        window_to=study_date + dt.timedelta(days=tp.to_day),
        days_left=None if overdue else tp.to_day - days,
        days_overdue=days - tp.to_day if overdue else None,
    )


def _open_timepoints(
    procedure: ProcedureRef,
    entries: list[store.FollowupVersion],
    as_of: dt.date,
    schedule: Schedule,
) -> list[DueItem]:
    study_date = procedure.study_date
    if study_date is None or study_date > as_of or _died_by(entries, as_of):
        return []
    order = {tp.name: tp.target for tp in schedule.timepoints}
    done = {e.timepoint for e in entries if e.timepoint is not None}
    latest_done = max((order[n] for n in done if n in order), default=None)
    days = (as_of - study_date).days
    items = []
    for tp in schedule.timepoints:
        if tp.baseline or not tp.due or tp.name in done or days < tp.from_day:
            continue
        if days > tp.to_day and latest_done is not None and latest_done > tp.target:
            continue  # missed: a later time point has an entry
        items.append(_item(procedure, tp, days, study_date))
    return items


class WorklistFilter(BaseModel):
    """What ``followup due`` narrows the worklist to (each None: no filter)."""

    timepoint: str | None = Field(None, description="Only this time point (schedule name)")
    procedure_ids: list[int] | None = Field(None, description="Only these procedures")
    since: dt.date | None = Field(None, description="Procedure date from")
    until: dt.date | None = Field(None, description="Procedure date until")
    overdue: bool = Field(False, description="Only overdue time points")

    def keeps_procedure(self, procedure: ProcedureRef) -> bool:
        if self.procedure_ids is not None and procedure.id not in self.procedure_ids:
            return False
        date = procedure.study_date
        if date is not None and self.since is not None and date < self.since:
            return False
        return not (date is not None and self.until is not None and date > self.until)

    def keeps_item(self, item: DueItem) -> bool:
        if self.timepoint is not None and item.timepoint != self.timepoint:
            return False
        return not (self.overdue and item.status != "overdue")


def due_worklist(
    session: Session,
    *,
    as_of: dt.date,
    schedule: Schedule,
    only: WorklistFilter | None = None,
) -> list[DueItem]:
    """Who is due (inside the window) or overdue (window closed) for which time point.

    The worklist holds the records ``procedures list`` shows (vertebral augmentation, by the
    record's own type and status) once the study is complete, from the procedure date on.
    A time point is done when an entry holds it, assessed or closed. An overdue time point
    drops off once a later one has an entry (it was missed); a patient whose death is recorded
    is not listed. Overdue first (longest first), then due (window closing soonest first).
    """
    only = only or WorklistFilter()
    entries: dict[int, list[store.FollowupVersion]] = {}
    for version in store.current_versions(session=session):
        entries.setdefault(version.procedure_id, []).append(version)
    items: list[DueItem] = []
    for row in store.worklist_procedures(session=session):
        procedure = ProcedureRef.from_row(row)
        if not only.keeps_procedure(procedure):
            continue
        mine = _open_timepoints(procedure, entries.get(procedure.id, []), as_of, schedule)
        items += [i for i in mine if only.keeps_item(i)]
    items.sort(
        key=lambda i: (i.status != "overdue", -(i.days_overdue or 0), i.days_left or 0, i.window_to)
    )
    return items
