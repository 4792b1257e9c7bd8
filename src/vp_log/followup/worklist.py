"""The worklist: who is due or overdue for which time point."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vp_log.db import followup_tables as store
from vp_log.db.listings import BATCH
from vp_log.followup.linking import parse_study_date
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


class WorklistFilter(BaseModel):
    """What ``followup due`` narrows the worklist to (each None: no filter)."""

    timepoint: str | None = Field(None, description="Only this time point (schedule name)")
    procedure_ids: list[int] | None = Field(None, description="Only these procedures")
    since: dt.date | None = Field(None, description="Procedure date from")
    until: dt.date | None = Field(None, description="Procedure date until")
    overdue: bool = Field(False, description="Only overdue time points")


def due_worklist(
    session: Session,
    *,
    as_of: dt.date,
    schedule: Schedule,
    only: WorklistFilter | None = None,
) -> list[DueItem]:
    """The whole worklist of :func:`due_items` as typed items (small worklists, tests)."""
    rows = due_items(session, as_of=as_of, schedule=schedule, only=only)
    return [row.item(as_of) for row in rows]


class DueRow(NamedTuple):
    """One item of the worklist as it streams (a :class:`DueItem` without pydantic)."""

    order: tuple[dt.date, dt.date, int, int]  # window closes, procedure date, id, time point
    procedure_id: int
    patient_id: str | None
    patient_name: str | None
    accession_number: str | None
    procedure_type: str
    study_date: dt.date
    timepoint: TimePoint

    def json(self, as_of: dt.date) -> dict[str, Any]:
        """What ``DueItem.model_dump(mode="json")`` gives, field for field."""
        tp, days = self.timepoint, (as_of - self.study_date).days
        overdue = days > tp.to_day
        return {
            "procedure_id": self.procedure_id,
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "accession_number": self.accession_number,
            "procedure_type": self.procedure_type,
            "study_date": self.study_date.isoformat(),
            "timepoint": tp.name,
            "label": tp.label or tp.name,
            "status": "overdue" if overdue else "due",
            "days_after": days,
            "window_from": (self.study_date + dt.timedelta(days=tp.from_day)).isoformat(),
            "window_to": self.order[0].isoformat(),
            "days_left": None if overdue else tp.to_day - days,
            "days_overdue": days - tp.to_day if overdue else None,
        }

    def item(self, as_of: dt.date) -> DueItem:
        return DueItem.model_validate(self.json(as_of))


def due_items(
    session: Session,
    *,
    as_of: dt.date,
    schedule: Schedule,
    only: WorklistFilter | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> Iterator[DueRow]:
    """Who is due (inside the window) or overdue (window closed) for which time point:
    ``limit`` rows (None: all) after the first ``offset``.

    The worklist holds the records ``procedures list`` shows (vertebral augmentation, by the
    record's own type and status) once the study is complete, from the procedure date on.
    A time point is done when an entry holds it, assessed or closed. An overdue time point
    drops off once a later one has an entry (it was missed); a patient whose death is recorded
    is not listed. Overdue first (longest first), then due (window closing soonest first):
    that is, by the day the window closes, then by procedure date, record and time point.

    Streamed (issue 15): the database gives, per time point, the procedures whose window has
    opened and that are neither done nor missed, by procedure date; the passes are merged by
    the day the window closes. Nothing of the size of the store is held in memory. The
    patients' names are read out of the records of the rows given only, :data:`BATCH` rows
    at a time.
    """
    rows = _unnamed(session, as_of=as_of, schedule=schedule, only=only or WorklistFilter())
    rows = itertools.islice(rows, offset, None if limit is None else offset + limit)
    while batch := list(itertools.islice(rows, BATCH)):
        yield from _named(session, batch)


def due_page(
    session: Session,
    *,
    as_of: dt.date,
    schedule: Schedule,
    only: WorklistFilter | None = None,
    offset: int = 0,
    limit: int,
) -> tuple[int, list[DueRow]]:
    """How long the worklist of :func:`due_items` is, and its ``limit`` rows after the first
    ``offset`` (a table's page): only the page's records are read for the patients' names."""
    rows = _unnamed(session, as_of=as_of, schedule=schedule, only=only or WorklistFilter())
    page: list[DueRow] = []
    total = 0
    for row in rows:  # the rest is only counted
        if offset <= total < offset + limit:
            page.append(row)
        total += 1
    return total, _named(session, page)


def _named(session: Session, rows: list[DueRow]) -> list[DueRow]:
    """``rows`` with their patients' names."""
    if not rows:
        return rows
    names = store.patient_names(session=session, procedure_ids={r.procedure_id for r in rows})
    return [row._replace(patient_name=names.get(row.procedure_id)) for row in rows]


def _unnamed(
    session: Session, *, as_of: dt.date, schedule: Schedule, only: WorklistFilter
) -> Iterator[DueRow]:
    """The worklist of :func:`due_items` in its order, every patient's name None."""
    died = store.died_procedures(session=session, as_of=as_of)
    passes = []
    for index, tp in enumerate(schedule.timepoints):
        if tp.baseline or not tp.due or (only.timepoint is not None and tp.name != only.timepoint):
            continue
        later = [other.name for other in schedule.timepoints if other.target > tp.target]
        passes.append(_timepoint_pass(session, tp, index, later, as_of, only, died))
    return heapq.merge(*passes, key=lambda row: row.order)


def _timepoint_pass(
    session: Session,
    tp: TimePoint,
    index: int,
    later: list[str],
    as_of: dt.date,
    only: WorklistFilter,
    died: set[int],
) -> Iterator[DueRow]:
    rows = store.open_timepoint_procedures(
        session=session,
        timepoint=tp.name,
        later_timepoints=later,
        opened_by=min(as_of - dt.timedelta(days=tp.from_day), as_of),
        closed_before=as_of - dt.timedelta(days=tp.to_day),
        overdue_only=only.overdue,
        since=only.since,
        until=only.until,
        procedure_ids=only.procedure_ids,
    )
    for pid, accession, patient_id, study_date, procedure_type in rows:
        day = parse_study_date(study_date)
        if day is None or pid in died:
            continue
        closes = day + dt.timedelta(days=tp.to_day)
        yield DueRow(
            (closes, day, pid, index),
            pid,
            patient_id,
            None,
            accession,
            procedure_type,
            day,
            tp,
        )
