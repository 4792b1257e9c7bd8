"""dose columns beside the record, in an index: dose alerts without reading the records

``vp-log dose alerts`` (and ``vp-log status``) need six fields of every record: the patient,
the date, the start and three dose values. Read out of the stored JSON, each record's whole
text (~28 KB) was parsed for them (0.6 s at 10 000 studies, linear in the store, issue 15).
The start and the three values become columns of ``procedures``, written where a record is
saved (``vp_log.db.repository.dose_columns``) and filled here for the stored records, the
same way: a value that is no JSON number, or a start that is no JSON string, is NULL. Added
to an existing table, the columns lie after the record in each row, behind its overflow
pages: the index holds them with what the alerts group by (patient, then record id) and
filter on (the date), so that they read the index alone.

Revision ID: 0010_dose_columns
Revises: 0009_listing_indexes
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010_dose_columns"
down_revision = "0009_listing_indexes"
branch_labels = None
depends_on = None

INDEX = "ix_procedures_dose"
NUMBERS = ("ka_r_mgy", "dap_gy_cm2", "fluoro_time_s")


def _filled(dialect: str) -> dict[str, Any]:
    """Each column's value from the row's record, in SQL."""
    record: sa.ColumnClause[Any] = sa.column("record")
    if dialect == "postgresql":

        def typed(name: str, json_type: str, value: Any) -> Any:
            return sa.case((sa.func.jsonb_typeof(record.op("->")(name)) == json_type, value))

        values = {n: typed(n, "number", sa.cast(record.op("->>")(n), sa.Float)) for n in NUMBERS}
        return {"start": typed("start", "string", record.op("->>")("start")), **values}

    # SQLite: json_type tells a number from a boolean, which json_extract gives as 1 or 0
    def extracted(name: str, *json_types: str) -> Any:
        path = f"$.{name}"
        found = sa.func.json_type(record, path).in_(json_types)
        return sa.case((found, sa.func.json_extract(record, path)))

    numbers = {name: extracted(name, "integer", "real") for name in NUMBERS}
    return {"start": extracted("start", "text"), **numbers}


def upgrade() -> None:
    with op.batch_alter_table("procedures") as batch:
        batch.add_column(sa.Column("start", sa.Text(), nullable=True))
        for name in NUMBERS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    procedures = sa.table("procedures", *(sa.column(name) for name in ("start", *NUMBERS)))
    op.execute(procedures.update().values(_filled(op.get_bind().dialect.name)))
    columns = ["patient_id", "id", "study_date", "start", *NUMBERS]
    op.create_index(INDEX, "procedures", columns)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="procedures")
    with op.batch_alter_table("procedures") as batch:
        for name in ("fluoro_time_s", "dap_gy_cm2", "ka_r_mgy", "start"):
            batch.drop_column(name)
