"""Alembic environment: runs against the URL vp_log hands over (never a hard-coded one)."""

from __future__ import annotations

from alembic import context

import vp_log.db.followup_tables  # noqa: F401  (registers the follow-up tables)
from vp_log.db import tables  # noqa: F401  (registers the ingest tables)
from vp_log.db.base import Base
from vp_log.db.engine import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        msg = "No database URL given to the migrations (sqlalchemy.url)"
        raise RuntimeError(msg)
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
