"""Read-only queries for reports and exports (``vp_log.report``): nothing here writes.

Reports read procedure records and the current version of every follow-up entry; filters that
the database can apply cheaply (the procedure date, the type) are applied here, the rest on the
typed records in ``vp_log.report.cohort``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vp_log.db.followup_tables import FollowupVersion, current_versions
from vp_log.db.tables import ObservationRow, Procedure

#: Observation kinds reports read beside the record (``vp_log.models.Kind`` values).
PATIENT_KINDS = ("patient_birth_date", "patient_sex")


def report_procedures(
    *,
    session: Session,
    since: str | None = None,
    until: str | None = None,
    procedure_type: str | None = None,
) -> list[tuple[int, str, dict[str, Any]]]:
    """``(id, status, record)`` of augmentation procedures, by study date then id."""
    stmt = select(Procedure.id, Procedure.status, Procedure.record).where(
        Procedure.procedure_type != "unclassified"
    )
    if since:
        stmt = stmt.where(Procedure.study_date >= since)
    if until:
        stmt = stmt.where(Procedure.study_date <= until)
    if procedure_type:
        stmt = stmt.where(Procedure.procedure_type == procedure_type)
    stmt = stmt.order_by(Procedure.study_date, Procedure.id)
    return [(row.id, row.status, row.record) for row in session.execute(stmt)]


def patient_details(*, session: Session) -> dict[str, dict[str, list[Any]]]:
    """Study Instance UID → kind → the distinct values of its birth-date and sex observations."""
    stmt = (
        select(ObservationRow.study_instance_uid, ObservationRow.kind, ObservationRow.value)
        .where(ObservationRow.kind.in_(PATIENT_KINDS))
        .distinct()
    )
    found: dict[str, dict[str, list[Any]]] = {}
    for uid, kind, value in session.execute(stmt):
        found.setdefault(uid, {}).setdefault(kind, []).append(value)
    return found


def report_followups(
    *, session: Session, procedure_ids: Sequence[int] | None = None
) -> list[FollowupVersion]:
    """The newest version of every follow-up entry (optionally of some procedures only)."""
    rows = current_versions(session=session)
    if procedure_ids is None:
        return rows
    wanted = set(procedure_ids)
    return [row for row in rows if row.procedure_id in wanted]


def data_as_of(*, session: Session) -> dt.datetime | None:
    """When the data last changed: the newest record update or follow-up version."""
    newest = [
        session.scalar(select(func.max(Procedure.updated_at))),
        session.scalar(select(func.max(FollowupVersion.entered_at))),
    ]
    known = [value for value in newest if value is not None]
    return max(known) if known else None
