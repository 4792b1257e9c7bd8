"""EQ-5D-5L on follow-up entries: the five dimension levels (1-5) and the VAS (0-100)

The profile is stored, not a country value set (an index is computed by whoever analyses the
data, with the value set of their choice). Nullable: an entry without it did not assess it.

Revision ID: 0004_eq5d5l
Revises: 0003_observation_fields
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_eq5d5l"
down_revision = "0003_observation_fields"
branch_labels = None
depends_on = None

COLUMNS = (
    "eq5d_mobility",
    "eq5d_self_care",
    "eq5d_usual_activities",
    "eq5d_pain_discomfort",
    "eq5d_anxiety_depression",
    "eq5d_vas",
)


def upgrade() -> None:
    # ADD COLUMN in place (no batch copy): the append-only triggers stay as they are.
    for name in COLUMNS:
        op.add_column("followup_versions", sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("followup_versions", name)
