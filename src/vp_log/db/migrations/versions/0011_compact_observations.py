"""compact observations: no Study Instance UID per row, values packed (issue 15)

An instance has ~40 observations, and each carried its study's UID (64 characters) with an
index on it: a quarter of the database. The study is the instance's (``instance_id``), so
the column and its index go; ``repository.study_observations`` joins the instances.

``observations.value`` becomes packed JSON (``vp_log.db.base.PackedJSON``: the JSON text as
bytes, zlib-compressed when long): a dose report's irradiation event with its technique is
~1.7 KB of text. Each stored value is converted to exactly what the previous schema read
back: on PostgreSQL the ``jsonb`` text, on SQLite the text or integer as stored, and the
values SQLite had turned into REAL (8-byte floats) through the JSON type, as Python reads
them; then the long ones are compressed, a batch of rows at a time.

Revision ID: 0011_compact_observations
Revises: 0010_dose_columns
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vp_log.db.base import PACK_OVER, pack_json, unpack_json

revision = "0011_compact_observations"
down_revision = "0010_dose_columns"
branch_labels = None
depends_on = None

_BATCH = 2000


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _rewrite(
    bind: sa.Connection,
    table: sa.TableClause,
    read: str,
    write: str,
    where: sa.ColumnElement[bool],
    convert: Any,
) -> None:
    """``write = convert(read)`` for every row ``where`` holds, a batch of ids at a time."""
    last = 0
    while True:  # bounded: ids only grow, each pass starts after the last one seen
        rows = bind.execute(
            sa.select(table.c.id, table.c[read])
            .where(table.c.id > last, where)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        bind.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [{"row_id": row_id, write: convert(value)} for row_id, value in rows],
        )


def _pack(value: Any) -> bytes:
    return pack_json(bytes(value))


def upgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_observations_study_instance_uid", table_name="observations")
    if bind.dialect.name == "postgresql":
        # A table rewrite: longer, on a large store, than any other statement may take.
        op.execute("SET LOCAL statement_timeout = 0")
        op.drop_column("observations", "study_instance_uid")
        op.alter_column(
            "observations",
            "value",
            type_=sa.LargeBinary(),
            existing_type=postgresql.JSONB(),
            existing_nullable=True,
            postgresql_using="convert_to(value::text, 'UTF8')",
        )
        packed = sa.table(
            "observations", sa.column("id", sa.Integer()), sa.column("value", sa.LargeBinary())
        )
        long_value = sa.func.octet_length(packed.c.value) > PACK_OVER
        _rewrite(bind, packed, "value", "value", long_value, _pack)
        return
    # SQLite (3.35 or later: DROP COLUMN, which rewrites every row): a column of its own is
    # filled, then takes the old one's place.
    op.drop_column("observations", "study_instance_uid")
    op.add_column("observations", sa.Column("packed", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE observations SET packed = CAST(value AS BLOB) "
        "WHERE typeof(value) IN ('text', 'integer')"
    )
    both = sa.table(
        "observations",
        sa.column("id", sa.Integer()),
        sa.column("value", _json()),
        sa.column("packed", sa.LargeBinary()),
    )
    # CAST would print a REAL with 15 digits: the JSON type reads the whole double.
    real = sa.func.typeof(both.c.value) == "real"
    _rewrite(bind, both, "value", "packed", real, lambda value: json.dumps(value).encode())
    long_value = sa.func.length(both.c.packed) > PACK_OVER
    _rewrite(bind, both, "packed", "packed", long_value, _pack)
    op.drop_column("observations", "value")
    op.alter_column("observations", "packed", new_column_name="value")


def downgrade() -> None:
    bind = op.get_bind()
    instances = sa.table(
        "instances", sa.column("id", sa.Integer()), sa.column("study_instance_uid", sa.String())
    )
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("study_instance_uid", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("unpacked", _json(), nullable=True))
    table = sa.table(
        "observations",
        sa.column("id", sa.Integer()),
        sa.column("instance_id", sa.Integer()),
        sa.column("study_instance_uid", sa.String()),
        sa.column("value", sa.LargeBinary()),
        sa.column("unpacked", _json()),
    )
    bind.execute(
        table.update().values(
            study_instance_uid=sa.select(instances.c.study_instance_uid)
            .where(instances.c.id == table.c.instance_id)
            .scalar_subquery()
        )
    )
    _rewrite(
        bind,
        table,
        "value",
        "unpacked",
        table.c.value.is_not(None),
        lambda value: json.loads(unpack_json(bytes(value))),
    )
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("value")
        batch.alter_column("unpacked", new_column_name="value")
        batch.alter_column("study_instance_uid", existing_type=sa.String(128), nullable=False)
        batch.create_index(
            "ix_observations_study_instance_uid", ["study_instance_uid"], unique=False
        )
