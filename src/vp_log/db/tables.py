"""Ingest tables: received instances, their observations, assembled procedure records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vp_log.db.base import Base, JSONType, PackedJSON, UTCDateTime, utcnow

#: The record fields dose alerts read that are columns of ``procedures`` too, named alike.
DOSE_COLUMNS = ("start", "ka_r_mgy", "dap_gy_cm2", "fluoro_time_s")


class Instance(Base):
    """One received DICOM instance, keyed on its SOP Instance UID."""

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(128), unique=True)
    sop_class_uid: Mapped[str] = mapped_column(String(128))
    study_instance_uid: Mapped[str] = mapped_column(String(128), index=True)
    series_instance_uid: Mapped[str] = mapped_column(String(128))
    modality: Mapped[str] = mapped_column(String(16), default="")
    transfer_syntax_uid: Mapped[str] = mapped_column(String(128), default="")
    file_size: Mapped[int] = mapped_column(BigInteger)
    archive_path: Mapped[str] = mapped_column(Text, doc="Relative to the data folder")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_from: Mapped[str] = mapped_column(String(256), default="")

    observations: Mapped[list[ObservationRow]] = relationship(
        back_populates="instance", cascade="all, delete-orphan", order_by="ObservationRow.id"
    )


class ObservationRow(Base):
    """One extracted value with its provenance (see ``vp_log.models.Observation``).

    ~40 per instance, so each byte of a row counts (migration 0011): the study is reached
    through ``instance_id`` (the instance's own Study Instance UID), and the value is packed
    JSON (an irradiation event with its technique is ~1.7 KB as text, ~0.6 KB packed).
    """

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(128))
    value: Mapped[Any] = mapped_column(PackedJSON, nullable=True)
    path: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    side: Mapped[str | None] = mapped_column(String(16), nullable=True)
    plane: Mapped[str | None] = mapped_column(String(16), nullable=True)
    event_uid: Mapped[str | None] = mapped_column(Text, nullable=True)
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)

    instance: Mapped[Instance] = relationship(back_populates="observations")


#: The record fields stored beside ``procedures.record``, packed, and their columns: no query
#: reads them in SQL, and they are most of a record (~24 of a study's ~28 KB of JSON: each
#: irradiation event with its technique, the sources of every header value).
PACKED_FIELDS = {"events": "record_events", "sources": "record_sources"}


class Procedure(Base):
    """The assembled record of one study: ``record`` holds its JSON document but the
    :data:`PACKED_FIELDS`, which have columns of their own (migration 0012);
    :func:`record_document` puts the whole document together.
    """

    __tablename__ = "procedures"
    # The worker's quiet-study query (status = receiving, oldest last instance first), and
    # listings, which filter on type and status and sort by study date (migration 0009; the
    # study date leads, so that index serves every look-up by date too). Dose alerts read
    # a patient at a time from an index that holds what they need (migration 0010): the
    # dose columns, added last, lie after the record in each row, behind its overflow pages.
    __table_args__ = (
        Index("ix_procedures_status_last_received_at", "status", "last_received_at"),
        Index("ix_procedures_listing", "study_date", "procedure_type", "status"),
        Index("ix_procedures_dose", "patient_id", "id", "study_date", *DOSE_COLUMNS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(128), unique=True)
    accession_number: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    patient_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    study_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    procedure_type: Mapped[str] = mapped_column(String(32), default="unclassified")
    status: Mapped[str] = mapped_column(String(16), default="receiving")
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    record: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, doc="The record's JSON but its PACKED_FIELDS (read in SQL)"
    )
    record_events: Mapped[list[Any] | None] = mapped_column(PackedJSON, nullable=True)
    record_sources: Mapped[dict[str, Any] | None] = mapped_column(PackedJSON, nullable=True)
    record_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", doc="Shape of `record`; older ones are rebuilt"
    )
    # What dose alerts need of the record besides patient and date, as the record holds it
    # (``vp_log.db.repository.dose_columns``; None: unknown).
    start: Mapped[str | None] = mapped_column(Text, nullable=True, doc="The record's `start`")
    ka_r_mgy: Mapped[float | None] = mapped_column(Float, nullable=True)
    dap_gy_cm2: Mapped[float | None] = mapped_column(Float, nullable=True)
    fluoro_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    decisions: Mapped[list[ProcedureDecision]] = relationship(
        order_by="ProcedureDecision.version",
        lazy="selectin",
        viewonly=True,
        doc="Every version of the record's manual decisions, oldest first (the last in force)",
    )


class ProcedureClinical(Base):
    """One version of a procedure's baseline clinical data (append-only: who and when kept).

    Keyed on the record id, which re-extraction keeps, so entered data outlives a rebuild.
    """

    __tablename__ = "procedure_clinical"
    __table_args__ = (UniqueConstraint("procedure_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType)
    entered_by: Mapped[str] = mapped_column(String(128))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcedureDecision(Base):
    """One version of the manual decisions on a record (``vp-log procedures decide``).

    Append-only (the database refuses UPDATE and DELETE): each version holds the whole state
    in force (``state``, a :class:`vp_log.decisions.DecisionState`), what it changed (field →
    old and new value) and why. The decided type and exclusion are columns of their own so
    that listings filter on them in SQL. Keyed on the record id, which re-extraction keeps:
    the extracted record is never changed, and decisions outlive a rebuild.
    """

    __tablename__ = "procedure_decisions"
    __table_args__ = (UniqueConstraint("procedure_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    procedure_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    excluded: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def record_document(row: Procedure) -> dict[str, Any]:
    """The stored record of a row as one JSON document, as extracted: ``procedures.record``
    with the fields stored packed beside it (a field its version did not have stays out)."""
    document = dict(row.record or {})
    for field, column in PACKED_FIELDS.items():
        value = getattr(row, column)
        if value is not None:
            document[field] = value
    return document
