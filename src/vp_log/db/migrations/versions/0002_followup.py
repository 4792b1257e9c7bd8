"""follow-up entries (append-only, versioned) and the audit log

Revision ID: 0002_followup
Revises: 0001_ingest
Create Date: 2026-11-21
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_followup"
down_revision = "0001_ingest"
branch_labels = None
depends_on = None

APPEND_ONLY = ("followup_entries", "followup_versions", "audit_log")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "followup_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_entries")),
    )
    op.create_table(
        "followup_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("entered_by", sa.String(length=128), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("timepoint", sa.String(length=32), nullable=True),
        sa.Column("timepoint_inferred", sa.Boolean(), nullable=False),
        sa.Column("out_of_window", sa.Boolean(), nullable=False),
        sa.Column("days_after", sa.Integer(), nullable=False),
        sa.Column("pain", sa.Float(), nullable=True),
        sa.Column("pain_rest", sa.Float(), nullable=True),
        sa.Column("pain_activity", sa.Float(), nullable=True),
        sa.Column("odi_percent", sa.Float(), nullable=True),
        sa.Column("odi_sections", _json(), nullable=True),
        sa.Column("rmdq", sa.Integer(), nullable=True),
        sa.Column("analgesic", sa.String(length=32), nullable=True),
        sa.Column("new_fractures", _json(), nullable=False),
        sa.Column("complications", _json(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["followup_entries.id"],
            name=op.f("fk_followup_versions_entry_id_followup_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["procedure_id"],
            ["procedures.id"],
            name=op.f("fk_followup_versions_procedure_id_procedures"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["followup_versions.id"],
            name=op.f("fk_followup_versions_supersedes_id_followup_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_versions")),
        sa.UniqueConstraint("entry_id", "version", name=op.f("uq_followup_versions_entry_id")),
    )
    with op.batch_alter_table("followup_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_followup_versions_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_followup_versions_procedure_id"), ["procedure_id"], unique=False
        )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("who", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    # Append-only, enforced by the database itself: UPDATE and DELETE are refused.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION vp_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vp_log_append_only()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    elif dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS vp_log_append_only()")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
    op.drop_table("audit_log")
    with op.batch_alter_table("followup_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followup_versions_procedure_id"))
        batch_op.drop_index(batch_op.f("ix_followup_versions_entry_id"))
    op.drop_table("followup_versions")
    op.drop_table("followup_entries")
