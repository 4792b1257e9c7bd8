"""Follow-up tables and their repository functions: append-only entries and the audit log.

An *entry* (``followup_entries``) is only an identity: the number staff quote. Its content lives
in *versions* (``followup_versions``): version 1 is what was entered, each correction adds the
next version with its reason and a link to the version it supersedes. Nothing is updated or
deleted (the migration installs triggers that refuse it). Every write adds an ``audit_log`` row
in the same transaction.

Version numbers come from ``max(version) + 1`` under a unique constraint on
``(entry_id, version)``: two writers racing on one entry make one of them fail with an
``IntegrityError``, and the caller retries on a fresh transaction (see
``vp_log.followup.entries.correct_followup``). Entry ids are serial, so new entries never collide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column
from sqlalchemy.types import TypeEngine

from vp_log.db.base import MAX_RECORD_ID, Base, JSONType, UTCDateTime, utcnow
from vp_log.db.tables import Procedure
from vp_log.followup.instruments import ITEMS, Choice, Kind, Number

#: Columns of a version row that hold the entry's content (copied forward by corrections):
#: the placing, one column per instrument item (``vp_log.followup.instruments``), the events.
CONTENT_COLUMNS: tuple[str, ...] = (
    "procedure_id",
    "entry_date",
    "timepoint",
    "timepoint_inferred",
    "out_of_window",
    "days_after",
    *(item.name for item in ITEMS),
    "new_fractures",
    "complications",
    "notes",
    "closed_reason",
)


class FollowupEntry(Base):
    """The identity of one follow-up entry; its content is in :class:`FollowupVersion`."""

    __tablename__ = "followup_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class FollowupVersion(Base):
    """One version of an entry: version 1 as entered, then one row per correction."""

    __tablename__ = "followup_versions"
    __table_args__ = (
        UniqueConstraint("entry_id", "version"),
        # The worklist: has this procedure an entry at this time point (migration 0009).
        Index("ix_followup_versions_procedure_timepoint", "procedure_id", "timepoint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("followup_entries.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("followup_versions.id"), nullable=True
    )
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    entered_by: Mapped[str] = mapped_column(String(128))
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    entry_date: Mapped[dt.date] = mapped_column(Date)
    timepoint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    timepoint_inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    out_of_window: Mapped[bool] = mapped_column(Boolean, default=False)
    days_after: Mapped[int] = mapped_column(Integer)
    # one nullable column per instrument item: added below, from the instrument table
    # JSON null (not SQL NULL): not assessed; []: none
    new_fractures: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONType, default=list, nullable=False
    )
    complications: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONType, default=list, nullable=False
    )
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)


def item_column_type(kind: Kind) -> TypeEngine[Any]:
    """The SQL type of an instrument item: whole numbers, numbers, choices, section lists."""
    if isinstance(kind, Number):
        return Integer() if kind.whole else Float()
    if isinstance(kind, Choice):
        return String(32)
    return JSONType


for _item in ITEMS:  # declarative classes take new columns as attributes
    setattr(
        FollowupVersion,
        _item.name,
        mapped_column(_item.name, item_column_type(_item.kind), nullable=True),
    )

#: Every column of a version row, in the order :func:`listed_current_rows` gives them.
VERSION_COLUMNS: tuple[str, ...] = tuple(c.name for c in FollowupVersion.__table__.columns)


class AuditEvent(Base):
    """Who did what, when, to which entity; ``details`` holds the values written."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    who: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


# --- procedures (read only) ----------------------------------------------------------------


def get_procedure(*, session: Session, procedure_id: int) -> Procedure | None:
    if not 0 < procedure_id <= MAX_RECORD_ID:  # no row has it, and SQLite cannot bind it
        return None
    return session.get(Procedure, procedure_id)


def find_procedures(*, session: Session, key: str) -> list[Procedure]:
    """Procedures whose record id, accession number, Study Instance UID or patient ID is ``key``."""
    clauses = [
        Procedure.accession_number == key,
        Procedure.study_instance_uid == key,
        Procedure.patient_id == key,
    ]
    if key.isascii() and key.isdigit() and int(key) <= MAX_RECORD_ID:
        clauses.append(Procedure.id == int(key))
    stmt = select(Procedure).where(or_(*clauses)).order_by(Procedure.id)
    return list(session.scalars(stmt))


