"""listing indexes: procedures by study date with type and status (issue 15)

``procedures list``, its count and the follow-up worklist filter on the type and status and
sort by study date: with the three in one index the database reads the index, not each
record's page (a record is ~28 KB: one table page and an overflow chain each), and fetches
only the rows it lists; it replaces the index on the study date alone (its first column). The
worklist looks for a procedure's entries at a time point.

Revision ID: 0009_listing_indexes
Revises: 0008_receiving_index
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0009_listing_indexes"
down_revision = "0008_receiving_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_procedures_listing", "procedures", ["study_date", "procedure_type", "status"]
    )
    op.drop_index("ix_procedures_study_date", table_name="procedures")
    op.create_index(
        "ix_followup_versions_procedure_timepoint",
        "followup_versions",
        ["procedure_id", "timepoint"],
    )


def downgrade() -> None:
    op.drop_index("ix_followup_versions_procedure_timepoint", table_name="followup_versions")
    op.create_index("ix_procedures_study_date", "procedures", ["study_date"])
    op.drop_index("ix_procedures_listing", table_name="procedures")
