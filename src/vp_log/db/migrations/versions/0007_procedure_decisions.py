"""manual record decisions (append-only versions beside the extracted record)

Revision ID: 0007_procedure_decisions
Revises: 0006_procedure_clinical
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_procedure_decisions"
down_revision = "0006_procedure_clinical"
branch_labels = None
depends_on = None

TABLE = "procedure_decisions"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("procedure_type", sa.String(length=32), nullable=True),
        sa.Column("excluded", sa.String(length=16), nullable=True),
        sa.Column("state", _json(), nullable=False),
        sa.Column("changes", _json(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["procedure_id"],
            ["procedures.id"],
            name=op.f("fk_procedure_decisions_procedure_id_procedures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_decisions")),
        sa.UniqueConstraint(
            "procedure_id", "version", name=op.f("uq_procedure_decisions_procedure_id")
        ),
    )
    op.create_index(op.f("ix_procedure_decisions_procedure_id"), TABLE, ["procedure_id"])
    # Append-only like the follow-up tables (0002): a decision is changed by a new version.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END"
            )
    elif dialect == "postgresql":
        # vp_log_append_only() comes from 0002_followup.
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION vp_log_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{verb}")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    op.drop_index(op.f("ix_procedure_decisions_procedure_id"), table_name=TABLE)
    op.drop_table(TABLE)
