"""Data access for ingest: keyword-only functions, ``select()`` style, idempotent writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vp_log.db.tables import Instance, ObservationRow, Procedure
from vp_log.models import Kind, Observation, Provenance


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
    dialect = session.get_bind().dialect.name
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def insert_instance(*, session: Session, info: InstanceInfo) -> int | None:
    """Insert the instance row; ``None`` when that SOP Instance UID is already stored."""
    stmt = (
        _insert(session, Instance)
        .values(**info.__dict__)
        .on_conflict_do_nothing(index_elements=["sop_instance_uid"])
        .returning(Instance.id)
    )
    new_id: int | None = session.execute(stmt).scalar_one_or_none()
    return new_id


def add_observations(
    *,
    session: Session,
    instance_id: int,
    study_instance_uid: str,
    observations: Sequence[Observation],
) -> None:
    if not observations:
        return
    session.execute(
        _insert(session, ObservationRow),
        [
            {"instance_id": instance_id, "study_instance_uid": study_instance_uid, **o.to_row()}
            for o in observations
        ],
    )


def replace_observations(
    *,
    session: Session,
    instance_id: int,
    study_instance_uid: str,
    observations: Sequence[Observation],
) -> None:
    """Swap an instance's observations for freshly extracted ones (``vp-log reextract``)."""
    session.execute(delete(ObservationRow).where(ObservationRow.instance_id == instance_id))
    add_observations(
        session=session,
        instance_id=instance_id,
        study_instance_uid=study_instance_uid,
        observations=observations,
    )


def all_instances(*, session: Session) -> Sequence[Instance]:
    return session.scalars(select(Instance).order_by(Instance.id)).all()


def study_instances(*, session: Session, study_instance_uid: str) -> Sequence[Instance]:
    return session.scalars(
        select(Instance)
        .where(Instance.study_instance_uid == study_instance_uid)
        .order_by(Instance.id)
    ).all()


def study_observations(*, session: Session, study_instance_uid: str) -> list[Observation]:
    rows = session.execute(
        select(ObservationRow, Instance.sop_instance_uid)
        .join(Instance, Instance.id == ObservationRow.instance_id)
        .where(ObservationRow.study_instance_uid == study_instance_uid)
        .order_by(ObservationRow.id)
    ).all()
    return [
        Observation(
            kind=Kind(row.kind),
            value=row.value,
            provenance=Provenance(sop_instance_uid=sop_uid, path=row.path, raw=row.raw),
            level=row.level,
            flags=tuple(row.flags or ()),
        )
        for row, sop_uid in rows
    ]


def _clip(value: Any, size: int) -> str | None:
    return None if value is None else str(value)[:size]


def save_procedure(
    *, session: Session, record: dict[str, Any], last_received_at: datetime, updated_at: datetime
) -> int:
    """Insert or update the record of a study (keyed on Study Instance UID); return its id."""
    values = {
        "study_instance_uid": record["study_instance_uid"],
        # Index columns hold what fits; the record keeps the whole value.
        "accession_number": _clip(record.get("accession_number"), 128),
        "patient_id": _clip(record.get("patient_id"), 128),
        "study_date": _clip(record.get("study_date"), 10),
        "procedure_type": record.get("procedure_type") or "unclassified",
        "status": record["status"],
        "instance_count": record.get("instance_count") or 0,
        "last_received_at": last_received_at,
        "updated_at": updated_at,
        "record": record,
    }
    stmt = _insert(session, Procedure).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["study_instance_uid"],
        set_={k: stmt.excluded[k] for k in values if k != "study_instance_uid"},
    ).returning(Procedure.id)
    proc_id: int = session.execute(stmt).scalar_one()
    return proc_id


def studies_due_for_completion(
    *, session: Session, now: datetime, quiet_period_s: float
) -> list[str]:
    """Studies still `receiving` whose last instance arrived more than the quiet period ago."""
    cutoff = now - timedelta(seconds=quiet_period_s)
    return list(
        session.scalars(
            select(Procedure.study_instance_uid).where(
                Procedure.status == "receiving", Procedure.last_received_at <= cutoff
            )
        )
    )


def stale_studies(*, session: Session) -> list[str]:
    """Studies whose record is missing or was assembled from fewer instances than stored.

    Counts, not clocks: an instance acknowledged before an assembly but stored after it
    still makes its study stale (instances are never deleted, so the count only grows).
    """
    counts = (
        select(Instance.study_instance_uid, func.count(Instance.id).label("stored"))
        .group_by(Instance.study_instance_uid)
        .subquery()
    )
    stmt = (
        select(counts.c.study_instance_uid)
        .outerjoin(Procedure, Procedure.study_instance_uid == counts.c.study_instance_uid)
        .where(or_(Procedure.id.is_(None), Procedure.instance_count != counts.c.stored))
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
    """Records ordered by study date; augmentation procedures only unless ``include_all``."""
    stmt = select(Procedure)
    if since:
        stmt = stmt.where(Procedure.study_date >= since)
    if until:
        stmt = stmt.where(Procedure.study_date <= until)
    if patient_id:
        stmt = stmt.where(Procedure.patient_id == patient_id)
    if not include_all:
        stmt = stmt.where(Procedure.procedure_type != "unclassified")
    return session.scalars(stmt.order_by(Procedure.study_date, Procedure.id)).all()


def find_procedures(*, session: Session, key: str) -> Sequence[Procedure]:
    """Records matching ``key``: a record id, an accession number or a Study Instance UID."""
    conditions = [Procedure.accession_number == key, Procedure.study_instance_uid == key]
    if key.isdigit():
        conditions.append(Procedure.id == int(key))
    return session.scalars(select(Procedure).where(or_(*conditions)).order_by(Procedure.id)).all()


def dose_history(
    *,
    session: Session,
    since: str | None = None,
    until: str | None = None,
    patient_ids: Sequence[str] | None = None,
) -> Sequence[Procedure]:
    """Every record (all procedure types) of ``patient_ids`` with a study date in range.

    The rows dose alerts add up: with ``patient_ids`` None, every patient's.
    """
    stmt = select(Procedure)
    if since:
        stmt = stmt.where(Procedure.study_date >= since)
    if until:
        stmt = stmt.where(Procedure.study_date <= until)
    if patient_ids is not None:
        stmt = stmt.where(Procedure.patient_id.in_(list(patient_ids)))
    return session.scalars(stmt.order_by(Procedure.study_date, Procedure.id)).all()