def begin_write(*, session: Session) -> None:
    """Take SQLite's write lock now (``BEGIN IMMEDIATE``); the first statement of a session.

    Follow-up writes that check "one entry per time point" start with it, so two writers
    cannot both see a time point free and both fill it. PostgreSQL: see :func:`lock_procedure`.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def lock_procedure(*, session: Session, procedure_id: int) -> None:
    """Lock the procedure row for the rest of the transaction (PostgreSQL ``FOR UPDATE``)."""
    if session.get_bind().dialect.name != "sqlite":
        stmt = select(Procedure.id).where(Procedure.id == procedure_id).with_for_update()
        session.execute(stmt)


def all_procedures(*, session: Session) -> list[Procedure]:
    return list(session.scalars(select(Procedure).order_by(Procedure.id)))


# --- follow-up versions ----------------------------------------------------------------------


def insert_entry(
    *, session: Session, values: dict[str, Any], entered_by: str, now: dt.datetime
) -> FollowupVersion:
    """A new entry with its version 1 (``values``: the :data:`CONTENT_COLUMNS`)."""
    entry = FollowupEntry(created_at=now, created_by=entered_by)
    session.add(entry)
    session.flush()
    row = FollowupVersion(
        entry_id=entry.id, version=1, entered_by=entered_by, entered_at=now, **values
    )
    session.add(row)
    session.flush()
    return row


def insert_version(
    *,
    session: Session,
    previous: FollowupVersion,
    values: dict[str, Any],
    reason: str,
    entered_by: str,
    now: dt.datetime,
) -> FollowupVersion:
    """The version after ``previous``; raises ``IntegrityError`` when another writer took it."""
    row = FollowupVersion(
        entry_id=previous.entry_id,
        version=previous.version + 1,
        supersedes_id=previous.id,
        reason=reason,
        entered_by=entered_by,
        entered_at=now,
        **values,
    )
    session.add(row)
    session.flush()
    return row


def latest_version(*, session: Session, entry_id: int) -> FollowupVersion | None:
    if not 0 < entry_id <= MAX_RECORD_ID:  # no row has it, and SQLite cannot bind it
        return None
    stmt = (
        select(FollowupVersion)
        .where(FollowupVersion.entry_id == entry_id)
        .order_by(FollowupVersion.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def entry_versions(*, session: Session, entry_id: int) -> list[FollowupVersion]:
    if not 0 < entry_id <= MAX_RECORD_ID:  # no row has it, and SQLite cannot bind it
        return []
    stmt = (
        select(FollowupVersion)
        .where(FollowupVersion.entry_id == entry_id)
        .order_by(FollowupVersion.version)
    )
    return list(session.scalars(stmt))


def current_versions(
    *, session: Session, procedure_ids: Sequence[int] | None = None
) -> list[FollowupVersion]:
    """The newest version of every entry (optionally of some procedures), by date then id."""
    return list(listed_current_versions(session=session, procedure_ids=procedure_ids))


def _current_of(procedure_ids: Sequence[int] | None, *columns: Any) -> Any:
    stmt = select(*columns).select_from(FollowupVersion).where(_current(FollowupVersion))
    if procedure_ids is not None:
        stmt = stmt.where(FollowupVersion.procedure_id.in_(list(procedure_ids)))
    return stmt


def count_current_versions(*, session: Session, procedure_ids: Sequence[int] | None = None) -> int:
    stmt = _current_of(procedure_ids, func.count())
    return int(session.scalar(stmt) or 0)


def _listed_current(
    columns: Sequence[Any], procedure_ids: Sequence[int] | None, limit: int | None, offset: int
) -> Any:
    from vp_log.db.listings import BATCH

    order = (FollowupVersion.procedure_id, FollowupVersion.entry_date, FollowupVersion.entry_id)
    stmt = _current_of(procedure_ids, *columns)
    if limit is not None or offset:
        last = _current_of(procedure_ids, FollowupVersion.id).order_by(*(c.desc() for c in order))
        last = last.limit(limit).offset(offset or None)
        stmt = stmt.where(FollowupVersion.id.in_(last.scalar_subquery()))
    return stmt.order_by(*order).execution_options(yield_per=BATCH)


def listed_current_versions(
    *,
    session: Session,
    procedure_ids: Sequence[int] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[FollowupVersion]:
    """The newest version of every entry by procedure, date then entry, streamed;
    ``limit``/``offset`` count from the last (the newest procedures' entries)."""
    yield from session.scalars(_listed_current((FollowupVersion,), procedure_ids, limit, offset))


def listed_current_rows(
    *,
    session: Session,
    procedure_ids: Sequence[int] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[Row[Any]]:
    """:func:`listed_current_versions` as rows of every column (:data:`VERSION_COLUMNS`),
    without an ORM object per entry."""
    columns = list(FollowupVersion.__table__.columns)
    yield from session.execute(_listed_current(columns, procedure_ids, limit, offset))


# --- the worklist (streamed, issue 15) -----------------------------------------------------


def _current(version: type[FollowupVersion] | Any) -> Any:
    """``version`` is the newest version of its entry (no later version exists)."""
    later = aliased(FollowupVersion)
    return ~exists().where(later.entry_id == version.entry_id, later.version > version.version)


def _has_current_entry(timepoints: Sequence[str]) -> Any:
    """The procedure of the outer query has an entry whose current version holds one of
    ``timepoints``."""
    v = aliased(FollowupVersion)
    return (
        exists()
        .where(v.procedure_id == Procedure.id, v.timepoint.in_(list(timepoints)))
        .where(_current(v))
    )


def died_procedures(*, session: Session, as_of: dt.date) -> set[int]:
    """Procedures whose patient died by ``as_of``: a death recorded as a complication, or a
    time point closed because the patient died (current versions; few rows: deaths only)."""
    v = FollowupVersion
    stmt = (
        select(v.procedure_id, v.entry_date, v.closed_reason, v.complications)
        .where(or_(v.closed_reason == "died", cast(v.complications, Text).like('%"death"%')))
        .where(_current(v))
    )
    died: set[int] = set()
    for pid, entry_date, closed_reason, complications in session.execute(stmt):
        closed = closed_reason == "died" and entry_date <= as_of
        if closed or any(
            c.get("type") == "death" and dt.date.fromisoformat(c["date"]) <= as_of
            for c in complications or []
        ):
            died.add(pid)
    return died


def open_timepoint_procedures(
    *,
    session: Session,
    timepoint: str,
    later_timepoints: Sequence[str],
    opened_by: dt.date,
    closed_before: dt.date,
    overdue_only: bool = False,
    since: dt.date | None = None,
    until: dt.date | None = None,
    procedure_ids: Sequence[int] | None = None,
) -> Iterator[tuple[int, str | None, str | None, str | None, str]]:
    """The worklist's procedures still open for ``timepoint``, by procedure date then id:
    ``(id, accession, patient ID, study date, type)``, streamed.

    Those ``procedures list`` shows (by the effective type: a decided type over the extracted
    one; none a decision excludes), complete, dated ``opened_by`` or earlier (the window has
    opened), with no entry at ``timepoint``, and not missed: a window closed (dated before
    ``closed_before``) with an entry at a later time point. Columns only: no record is read
    (the patient's name is in the record: :func:`patient_names`).
    """
    from vp_log.db.decided import current_decisions, effective_type
    from vp_log.db.listings import BATCH, ProcedureFilter

    only = ProcedureFilter(
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
        complete_only=True,
    )
    closed = Procedure.study_date < closed_before.isoformat()
    decision = current_decisions()
    stmt = only.apply(
        select(
            Procedure.id,
            Procedure.accession_number,
            Procedure.patient_id,
            Procedure.study_date,
            effective_type(decision),
        ),
        decision,
    ).where(
        Procedure.study_date.is_not(None),
        Procedure.study_date <= opened_by.isoformat(),
        ~_has_current_entry([timepoint]),
    )
    if later_timepoints:
        stmt = stmt.where(~(closed & _has_current_entry(later_timepoints)))
    if overdue_only:
        stmt = stmt.where(closed)
    if procedure_ids is not None:
        stmt = stmt.where(Procedure.id.in_(list(procedure_ids)))
    stmt = stmt.order_by(Procedure.study_date, Procedure.id).execution_options(yield_per=BATCH)
    yield from session.execute(stmt)


def patient_names(*, session: Session, procedure_ids: Collection[int]) -> dict[int, str | None]:
    """The patient's name of each of ``procedure_ids`` (out of its stored record; None: none
    given): for the rows a listing shows, each record's JSON read once."""
    from vp_log.db.listings import record_text

    stmt = select(Procedure.id, record_text(session, "patient_name"))
    stmt = stmt.where(Procedure.id.in_(list(procedure_ids)))
    return {
        pid: name if isinstance(name, str) and name else None for pid, name in session.execute(stmt)
    }


# --- audit -----------------------------------------------------------------------------------


def record_audit(
    *,
    session: Session,
    who: str,
    action: str,
    entity: str,
    entity_id: str,
    details: dict[str, Any],
    now: dt.datetime,
) -> AuditEvent:
    event = AuditEvent(
        at=now, who=who, action=action, entity=entity, entity_id=entity_id, details=details
    )
    session.add(event)
    session.flush()
    return event


def audit_events(*, session: Session, since: dt.datetime | None = None) -> list[AuditEvent]:
    stmt = _audit_since(select(AuditEvent), since).order_by(AuditEvent.at, AuditEvent.id)
    return list(session.scalars(stmt))


def _audit_since(stmt: Any, since: dt.datetime | None) -> Any:
    return stmt if since is None else stmt.where(AuditEvent.at >= since)


def count_audit_events(*, session: Session, since: dt.datetime | None = None) -> int:
    stmt = _audit_since(select(func.count()).select_from(AuditEvent), since)
    return int(session.scalar(stmt) or 0)


#: The columns of an audit event, in the order ``listed_audit_rows`` gives them.
AUDIT_COLUMNS = ("id", "at", "who", "action", "entity", "entity_id", "details")


def listed_audit_rows(
    *,
    session: Session,
    since: dt.datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[tuple[Any, ...]]:
    """Audit events oldest first as plain rows (:data:`AUDIT_COLUMNS`), streamed;
    ``limit``/``offset`` count from the newest."""
    from vp_log.db.listings import BATCH

    columns = [getattr(AuditEvent, name) for name in AUDIT_COLUMNS]
    stmt = _audit_since(select(*columns), since)
    if limit is not None or offset:
        newest = _audit_since(select(AuditEvent.id), since).order_by(
            AuditEvent.at.desc(), AuditEvent.id.desc()
        )
        newest = newest.limit(limit).offset(offset or None)
        stmt = stmt.where(AuditEvent.id.in_(newest.scalar_subquery()))
    stmt = stmt.order_by(AuditEvent.at, AuditEvent.id).execution_options(yield_per=BATCH)
    yield from session.execute(stmt)
