"""Data access for ingest: keyword-only functions, ``select()`` style, idempotent writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from vp_log.db.base import MAX_RECORD_ID
from vp_log.db.decided import NOT_AUGMENTATION, current_decisions, decision_state, effective_type
from vp_log.db.errors import UnreadableRecordError
from vp_log.db.tables import (
    DOSE_COLUMNS,
    PACKED_FIELDS,
    Instance,
    ObservationRow,
    Procedure,
    ProcedureClinical,
    ProcedureDecision,
    record_document,
)
from vp_log.decisions import DecisionState, effective, extracted_values, public_decisions
from vp_log.models import Kind, Observation, Provenance
from vp_log.record import RECORD_VERSION, ProcedurePublic, ProcedureRecord, Status


@dataclass(frozen=True)
class InstanceInfo:
    """What the pipeline knows of an instance before it is stored."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    transfer_syntax_uid: str
    file_size: int
    archive_path: str
    received_at: datetime
    received_from: str


def _insert(session: Session, table: Any) -> Any:
    # each dialect's module is loaded already by the engine that uses it
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_instance(*, session: Session, info: InstanceInfo) -> int | None:
    """Insert the instance row; ``None`` when that SOP Instance UID is already stored.

    A Core statement on the session's connection (one round trip, no ORM bookkeeping).
    """
    table: Any = Instance.__table__
    stmt = (
        _insert(session, table)
        .on_conflict_do_nothing(index_elements=["sop_instance_uid"])
        .returning(table.c.id)
    )
    new_id: int | None = (
        session.connection().execute(stmt, dict(info.__dict__)).scalar_one_or_none()
    )
    return new_id


def instance_study(*, session: Session, sop_instance_uid: str) -> str | None:
    """The Study Instance UID stored with ``sop_instance_uid``; ``None`` if not stored."""
    study: str | None = session.scalar(
        select(Instance.study_instance_uid).where(Instance.sop_instance_uid == sop_instance_uid)
    )
    return study


def add_observation_batch(
    *, session: Session, batch: Sequence[tuple[int, Sequence[Observation]]]
) -> list[list[dict[str, Any]]]:
    """The observations of several instances, ``(instance id, observations)``, in one
    statement (their study is the instance's); returns each instance's rows as written (see
    :func:`stored_observation`)."""
    per_instance = [
        [{"instance_id": instance_id, **o.to_row()} for o in observations]
        for instance_id, observations in batch
    ]
    rows = [row for instance_rows in per_instance for row in instance_rows]
    if rows:
        session.connection().execute(_insert(session, ObservationRow.__table__), rows)
    return per_instance


def replace_observation_batch(
    *, session: Session, batch: Sequence[tuple[int, Sequence[Observation]]]
) -> list[list[dict[str, Any]]]:
    """Swap the observations of several instances for freshly extracted ones (``vp-log
    reextract``), in two statements (the rows written, as :func:`add_observation_batch`
    returns them)."""
    ids = [instance_id for instance_id, _ in batch]
    table: Any = ObservationRow.__table__
    conn = session.connection()
    for start in range(0, len(ids), 500):  # bound the statement's parameters
        conn.execute(delete(table).where(table.c.instance_id.in_(ids[start : start + 500])))
    return add_observation_batch(session=session, batch=batch)


