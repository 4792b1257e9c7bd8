"""Read-only queries for reports and exports (``vp_log.report``): nothing here writes.

Reports read procedure records and the current version of every follow-up entry; filters that
the database can apply cheaply (the procedure date, the type) are applied here, the rest on the
typed records in ``vp_log.report.cohort``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, Text, cast, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from vp_log.db.base import JSONType
from vp_log.db.followup_tables import FollowupVersion
from vp_log.db.repository import current_decisions, effective_type
from vp_log.db.tables import Procedure, ProcedureClinical, ProcedureDecision
from vp_log.decisions import DecisionState, effective
from vp_log.followup.instruments import ITEMS, Choice, Number

#: The top-level record fields reports read. Only these are taken out of the stored JSON
#: (one JSON path extraction in the database): the provenance lists are most of a record's
#: size, and parsing them for 10 000 records would be most of a report's time.
REPORT_FIELDS = (
    "study_instance_uid",
    "accession_number",
    "patient_id",
    "patient_name",
    "patient_birth_date",
    "patient_sex",
    "patient",
    "study_date",
    "procedure_type",
    "levels",
    "device",
    "performing_physicians",
    "operators",
    "fluoro_time_s",
    "dap_gy_cm2",
    "ka_r_mgy",
    "total_cement_ml",
    "flags",
    "status",
    "needs_review",
    "last_received_at",
)


#: What the reports are about: vertebral augmentation (not "other" procedures, not unclassified).
AUGMENTATION_TYPES = ("vertebroplasty", "kyphoplasty", "sacroplasty")


def _fields(session: Session, names: tuple[str, ...] = REPORT_FIELDS) -> Any:
    """The ``names`` fields of ``procedures.record`` as one JSON array, in the database."""
    if session.get_bind().dialect.name == "postgresql":
        parts = [Procedure.record.op("->")(literal(name)) for name in names]
        return type_coerce(func.jsonb_build_array(*parts), JSONType)
    paths = [literal(f"$.{name}") for name in names]
    return type_coerce(func.json_extract(Procedure.record, *paths), JSONType)


def report_procedures(
    *,
    session: Session,
    since: str | None = None,
    until: str | None = None,
    procedure_type: str | None = None,
) -> list[tuple[int, str, dict[str, Any]]]:
    """``(id, status, fields)`` of vertebral augmentation procedures by study date then id;
    ``fields``: the record's REPORT_FIELDS that are set, with the manual decisions applied
    (the effective type decides what is an augmentation; an excluded record is left out)."""
    decision = current_decisions()
    kind = effective_type(decision)
    stmt = (
        select(Procedure.id, Procedure.status, _fields(session), decision.c.state)
        .outerjoin(decision, decision.c.procedure_id == Procedure.id)
        .where(kind.in_(AUGMENTATION_TYPES), decision.c.excluded.is_(None))
    )
    if since:
        stmt = stmt.where(Procedure.study_date >= since)
    if until:
        stmt = stmt.where(Procedure.study_date <= until)
    if procedure_type:
        stmt = stmt.where(kind == procedure_type)
    stmt = stmt.order_by(Procedure.study_date, Procedure.id)
    found = []
    for pid, status, values, state in session.execute(stmt):
        fields = {k: v for k, v in zip(REPORT_FIELDS, values or (), strict=False) if v is not None}
        if state is not None:
            fields = effective(fields, DecisionState.model_validate(state))
        found.append((pid, status, fields))
    return found


#: What dose alerts need of a record (``vp_log.alerts.entry_of_record``).
DOSE_FIELDS = ("patient_id", "study_date", "start", "ka_r_mgy", "dap_gy_cm2", "fluoro_time_s")


def dose_fields(*, session: Session) -> list[tuple[int, dict[str, Any]]]:
    """``(id, fields)`` of every procedure (of any type: a patient's dose is added up over all
    their procedures) but those a decision excludes, ``fields`` the record's DOSE_FIELDS
    that are set."""
    decision = current_decisions()
    stmt = (
        select(Procedure.id, _fields(session, DOSE_FIELDS))
        .outerjoin(decision, decision.c.procedure_id == Procedure.id)
        .where(decision.c.excluded.is_(None))
        .order_by(Procedure.id)
    )
    return [
        (pid, {k: v for k, v in zip(DOSE_FIELDS, values or (), strict=False) if v is not None})
        for pid, values in session.execute(stmt)
    ]


def report_clinical(*, session: Session) -> dict[int, dict[str, Any]]:
    """Procedure id → the values of the newest version of its baseline clinical data (a
    few versions per annotated procedure: read in version order, the newest kept)."""
    stmt = select(ProcedureClinical.procedure_id, ProcedureClinical.values).order_by(
        ProcedureClinical.procedure_id, ProcedureClinical.version
    )
    return {pid: dict(values or {}) for pid, values in session.execute(stmt)}


#: The follow-up columns reports read (plain rows, not ORM objects: 50 000 entries load in a
#: fraction of the time).
FOLLOWUP_COLUMNS = (
    "entry_id",
    "procedure_id",
    "entry_date",
    "timepoint",
    "days_after",
    "out_of_window",
    # every number and choice of the instrument table (``vp_log.followup.instruments``)
    *(item.name for item in ITEMS if isinstance(item.kind, Number | Choice)),
    "new_fractures",
    "complications",
    "closed_reason",
)


JSON_COLUMNS = ("new_fractures", "complications")


def report_followups(*, session: Session) -> list[Row[Any]]:
    """The newest version of every follow-up entry, by procedure, date and entry
    (``new_fractures`` and ``complications`` as JSON text)."""
    newest = (
        select(
            FollowupVersion.entry_id.label("entry_id"),
            func.max(FollowupVersion.version).label("version"),
        )
        .group_by(FollowupVersion.entry_id)
        .subquery()
    )
    columns = [
        # JSON lists come as text and are decoded by the caller only when not empty.
        cast(getattr(FollowupVersion, name), Text).label(name)
        if name in JSON_COLUMNS
        else getattr(FollowupVersion, name)
        for name in FOLLOWUP_COLUMNS
    ]
    stmt = (
        select(*columns)
        .join(
            newest,
            (FollowupVersion.entry_id == newest.c.entry_id)
            & (FollowupVersion.version == newest.c.version),
        )
        .order_by(
            FollowupVersion.procedure_id, FollowupVersion.entry_date, FollowupVersion.entry_id
        )
    )
    return list(session.execute(stmt))


def data_as_of(*, session: Session) -> dt.datetime | None:
    """When the data last changed: the newest record update, decision or follow-up version."""
    newest = [
        session.scalar(select(func.max(Procedure.updated_at))),
        session.scalar(select(func.max(ProcedureDecision.decided_at))),
        session.scalar(select(func.max(FollowupVersion.entered_at))),
    ]
    known = [value for value in newest if value is not None]
    return max(known) if known else None
