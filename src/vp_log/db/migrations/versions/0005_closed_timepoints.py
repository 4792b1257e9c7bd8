"""closed time points: a follow-up entry may close its time point (lost, declined, ...)

Revision ID: 0005_closed_timepoints
Revises: 0004_eq5d5l
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_closed_timepoints"
down_revision = "0004_eq5d5l"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN in place (no batch copy): the append-only triggers stay as they are.
    op.add_column("followup_versions", sa.Column("closed_reason", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("followup_versions", "closed_reason")