def study_uids_after(*, session: Session, after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` Study Instance UIDs of stored instances, in order, after ``after``."""
    stmt = select(Instance.study_instance_uid).distinct()
    if after is not None:
        stmt = stmt.where(Instance.study_instance_uid > after)
    stmt = stmt.order_by(Instance.study_instance_uid).limit(limit)
    return list(session.connection().execute(stmt).scalars())


@dataclass(frozen=True)
class StoredInstance:
    id: int
    sop_instance_uid: str
    study_instance_uid: str
    archive_path: str
    sop_class_uid: str
    series_instance_uid: str
    modality: str
    received_at: datetime


def instances_of_studies(*, session: Session, studies: Sequence[str]) -> list[StoredInstance]:
    """The instances of ``studies`` (where their archive copies are), by study then id."""
    table: Any = Instance.__table__
    rows = session.connection().execute(
        select(
            table.c.id,
            table.c.sop_instance_uid,
            table.c.study_instance_uid,
            table.c.archive_path,
            table.c.sop_class_uid,
            table.c.series_instance_uid,
            table.c.modality,
            table.c.received_at,
        )
        .where(table.c.study_instance_uid.in_(list(studies)))
        .order_by(table.c.study_instance_uid, table.c.id)
    )
    return [StoredInstance(*row) for row in rows]


def study_instance_count(*, session: Session, study_instance_uid: str) -> int:
    """How many instances of the study are stored."""
    count: int = (
        session.connection()
        .execute(
            select(func.count(Instance.id)).where(Instance.study_instance_uid == study_instance_uid)
        )
        .scalar_one()
    )
    return count


def record_state(*, session: Session, study_instance_uid: str) -> tuple[int, str] | None:
    """(instance count, status) of the study's stored record; None if it has none. The
    record itself is not read."""
    row = session.execute(
        select(Procedure.instance_count, Procedure.status).where(
            Procedure.study_instance_uid == study_instance_uid
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def all_instances(*, session: Session) -> Sequence[Instance]:
    return session.scalars(select(Instance).order_by(Instance.id)).all()


def study_instances(*, session: Session, study_instance_uid: str) -> Sequence[Instance]:
    return session.scalars(
        select(Instance)
        .where(Instance.study_instance_uid == study_instance_uid)
        .order_by(Instance.id)
    ).all()


def study_observations(*, session: Session, study_instance_uid: str) -> list[Observation]:
    table: Any = ObservationRow.__table__
    rows = session.connection().execute(
        select(
            table.c.kind,
            table.c.value,
            Instance.sop_instance_uid,
            table.c.path,
            table.c.raw,
            table.c.level,
            table.c.side,
            table.c.plane,
            table.c.event_uid,
            table.c.flags,
        )
        .join(Instance, Instance.id == table.c.instance_id)
        .where(Instance.study_instance_uid == study_instance_uid)
        .order_by(table.c.id)
    )
    return [stored_observation(row[2], row._mapping) for row in rows]


def stored_observation(sop_instance_uid: str, row: Mapping[Any, Any]) -> Observation:
    """An observation as the store holds it: from its row (an ``observations`` row read back,
    or one :func:`add_observation_batch` wrote) and the stored instance's UID.

    Rows this store wrote from validated observations: built without validating again.
    """
    return Observation.model_construct(
        kind=Kind(row["kind"]),
        value=row["value"],
        provenance=Provenance.model_construct(
            sop_instance_uid=sop_instance_uid, path=row["path"], raw=row["raw"]
        ),
        level=row["level"],
        side=row["side"],
        plane=row["plane"],
        event_uid=row["event_uid"],
        flags=tuple(row["flags"] or ()),
    )


def _clip(value: Any, size: int) -> str | None:
    return None if value is None else str(value)[:size]


def dose_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """The dose columns of a record's row (:data:`~vp_log.db.tables.DOSE_COLUMNS`) from the
    record as stored (its JSON form), as dose alerts read them: a value that is no number,
    or a start that is no text, is None (migration 0010 fills older rows alike)."""
    columns: dict[str, Any] = {}
    for name in DOSE_COLUMNS:
        value = record.get(name)
        if name == "start":
            columns[name] = value if isinstance(value, str) else None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            columns[name] = float(value)
        else:
            columns[name] = None
    return columns


def save_procedure(*, session: Session, record: ProcedureRecord, updated_at: datetime) -> int:
    """Insert or update the record of a study (keyed on Study Instance UID); return its id."""
    if record.last_received_at is None:
        msg = f"record of study {record.study_instance_uid} has no last_received_at"
        raise ValueError(msg)
    stored = record.model_dump(mode="json")
    values = {
        "study_instance_uid": record.study_instance_uid,
        # Index columns hold what fits; the record keeps the whole value.
        "accession_number": _clip(record.accession_number, 128),
        "patient_id": _clip(record.patient_id, 128),
        "study_date": _clip(record.study_date, 10),
        "procedure_type": record.procedure_type.value,
        "status": record.status.value,
        "instance_count": record.instance_count,
        "last_received_at": record.last_received_at,
        "updated_at": updated_at,
        **_record_columns(stored),
        "record_version": RECORD_VERSION,
        **dose_columns(stored),
    }
    stmt = _insert(session, Procedure).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["study_instance_uid"],
        set_={k: stmt.excluded[k] for k in values if k != "study_instance_uid"},
    ).returning(Procedure.id)
    proc_id: int = session.execute(stmt).scalar_one()
    return proc_id


def _record_columns(document: dict[str, Any]) -> dict[str, Any]:
    """A record's JSON document as the columns that store it (``record`` and the packed)."""
    columns: dict[str, Any] = {
        "record": {k: v for k, v in document.items() if k not in PACKED_FIELDS}
    }
    for field, column in PACKED_FIELDS.items():
        columns[column] = document.get(field)
    return columns


def procedure_of_study(*, session: Session, study_instance_uid: str) -> Procedure | None:
    return session.scalars(
        select(Procedure).where(Procedure.study_instance_uid == study_instance_uid)
    ).one_or_none()


def stored_record(row: Procedure) -> ProcedureRecord:
    """The typed record of a row as extracted (an older stored shape reads with the added
    fields unset); :func:`effective_record` applies the manual decisions."""
    return _typed(record_document(row), row.id)


def _typed(data: dict[str, Any], record_id: int) -> ProcedureRecord:
    try:
        return ProcedureRecord.model_validate(data)
    except ValidationError as exc:
        msg = f"the stored record {record_id} cannot be read ({exc.error_count()} problems); "
        msg += "rebuild it with vp-log reextract"
        raise UnreadableRecordError(msg) from None


def effective_json(row: Procedure) -> dict[str, Any]:
    """The stored record (JSON form) with its manual decisions applied: what every reader of
    one row uses (listings, ``show``, the follow-up worklist and linking)."""
    return effective(record_document(row), decision_state(row))


def effective_record(row: Procedure) -> ProcedureRecord:
    """The typed effective record of a row (decisions over extraction)."""
    return _typed(effective_json(row), row.id)


def public_record(row: Procedure, *, now: datetime, quiet_period_s: float) -> ProcedurePublic:
    """What ``--json`` prints of a row: the effective record (decisions over extraction),
    its status as of ``now`` (derived, never written), and, when decisions are in force,
    the decisions and the extracted values."""
    state = decision_state(row)
    extracted = record_document(row)
    record = _typed(effective(extracted, state), row.id)
    public = ProcedurePublic.from_stored(
        id=row.id, record=record, status=record.status_at(now, quiet_period_s)
    )
    if state is None or not state.decided():
        return public
    return public.model_copy(
        update={
            "excluded": state.exclude.value if state.exclude else None,
            "decisions": public_decisions(extracted, state),
            "extracted": extracted_values(extracted),
        }
    )


def studies_due_for_completion(
    *, session: Session, now: datetime, quiet_period_s: float
) -> list[str]:
    """Studies still `receiving` whose last instance arrived more than the quiet period ago."""
    cutoff = now - timedelta(seconds=quiet_period_s)
    return list(
        session.scalars(
            select(Procedure.study_instance_uid).where(
                Procedure.status == Status.RECEIVING.value, Procedure.last_received_at <= cutoff
            )
        )
    )


def next_quiet_time(*, session: Session, quiet_period_s: float) -> datetime | None:
    """When the first study still `receiving` goes quiet; None when none is receiving.

    One look into ``ix_procedures_status_last_received_at``: the cost does not grow with the
    store (the listener's idle worker asks after each round).
    """
    first: datetime | None = session.scalar(
        select(func.min(Procedure.last_received_at)).where(
            Procedure.status == Status.RECEIVING.value
        )
    )
    return None if first is None else first + timedelta(seconds=quiet_period_s)


def mark_receiving(*, session: Session, study_instance_uid: str, updated_at: datetime) -> bool:
    """Tell a study's record it got instances, without assembling it; False if it has none.

    The record (row and document) gets the stored instance count, the last instance's time and
    the status `receiving`; the rest stays as last assembled until the study goes quiet and is
    assembled whole. A record of an older shape is not touched (False: assemble it).
    """
    row = procedure_of_study(session=session, study_instance_uid=study_instance_uid)
    if row is None or row.record_version < RECORD_VERSION:
        return False
    count, last = session.execute(
        select(func.count(Instance.id), func.max(Instance.received_at)).where(
            Instance.study_instance_uid == study_instance_uid
        )
    ).one()
    if count == row.instance_count or last is None:
        return True
    last = max(last, row.last_received_at)
    row.status = Status.RECEIVING.value
    row.instance_count = count
    row.last_received_at = last
    row.updated_at = updated_at
    row.record = {
        **(row.record or {}),
        "status": Status.RECEIVING.value,
        "instance_count": count,
        "last_received_at": last.isoformat(),
    }
    return True


def stale_studies(*, session: Session) -> list[str]:
    """Studies whose record is missing or was assembled from fewer instances than stored.

    Counts, not clocks: an instance acknowledged before an assembly but stored after it
    still makes its study stale (instances are never deleted, so the count only grows). A
    record stored in an older shape (``record_version``) is stale too: it is rebuilt from the
    stored observations.
    """
    counts = (
        select(Instance.study_instance_uid, func.count(Instance.id).label("stored"))
        .group_by(Instance.study_instance_uid)
        .subquery()
    )
    stmt = (
        select(counts.c.study_instance_uid)
        .outerjoin(Procedure, Procedure.study_instance_uid == counts.c.study_instance_uid)
        .where(
            or_(
                Procedure.id.is_(None),
                Procedure.instance_count != counts.c.stored,
                Procedure.record_version < RECORD_VERSION,
            )
        )
        .order_by(counts.c.study_instance_uid)
    )
    return list(session.scalars(stmt))


def list_procedures(
    *,
    session: Session,
    since: str | None = None,
    until: str | None = None,
    patient_id: str | None = None,
    include_all: bool = False,
) -> Sequence[Procedure]:
    """Records ordered by study date: augmentation procedures by their effective type (a
    decided type over the extracted one), not excluded by a decision, unless
    ``include_all``."""
    decision = current_decisions()
    stmt = select(Procedure).outerjoin(decision, decision.c.procedure_id == Procedure.id)
    if since:
        stmt = stmt.where(Procedure.study_date >= since)
    if until:
        stmt = stmt.where(Procedure.study_date <= until)
    if patient_id:
        stmt = stmt.where(Procedure.patient_id == patient_id)
    if not include_all:
        stmt = stmt.where(
            effective_type(decision).notin_(NOT_AUGMENTATION), decision.c.excluded.is_(None)
        )
    return session.scalars(stmt.order_by(Procedure.study_date, Procedure.id)).all()


def find_procedures(*, session: Session, key: str, patient: bool = False) -> Sequence[Procedure]:
    """Records ``key`` names: a record id, an accession number, a Study Instance UID (and,
    with ``patient``, a patient ID), ordered by id. A number too large to be an id is looked
    up as an accession number or UID only."""
    key = key.strip()
    conditions = [Procedure.accession_number == key, Procedure.study_instance_uid == key]
    if patient:
        conditions.append(Procedure.patient_id == key)
    if key.isascii() and key.isdigit() and int(key) <= MAX_RECORD_ID:
        conditions.append(Procedure.id == int(key))
    return session.scalars(select(Procedure).where(or_(*conditions)).order_by(Procedure.id)).all()


def dose_history(
    *,
    session: Session,
    since: str | None = None,
    until: str | None = None,
    patient_ids: Sequence[str] | None = None,
) -> Sequence[Procedure]:
    """Every record (all procedure types) of ``patient_ids`` with a study date in range,
    except those a decision excludes (a phantom, test or duplicate is no patient's dose).

    The rows dose alerts add up: with ``patient_ids`` None, every patient's.
    """
    decision = current_decisions()
    stmt = (
        select(Procedure)
        .outerjoin(decision, decision.c.procedure_id == Procedure.id)
        .where(decision.c.excluded.is_(None))
    )
    if since:
        stmt = stmt.where(Procedure.study_date >= since)
    if until:
        stmt = stmt.where(Procedure.study_date <= until)
    if patient_ids is not None:
        stmt = stmt.where(Procedure.patient_id.in_(list(patient_ids)))
    return session.scalars(stmt.order_by(Procedure.study_date, Procedure.id)).all()


def receiving_studies(*, session: Session) -> Sequence[Procedure]:
    """Records still ``receiving`` (their quiet period has not passed), newest first."""
    return session.scalars(
        select(Procedure)
        .where(Procedure.status == "receiving")
        .order_by(Procedure.last_received_at.desc())
    ).all()


# --- baseline clinical data (entered by staff, append-only) --------------------------------


def clinical_versions(*, session: Session, procedure_id: int) -> Sequence[ProcedureClinical]:
    """Every version of a procedure's clinical data, oldest first."""
    return session.scalars(
        select(ProcedureClinical)
        .where(ProcedureClinical.procedure_id == procedure_id)
        .order_by(ProcedureClinical.version)
    ).all()


def _next_version(
    session: Session, table: type[ProcedureClinical | ProcedureDecision], procedure_id: int
) -> int:
    """The number the next version of a record's append-only entries takes (1 for the first)."""
    latest = session.scalar(
        select(func.max(table.version)).where(table.procedure_id == procedure_id)
    )
    return (latest or 0) + 1


def add_clinical_version(
    *,
    session: Session,
    procedure_id: int,
    values: dict[str, Any],
    entered_by: str,
    entered_at: datetime,
) -> int:
    """Store a new version (the previous ones stay); return its number."""
    version = _next_version(session, ProcedureClinical, procedure_id)
    session.add(
        ProcedureClinical(
            procedure_id=procedure_id,
            version=version,
            values=values,
            entered_by=entered_by,
            entered_at=entered_at,
        )
    )
    session.flush()
    return version


# --- manual decisions (entered by staff, append-only) ----------------------------------------


def add_decision(
    *,
    session: Session,
    procedure_id: int,
    state: DecisionState,
    changes: dict[str, Any],
    reason: str,
    decided_by: str,
    decided_at: datetime,
) -> int:
    """Store the state after a decision as the record's next version; return its number."""
    version = _next_version(session, ProcedureDecision, procedure_id)
    session.add(
        ProcedureDecision(
            procedure_id=procedure_id,
            version=version,
            procedure_type=state.type.value.value if state.type else None,
            excluded=state.exclude.value.value if state.exclude else None,
            state=state.model_dump(mode="json"),
            changes=changes,
            reason=reason,
            decided_by=decided_by,
            decided_at=decided_at,
        )
    )
    session.flush()
    return version
