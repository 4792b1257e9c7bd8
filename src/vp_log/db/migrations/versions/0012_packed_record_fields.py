"""a record's events and sources stored packed beside it (issue 15)

A study's record was ~28 KB of JSON, ~19 KB of it the irradiation events (each with its
technique, mostly null items) and ~4.5 KB the sources of every header value (a path and a
64-character SOP Instance UID each): no query reads either in SQL. They move out of
``procedures.record`` into ``record_events`` and ``record_sources``, packed JSON
(``vp_log.db.base.PackedJSON``, zlib: ~2 KB for both), each value exactly as it was read
back; ``tables.record_document`` puts the document together again. A record without
one of them (an older shape) keeps it absent. The rest of the record stays JSON, where the
listings and reports read their fields.

Revision ID: 0012_packed_record_fields
Revises: 0011_compact_observations
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vp_log.db.base import pack_json, unpack_json

revision = "0012_packed_record_fields"
down_revision = "0011_compact_observations"
branch_labels = None
depends_on = None

# The record fields this revision moves, and their columns (as they were then).
_MOVED = {"events": "record_events", "sources": "record_sources"}
_BATCH = 200  # records (~28 KB each) per round trip


def _procedures() -> sa.TableClause:
    return sa.table(
        "procedures",
        sa.column("id", sa.Integer()),
        sa.column("record", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
        *(sa.column(column, sa.LargeBinary()) for column in _MOVED.values()),
    )


def _each_batch(bind: sa.Connection, table: sa.TableClause) -> Any:
    """The procedure rows (id, record, packed columns), a batch of ids at a time."""
    last = 0
    while True:  # bounded: ids only grow, each pass starts after the last one seen
        rows = bind.execute(
            sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def _rewrite(change: Callable[[Any], dict[str, Any] | None]) -> None:
    """Each procedure row's new values from ``change(row)`` (``None``: left as it is)."""
    bind = op.get_bind()
    table = _procedures()
    update = table.update().where(table.c.id == sa.bindparam("row_id"))
    for rows in _each_batch(bind, table):
        changes = [{"row_id": row.id, **new} for row in rows if (new := change(row)) is not None]
        if changes:
            bind.execute(update, changes)


def _packed(row: Any) -> dict[str, Any] | None:
    record = dict(row.record or {})
    values = {field: record.pop(field, None) for field in _MOVED}
    if all(value is None for value in values.values()):
        return None
    moved = {
        column: None if values[field] is None else pack_json(json.dumps(values[field]).encode())
        for field, column in _MOVED.items()
    }
    return {"record": record, **moved}


def upgrade() -> None:
    for column in _MOVED.values():
        op.add_column("procedures", sa.Column(column, sa.LargeBinary(), nullable=True))
    _rewrite(_packed)


def downgrade() -> None:
    from vp_log.record import ProcedureRecord  # the field order the record was stored in

    order = {name: i for i, name in enumerate(ProcedureRecord.model_fields)}

    def unpacked(row: Any) -> dict[str, Any]:
        record = dict(row.record or {})
        for field, column in _MOVED.items():
            stored = getattr(row, column)
            if stored is not None:
                record[field] = json.loads(unpack_json(bytes(stored)))
        return {"record": dict(sorted(record.items(), key=lambda i: order.get(i[0], len(order))))}

    _rewrite(unpacked)
    for column in _MOVED.values():
        op.drop_column("procedures", column)
