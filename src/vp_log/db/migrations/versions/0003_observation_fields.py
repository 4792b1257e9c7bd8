"""observation side, plane and event UID as columns; record version

The side of a volume, the acquisition plane of a dose value and the Irradiation Event UID of
an image-header dose used to ride in ``flags`` (``side:left``, ``plane:A``,
``irradiation-event:<uid>``). They become columns, and the flags that carried them are moved
out of ``flags`` here, row by row, so that stored observations re-assemble as new ones do.
``procedures.record_version`` (0 for every record made before) makes each older record stale:
the worker, ``vp-log import``, ``vp-log reextract`` and ``vp-log db upgrade`` rebuild it from
the stored observations (no archive file is read).

Revision ID: 0003_observation_fields
Revises: 0002_followup
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_observation_fields"
down_revision = "0002_followup"
branch_labels = None
depends_on = None

# The flag prefixes of the old release and the column each one moves to.
_MOVED = (("side:", "side"), ("plane:", "plane"), ("irradiation-event:", "event_uid"))
_BATCH = 2000


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _split(flags: list[str]) -> tuple[list[str], dict[str, str]]:
    kept: list[str] = []
    moved: dict[str, str] = {}
    for flag in flags:
        for prefix, column in _MOVED:
            if flag.startswith(prefix) and column not in moved:
                moved[column] = flag.removeprefix(prefix)
                break
        else:
            kept.append(flag)
    return kept, moved


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("side", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("plane", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("event_uid", sa.Text(), nullable=True))
    with op.batch_alter_table("procedures") as batch:
        batch.add_column(
            sa.Column("record_version", sa.Integer(), nullable=False, server_default="0")
        )

    observations = sa.table(
        "observations",
        sa.column("id", sa.Integer()),
        sa.column("flags", _json()),
        sa.column("side", sa.String()),
        sa.column("plane", sa.String()),
        sa.column("event_uid", sa.String()),
    )
    bind = op.get_bind()
    last = 0
    while True:  # bounded: ids only grow, each pass starts after the last one seen
        rows = bind.execute(
            sa.select(observations.c.id, observations.c.flags)
            .where(observations.c.id > last)
            .order_by(observations.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        for row in rows:
            kept, moved = _split(list(row.flags or []))
            if moved:
                bind.execute(
                    observations.update()
                    .where(observations.c.id == row.id)
                    .values(flags=kept, **moved)
                )


def downgrade() -> None:
    with op.batch_alter_table("procedures") as batch:
        batch.drop_column("record_version")
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("event_uid")
        batch.drop_column("plane")
        batch.drop_column("side")
