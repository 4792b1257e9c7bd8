"""Streamed, lean reads for the listings (issue 15): ``procedures list``, ``followup due``.

Nothing here loads whole ORM rows. A table takes the few record fields it shows out of the
stored JSON by one JSON path extraction in the database (as :mod:`vp_log.db.report_queries`
does for reports), not the whole record with its provenance; ``--json`` takes the stored
record as text. Rows come in batches of :data:`BATCH` (``yield_per``: a server-side cursor on
PostgreSQL, SQLite's own cursor), so a listing's memory does not grow with the store.

Pages (``--limit``/``--offset``) count from the newest record (study date, then id) and are
listed in the listing's own order, oldest first, like the whole listing.

Manual decisions (``procedures decide``) count as everywhere else: the effective type decides
what is an augmentation, an excluded record is left out (unless ``--all``), and each row
comes with the decisions in force (their state, None: none) for the caller to apply.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    LargeBinary,
    Select,
    Subquery,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from vp_log.db.base import JSONType, unpack_json
from vp_log.db.decided import NOT_AUGMENTATION, current_decisions, effective_type
from vp_log.db.tables import DOSE_COLUMNS, PACKED_FIELDS, Procedure

_S = TypeVar("_S", bound="Select[*tuple[Any, ...]]")

BATCH = 500
"""Rows fetched from the database at a time."""


@dataclass(frozen=True)
class ProcedureFilter:
    """What ``procedures list`` narrows to (study dates as ISO text; None: no filter)."""

    since: str | None = None
    until: str | None = None
    patient_id: str | None = None
    include_all: bool = False
    complete_only: bool = False  # the worklist: no study still receiving

    def apply(self, stmt: _S, decision: Subquery | None = None) -> _S:
        """``stmt`` outer-joined to the decisions in force (``decision``: that subquery, when
        the caller selects from it) and narrowed to what the filter keeps."""
        decision = current_decisions() if decision is None else decision
        stmt = stmt.outerjoin(decision, decision.c.procedure_id == Procedure.id)
        if self.since:
            stmt = stmt.where(Procedure.study_date >= self.since)
        if self.until:
            stmt = stmt.where(Procedure.study_date <= self.until)
        if self.patient_id:
            stmt = stmt.where(Procedure.patient_id == self.patient_id)
        if not self.include_all:
            stmt = stmt.where(
                effective_type(decision).notin_(NOT_AUGMENTATION), decision.c.excluded.is_(None)
            )
        if self.complete_only:
            stmt = stmt.where(Procedure.status != "receiving")
        return stmt


@dataclass(frozen=True)
class Page:
    """``limit`` records (None: all) after skipping the ``offset`` newest."""

    limit: int | None = None
    offset: int = 0

    @property
    def everything(self) -> bool:
        return self.limit is None and self.offset == 0


def record_fields(session: Session, names: tuple[str, ...]) -> Any:
    """The ``names`` fields of ``procedures.record`` as one JSON array, in the database."""
    if session.get_bind().dialect.name == "postgresql":
        parts = [Procedure.record.op("->")(literal(name)) for name in names]
        return type_coerce(func.jsonb_build_array(*parts), JSONType)
    paths = [literal(f"$.{name}") for name in names]
    return type_coerce(func.json_extract(Procedure.record, *paths), JSONType)


def count_procedures(*, session: Session, only: ProcedureFilter) -> int:
    """How many records ``only`` keeps (the whole listing, whatever the page)."""
    stmt = only.apply(select(func.count()).select_from(Procedure))
    return int(session.scalar(stmt) or 0)


def _paged(stmt: _S, only: ProcedureFilter, page: Page) -> _S:
    """``stmt`` (already filtered) narrowed to the page, in listing order."""
    if not page.everything:
        newest = only.apply(select(Procedure.id)).order_by(
            Procedure.study_date.desc(), Procedure.id.desc()
        )
        newest = newest.limit(page.limit).offset(page.offset or None)
        stmt = stmt.where(Procedure.id.in_(newest.scalar_subquery()))
    return stmt.order_by(Procedure.study_date, Procedure.id).execution_options(yield_per=BATCH)


def listed_fields(
    *,
    session: Session,
    names: tuple[str, ...],
    only: ProcedureFilter,
    page: Page = Page(),
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any] | None]]:
    """``(id, fields, decisions)`` of each record of the page, in listing order; ``fields``:
    the record's ``names`` as extracted (a field the stored record lacks is None);
    ``decisions``: the state of the decisions in force (None: none)."""
    decision = current_decisions()
    stmt = select(Procedure.id, record_fields(session, names), decision.c.state)
    stmt = _paged(only.apply(stmt, decision), only, page)
    for pid, values, state in session.execute(stmt):
        yield pid, dict(zip(names, values or (None,) * len(names), strict=True)), state


def listed_records(
    *, session: Session, only: ProcedureFilter, page: Page = Page()
) -> Iterator[tuple[int, int, str, str, bool]]:
    """``(id, record_version, stored status, record as JSON text, decided)`` of each record
    of the page, in listing order: the stored document as :func:`document_text` writes it,
    never validated; ``decided``: decisions are in force on the record."""
    decision = current_decisions()
    text = cast(Procedure.record, Text)
    packed = [type_coerce(getattr(Procedure, c), LargeBinary) for c in PACKED_FIELDS.values()]
    decided = decision.c.procedure_id.is_not(None)
    stmt = select(Procedure.id, Procedure.record_version, Procedure.status, decided, text, *packed)
    in_order = session.get_bind().dialect.name == "sqlite"  # jsonb reorders the keys
    for pid, version, status, is_decided, record, *stored in session.execute(
        _paged(only.apply(stmt, decision), only, page)
    ):
        yield pid, version, status, document_text(record, stored, in_order), is_decided


@cache
def _layout(stored: tuple[str, ...], packed: tuple[str, ...]) -> tuple[str | tuple[int, ...], ...]:
    """How a record whose ``record`` column holds the fields ``stored`` (in that order) and
    whose ``packed`` fields are set is written: in the record's field order (then any field
    it no longer declares), the packed fields (by name) and, between them, runs of stored
    fields (their positions in ``stored``). A few layouts serve every record."""
    from vp_log.record import ProcedureRecord  # not at import: follow-up reads listings too

    fields = ProcedureRecord.model_fields
    position = {name: i for i, name in enumerate(stored)}
    layout: list[str | tuple[int, ...]] = []
    run: list[int] = []
    for name in [*fields, *(k for k in stored if k not in fields)]:
        if name in packed:
            if run:
                layout.append(tuple(run))
                run = []
            layout.append(name)
        elif name in position:
            run.append(position[name])
    if run:
        layout.append(tuple(run))
    return tuple(layout)


def document_text(record: str, packed: Sequence[bytes | None], in_order: bool = False) -> str:
    """The JSON text of a stored record (``procedures.record`` and its packed fields, in
    :data:`PACKED_FIELDS` order) in one object, as ``json.dumps`` writes the record: fields
    in the record's order, then any it no longer declares. The packed fields go in as their
    stored text; ``record`` (~4 KB of a record's ~28 KB) is parsed and written again, unless
    ``in_order`` says it is stored as ``json.dumps`` wrote it (SQLite) and :func:`_spliced`
    finds where they go.
    """
    texts = {
        field: unpack_json(bytes(value)).decode()
        for field, value in zip(PACKED_FIELDS, packed, strict=True)
        if value is not None
    }
    if in_order:
        spliced = _spliced(record, texts)
        if spliced is not None:
            return spliced
    data = json.loads(record)
    items = list(data.items())
    parts = [
        f"{json.dumps(part)}: {texts[part]}"
        if isinstance(part, str)
        else json.dumps(dict([items[i] for i in part]))[1:-1]
        for part in _layout(tuple(data), tuple(texts))
    ]
    return "{" + ", ".join(parts) + "}"


@cache
def _successors() -> dict[str, str | None]:
    """Each packed field and the record field after it that ``procedures.record`` holds
    (None: none follows)."""
    from vp_log.record import ProcedureRecord

    names = [*ProcedureRecord.model_fields]
    following = {}
    for field in PACKED_FIELDS:
        later = [n for n in names[names.index(field) + 1 :] if n not in PACKED_FIELDS]
        following[field] = later[0] if later else None
    return following


def _spliced(record: str, texts: dict[str, str]) -> str | None:
    """``record`` as ``json.dumps`` wrote it with each packed field's text put in before the
    field that follows it in the record; None (parse it) when that field is not found at
    the top level of the object. A ``, "name": `` in the text is a key (a quote inside a
    string is escaped); it is a top-level one when what follows it, opened by ``{``, is
    one JSON object (a nested one leaves brackets to close), checked on the shorter side.
    """
    if len(record) < 3:
        return None
    cuts: list[tuple[int, str]] = []
    for field, text in texts.items():
        after = _successors()[field]
        at = len(record) - 1 if after is None else record.rfind(f', "{after}": ')
        if at < 0 or (after is not None and not _object("{" + record[at + 2 :])):
            return None
        cuts.append((at, f", {json.dumps(field)}: {text}"))
    cuts.sort()
    parts, last = [], 0
    for at, part in cuts:
        parts += [record[last:at], part]
        last = at
    parts.append(record[last:])
    return "".join(parts)


def _object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def parse_time(value: Any) -> dt.datetime | None:
    """A stored ISO time (``last_received_at``) as an aware datetime; None if not one."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def record_text(session: Session, name: str) -> Any:
    """One text field of ``procedures.record`` (``patient_name``), in the database."""
    if session.get_bind().dialect.name == "postgresql":
        return Procedure.record.op("->>")(literal(name))
    return func.json_extract(Procedure.record, literal(f"$.{name}"))


#: What dose alerts need of a record (``vp_log.alerts.entry_of_record``): columns of its row.
DOSE_FIELDS = ("patient_id", "study_date", *DOSE_COLUMNS)


#: Slack on the bound below: a sum taken in another order may round a hair lower.
_ROUNDING = 1e-9


def dose_fields_by_patient(
    *, session: Session, levels: Mapping[str, float], since: str | None = None
) -> Iterator[tuple[str | None, list[tuple[int, dict[str, Any]]]]]:
    """The records dated ``since`` or later (all types, none a decision excludes) of every
    patient who may reach one of ``levels`` (dose column -> level), a patient at a time:
    ``(patient ID column, [(id, DOSE_FIELDS)])``, streamed. A record without a patient ID
    comes alone.

    A patient is left out when no level can be reached: neither one value nor any sum of
    them, that is when the positive values of each column add up to less than its level
    (the records a window sums are some of these). Read from the columns (migration 0010),
    out of ``ix_procedures_dose`` alone: no record is read, and what is read in Python is the
    patients near a level, not the store."""
    if not levels:
        return
    decision = current_decisions()

    def kept(stmt: _S) -> _S:
        stmt = stmt.outerjoin(decision, decision.c.procedure_id == Procedure.id).where(
            decision.c.excluded.is_(None)  # a phantom or test is no patient's dose
        )
        return stmt.where(Procedure.study_date >= since) if since else stmt

    def positive(name: str) -> Any:
        column = getattr(Procedure, name)
        return case((column > 0, column), else_=0)

    reach = [
        (name, level * (1 - _ROUNDING) if level > 0 else level) for name, level in levels.items()
    ]
    near = kept(select(Procedure.patient_id).where(Procedure.patient_id.is_not(None)))
    near = near.group_by(Procedure.patient_id).having(
        or_(*(func.sum(positive(name)) >= level for name, level in reach))
    )
    alone = and_(
        Procedure.patient_id.is_(None),
        or_(*(getattr(Procedure, name) >= level for name, level in reach)),
    )
    stmt = kept(select(Procedure.id, *(getattr(Procedure, name) for name in DOSE_FIELDS)))
    stmt = stmt.where(or_(Procedure.patient_id.in_(near.scalar_subquery()), alone))
    stmt = stmt.order_by(Procedure.patient_id, Procedure.id).execution_options(yield_per=BATCH)
    group: list[tuple[int, dict[str, Any]]] = []
    current: str | None = None
    for pid, *values in session.execute(stmt):
        fields = dict(zip(DOSE_FIELDS, values, strict=True))
        patient = fields["patient_id"]
        if group and (patient is None or patient != current):
            yield current, group
            group = []
        current = patient
        group.append((pid, fields))
    if group:
        yield current, group
