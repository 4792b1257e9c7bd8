"""baseline clinical data per procedure (append-only versions)

Revision ID: 0006_procedure_clinical
Revises: 0005_closed_timepoints
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_procedure_clinical"
down_revision = "0005_closed_timepoints"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "procedure_clinical",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("values", _json(), nullable=False),
        sa.Column("entered_by", sa.String(length=128), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["procedure_id"],
            ["procedures.id"],
            name=op.f("fk_procedure_clinical_procedure_id_procedures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_clinical")),
        sa.UniqueConstraint(
            "procedure_id", "version", name=op.f("uq_procedure_clinical_procedure_id")
        ),
    )
    op.create_index(
        op.f("ix_procedure_clinical_procedure_id"), "procedure_clinical", ["procedure_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_procedure_clinical_procedure_id"), table_name="procedure_clinical")
    op.drop_table("procedure_clinical")
