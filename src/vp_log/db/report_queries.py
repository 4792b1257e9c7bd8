"""Read-only queries for reports and exports (``vp_log.report``): nothing here writes.

Reports read procedure records and the current version of every follow-up entry; filters that
the database can apply cheaply (the procedure date, the type) are applied here, the rest on the
typed records in ``vp_log.report.cohort``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Row, String, Text, cast, func, literal, literal_column, select, type_coerce
from sqlalchemy.orm import Session

from vp_log.db.decided import current_decisions, effective_type
from vp_log.db.followup_tables import FollowupVersion
from vp_log.db.tables import Procedure, ProcedureClinical, ProcedureDecision
from vp_log.decisions import DecisionState, effective
from vp_log.followup.instruments import ITEMS, Choice, Number

#: The top-level record fields reports read. Only these are taken out of the stored JSON
#: (one JSON path extraction in the database): the provenance lists are most of a record's
#: size, and parsing them for 10 000 records would be most of a report's time. ``levels``
#: is not among them: it comes lean from its own column (:func:`_levels`).
REPORT_FIELDS = (
    "study_instance_uid",
    "accession_number",
    "patient_id",
    "patient_name",
    "patient_birth_date",
    "patient_sex",
    "patient",
    "study_date",
    "start",
    "procedure_type",
    "device",
    "performing_physicians",
    "operators",
    "fluoro_time_s",
    "dap_gy_cm2",
    "ka_r_mgy",
    "total_cement_ml",
    "flags",
    "needs_review",
)


#: The key of ``report_procedures`` fields that lists what a manual decision set (not a record
#: field: ``type``, ``levels``, ``cement``, ``approach``).
DECIDED_KEY = "decided"


#: What the reports are about: vertebral augmentation (not "other" procedures, not unclassified).
AUGMENTATION_TYPES = ("vertebroplasty", "kyphoplasty", "sacroplasty")


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _fields(session: Session) -> Any:
    """The REPORT_FIELDS of ``procedures.record`` as the text of one JSON array, made in the
    database (decoded by the caller: one ``json.loads`` of a short text per record)."""
    if _postgresql(session):
        parts = [Procedure.record.op("->")(literal(name)) for name in REPORT_FIELDS]
        return cast(func.jsonb_build_array(*parts), Text)
    paths = [literal(f"$.{name}") for name in REPORT_FIELDS]
    return type_coerce(func.json_extract(Procedure.record, *paths), Text)


#: The treated levels with only the two values reports read, as JSON text (``[{"level":
#: "L1", "cement_ml": 4.0}, ...]`` in the record's order): a level's sources are nine
#: tenths of what the database would otherwise hand over and Python decode.
_SQLITE_LEVELS = """(SELECT json_group_array(json_object(
    'level', json_extract(lv.value, '$.level'),
    'cement_ml', json_extract(lv.value, '$.cement_ml')))
  FROM json_each(json_extract(procedures.record, '$.levels')) AS lv)"""
_POSTGRESQL_LEVELS = """(SELECT coalesce(jsonb_agg(jsonb_build_object(
    'level', lv.value -> 'level', 'cement_ml', lv.value -> 'cement_ml') ORDER BY lv.n),
    '[]'::jsonb)::text
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(procedures.record -> 'levels') = 'array'
    THEN procedures.record -> 'levels' ELSE '[]'::jsonb END) WITH ORDINALITY AS lv(value, n))"""


def _levels(session: Session) -> Any:
    return literal_column(_POSTGRESQL_LEVELS if _postgresql(session) else _SQLITE_LEVELS, Text)


def report_procedures(
    *,
    session: Session,
    since: str | None = None,
    until: str | None = None,
    procedure_type: str | None = None,
    every_type: bool = False,
) -> list[tuple[int, str, str, dict[str, Any]]]:
    """``(id, status, type, fields)`` of vertebral augmentation procedures (with
    ``every_type``: of every procedure, as a patient's dose is added up over all of them) by
    study date then id; ``type``: the effective one (decided, else extracted); ``fields``:
    the record's REPORT_FIELDS that are set and its ``levels`` (name and cement), with the
    manual decisions applied (the effective type decides what is an augmentation; an
    excluded record is left out) and, under DECIDED_KEY, what they set. One pass over the
    stored records."""
    decision = current_decisions()
    kind = effective_type(decision)
    stmt = (
        select(
            Procedure.id,
            Procedure.status,
            kind,
            _fields(session),
            _levels(session),
            decision.c.state,
        )
        .outerjoin(decision, decision.c.procedure_id == Procedure.id)
        .where(decision.c.excluded.is_(None))
    )
    if not every_type:
        stmt = stmt.where(kind.in_(AUGMENTATION_TYPES))
    if since:
        stmt = stmt.where(Procedure.study_date >= since)
    if until:
        stmt = stmt.where(Procedure.study_date <= until)
    if procedure_type:
        stmt = stmt.where(kind == procedure_type)
    stmt = stmt.order_by(Procedure.study_date, Procedure.id)
    found = []
    loads = json.loads
    for pid, status, kind_of, values, levels, state in session.execute(stmt):
        fields = {
            k: v
            for k, v in zip(REPORT_FIELDS, loads(values) if values else (), strict=False)
            if v is not None
        }
        fields["levels"] = loads(levels) if levels else []
        if state is not None:
            decisions = DecisionState.model_validate(state)
            fields = effective(fields, decisions)
            fields[DECIDED_KEY] = [f.value for f in decisions.decided()]
        found.append((pid, status, kind_of, fields))
    return found


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
    """The newest version of every follow-up entry, by procedure, date and entry: rows of
    FOLLOWUP_COLUMNS in that order (``new_fractures`` and ``complications`` as JSON text,
    ``entry_date`` as a date or its ISO text)."""
    newest = (
        select(
            FollowupVersion.entry_id.label("entry_id"),
            func.max(FollowupVersion.version).label("version"),
        )
        .group_by(FollowupVersion.entry_id)
        .subquery()
    )
    columns = [
        # JSON lists come as text and are decoded by the caller only when not empty; the
        # date comes as the database gives it (SQLite: ISO text), read by the caller.
        cast(getattr(FollowupVersion, name), Text).label(name)
        if name in JSON_COLUMNS
        else type_coerce(FollowupVersion.entry_date, String).label(name)
        if name == "entry_date"
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
